//! What a team admin may store as the team's ConnectWise connection, checked before anything
//! is sent to ConnectWise: the parts of `Authorization: Basic base64(company+public:private)`
//! and the `clientId` header must be single printable tokens that cannot break the header.

use crate::domain::psa::PsaKeys;

/// The longest company id, key or client id accepted (ConnectWise's are far shorter).
pub const MAX_CREDENTIAL_CHARS: usize = 200;

/// Who may store, change or forget the team's connection.
pub const ONLY_ADMINS_CONNECT: &str =
    "only team admins connect the team to ConnectWise; ask yours to run `rf psa connect`";

/// A part of the credentials: printable ASCII without spaces, at most
/// [`MAX_CREDENTIAL_CHARS`], and (for the parts before the password) no `:` or `+`, which
/// would move where ConnectWise splits the company, the public key and the private key.
pub fn checked_part(name: &str, value: &str, separators_allowed: bool) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("give the {name}"));
    }
    if value.chars().count() > MAX_CREDENTIAL_CHARS {
        return Err(format!(
            "the {name} is longer than {MAX_CREDENTIAL_CHARS} characters; copy it again from ConnectWise"
        ));
    }
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(format!(
            "the {name} holds spaces or characters ConnectWise never uses; copy it again from ConnectWise"
        ));
    }
    if !separators_allowed && value.contains([':', '+']) {
        return Err(format!("the {name} cannot contain `:` or `+`"));
    }
    Ok(value.to_owned())
}

/// The company id and keys of a connection, checked.
pub fn checked_credentials(
    company_id: &str,
    public_key: &str,
    private_key: &str,
) -> Result<(String, PsaKeys), String> {
    let company_id = checked_part("company id", company_id, false)?;
    let public_key = checked_part("public key", public_key, false)?;
    let private_key = checked_part("private key", private_key, true)?;
    Ok((
        company_id,
        PsaKeys {
            public_key,
            private_key,
        },
    ))
}

/// The last four characters of a public key, to tell keys apart without showing them.
pub fn key_hint(public_key: &str) -> String {
    let chars: Vec<char> = public_key.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_that_would_break_the_basic_header_are_refused() {
        assert!(checked_credentials("acme", "Pub123", "Pri:va+te").is_ok());
        for (company, public, private) in [
            ("", "p", "q"),
            ("ac me", "p", "q"),
            ("acme+x", "p", "q"),
            ("acme", "p:x", "q"),
            ("acme", "p", "q\r\nX-Injected: 1"),
            ("acme", "p", "é"),
        ] {
            assert!(
                checked_credentials(company, public, private).is_err(),
                "{company:?} {public:?} {private:?}"
            );
        }
        let long = "x".repeat(MAX_CREDENTIAL_CHARS + 1);
        assert!(checked_credentials("acme", &long, "q").is_err());
    }

    #[test]
    fn a_key_hint_shows_the_last_four_characters_only() {
        assert_eq!(key_hint("abcdefgh1234"), "…1234");
        assert_eq!(key_hint("ab"), "…ab");
    }
}
