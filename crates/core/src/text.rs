//! Facts about characters that more than one part of the product needs.

/// Whether `c` draws nothing or changes how the text around it is shown: control characters
/// other than tab and line feed, Unicode format characters (general category Cf: zero-width
/// spaces and joiners, bidirectional controls, the BOM, tags), line and paragraph separators,
/// and the Hangul fillers. Exports show such a character as its code point (`<U+202E>`);
/// account e-mails refuse it. One list for both, so they agree on what is hidden.
pub fn is_hidden(c: char) -> bool {
    if c == '\t' || c == '\n' {
        return false;
    }
    // `is_control` is general category Cc: U+0000–U+001F, U+007F and U+0080–U+009F; below
    // U+00AD nothing else is hidden.
    if c.is_control() {
        return true;
    }
    u32::from(c) >= 0xAD
        && matches!(
            u32::from(c),
            // General category Cf (Unicode 16), with U+2028 and U+2029 (Zl, Zp) inside the
            // U+2028–U+202E range.
            0x00AD
                | 0x0600..=0x0605
                | 0x061C
                | 0x06DD
                | 0x070F
                | 0x0890..=0x0891
                | 0x08E2
                | 0x180E
                | 0x200B..=0x200F
                | 0x2028..=0x202E
                | 0x2060..=0x2064
                | 0x2066..=0x206F
                | 0xFEFF
                | 0xFFF9..=0xFFFB
                | 0x110BD
                | 0x110CD
                | 0x13430..=0x1343F
                | 0x1BCA0..=0x1BCA3
                | 0x1D173..=0x1D17A
                | 0xE0001
                | 0xE0020..=0xE007F
                // Hangul fillers: letters that draw nothing.
                | 0x115F
                | 0x1160
                | 0x3164
                | 0xFFA0
        )
}
