//! Redaction of secrets and identifying details in session text before it is exported.
//!
//! Exporters run every free-text field through a [`Redactor`] before the generator sees it, so the
//! Markdown, plain-text and HTML notes and the UI preview mask exactly the same things. A leak
//! costs a client a password while a false positive costs the reader one word, so where a secret
//! is recognisable by its shape or position the rules mask; but a note full of masked words is
//! useless, so a word of an ordinary sentence must not be taken for a secret. Both are measured
//! against a corpus of pasted secrets and ordinary sentences (`tests/it/redaction_corpus.rs`; the
//! figures and every decision below are in docs/REDACTION.md).
//!
//! Rules run in a fixed order (private keys, connection strings and URL credentials, command-line
//! passwords, SNMP communities, network device configs, BitLocker recovery passwords, product
//! keys, AWS keys, user/password pairs, keyword secrets, an account followed by its password, API
//! keys and tokens, e-mail addresses, UNC paths, IP addresses), each on the text the earlier rules
//! left. A masked span becomes a marker such as `[REDACTED:password]`. Rules see a marker as one
//! opaque token: it still fills the slot it stands in (the value after `Password:`), but no rule
//! reads its letters and no span inside it is masked again. That is why a connection string's
//! password is counted once, as a connection string, and never again as a keyword password. The
//! whole rule list repeats until a round masks nothing, so redacting already-redacted text is
//! guaranteed to change nothing and count nothing.
//!
//! Decisions for ambiguous text:
//! - Keywords are English and the words engineers use in German, French, Spanish, Portuguese,
//!   Italian, Dutch, the Nordic languages, Polish, Czech, Russian and Turkish (`Passwort`,
//!   `Kennwort`, `mot de passe`, `mdp`, `contraseña`, `clave`, `senha`, `wachtwoord`,
//!   `lösenord`, `hasło`, `пароль`, ...), plus PINs and passcodes, SNMP communities, Wi-Fi keys
//!   (`WPA2 key`, `Key Content`, `keyMaterial`, `WLAN-Schlüssel`) and TOTP seeds.
//! - After `:`, `=`, `:=`, `=>` or inside an XML element (`<Password>x</Password>`) the value is
//!   masked unless it is a word that says there is none: `true`, `false`, `none`, `n/a`,
//!   asterisks, a `<placeholder>`, a count of one to three digits, or a word such as `see`,
//!   `stored`, `unchanged`, `not`, `present`, `clear` (`Password: see IT Glue`, `key=clear`).
//! - After a linking verb in any of those languages (`is`, `was reset to`, `lautet`, `ist
//!   jetzt`, `wurde auf`, `est`, `a été réinitialisé à`, `es`, `é`, `is nu`, `är`, `on`, `je`),
//!   after a bare space, or after words ending in a colon (`password LAPS gave me: X`), the value
//!   is masked only when it looks like a secret: four characters or more with a digit or a symbol,
//!   and not a date, time, version, hex error code, count with a unit, URL, SID or protocol name
//!   (`SNMPv3`, `WPA2`). So `the token is valid now`, `set password to never expire` and `The
//!   password is expired` stay, while `the password is Hunter2go`, `passcode 482913` and `pw
//!   Spring#2025` are masked. A password of letters only after a verb (`the password is
//!   bluebanana`) is the price: it stays. After a command-line switch (`-Password x`) or before
//!   a quoted literal (`passphrase "a b c"`) any value is masked, as before.
//! - A value that cannot be a secret stays visible: `PasswordNeverExpires : False`, `-Password
//!   $secure`, `-Password (Read-Host)`.
//! - `pass`, `pw`, `psk`, `pin`, `puk`, `seed`, `key`, `mdp`, `clave`, `community`,
//!   `credential` and the Wi-Fi key labels must start a word (or a camelCase or snake_case part),
//!   so `Bypass: none`, `spin` and `monkey=` stay; the longer keywords may be glued to a prefix
//!   (`dbpassword=`, `clientSecret:`, `Administratorkennwort:`). A bare `key` counts only before
//!   `=` (`netsh ... key=X`, `?key=AIza...`). A lone `p` counts only as the `/p:` switch, and `-p`
//!   only next to a `-u` user or after PsExec, plink, sshpass or a glued `mysql -pX`, because
//!   elsewhere it is a port (`ssh -p 2222`) or a flag (`mkdir -p`).
//! - Positional passwords are masked where the command is unambiguous: `net user NAME PASSWORD`,
//!   `net use ... PASSWORD`, `curl -u user:PASSWORD`, `ConvertTo-SecureString "PASSWORD"`,
//!   `ldapsearch -w`, `smbclient -U user%PASSWORD`, `chpasswd`, `redis-cli -a`, `schtasks /RP`,
//!   Winlogon's `DefaultPassword`, `snmpwalk -c`, `rocommunity`/`rwcommunity`/`com2sec`, Cisco
//!   `snmp-server community`, `enable secret`, `username ... secret`, `tacacs-server key`,
//!   `crypto isakmp key`, and FortiOS `set passwd|psksecret|passphrase` (those last with a
//!   secret-shaped or quoted value, since `set password to never expire` is English).
//! - A user and password pair is masked on its password side only: `creds: admin / X`, `login
//!   admin/X`, `Credentials: jdoe:X`, `CONTOSO\jdoe X`, `jdoe@contoso.com / X`. After an account
//!   without a keyword, the value must look like a secret (`CONTOSO\jdoe logged on` stays).
//! - BitLocker recovery passwords (eight groups of six digits, with hyphens or spaces) and
//!   product keys (five groups of five capitals and digits, with a digit; or six groups of four
//!   digits) are masked by shape, wherever they are; `XXXXX-XXXXX-...` placeholders stay.
//! - IPv4 CIDR suffixes and ports stay visible (`[REDACTED:ipv4]/24`, `[REDACTED:ipv4]:3389`):
//!   they help the reader and identify nothing. Subnet masks (`255.255.255.0`), `0.0.0.0` and
//!   dotted numbers right after a version word (`version 7.2.1.0`, `v1.2.3.4`) are not addresses.
//! - IPv6 zone indices are masked with their address; a `/64` prefix and a `]:443` port stay.
//!   Eight colon-separated two-digit hex groups (a MAC-48 in colon form, an EUI-64, a Fibre
//!   Channel WWN) are not treated as IPv6, nor are times such as `10:29:12`.
//! - Long hex strings are masked even when they are file hashes: a hash and an API key look the
//!   same. GUIDs stay, because tickets need correlation and tenant ids to be useful.
//! - Forward-slash shares (`//server/share`) are masked only where a path starts, never after a
//!   URL scheme's colon; `smb://` and `file://host/` URLs are masked as UNC paths, `https://` never.
//! - Text glued to a masked span is looked at again once the mask gives it a word boundary
//!   (`10.0.0.1AKIA...` masks both), which is what the repeated rounds are for.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv6Addr;
use std::ops::Range;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};

/// What a masked span was. The snake_case name appears in the marker and in serialised counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedactionKind {
    /// A PEM private key block (RSA, EC, OpenSSH, PKCS#8, encrypted, PGP).
    PrivateKey,
    /// The password of an ADO/ODBC connection string or of a `scheme://user:pass@host` URL.
    ConnectionString,
    /// A password or secret after a keyword or in a known command-line position.
    Password,
    /// An API key, access key or token, found by keyword or by its shape.
    ApiKey,
    /// An e-mail address.
    Email,
    /// A UNC path (`\\server\share\...`) or its `smb://` and `file://` equivalents.
    UncPath,
    /// An IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// An SNMP community string (v1/v2c), on a command line, in a device or agent config, or
    /// after a keyword.
    SnmpCommunity,
    /// A software product key (`XXXXX-XXXXX-XXXXX-XXXXX-XXXXX` with digits) or serial number.
    ProductKey,
}

impl RedactionKind {
    /// The singular noun used in summaries, e.g. "password" or "IPv4 address".
    pub fn label(self) -> &'static str {
        match self {
            Self::PrivateKey => "private key",
            Self::ConnectionString => "connection string",
            Self::Password => "password",
            Self::ApiKey => "API key or token",
            Self::Email => "e-mail address",
            Self::UncPath => "UNC path",
            Self::Ipv4 => "IPv4 address",
            Self::Ipv6 => "IPv6 address",
            Self::SnmpCommunity => "SNMP community string",
            Self::ProductKey => "product key",
        }
    }

    /// The plural noun used in summaries, e.g. "passwords" or "IPv4 addresses".
    pub fn plural(self) -> &'static str {
        match self {
            Self::PrivateKey => "private keys",
            Self::ConnectionString => "connection strings",
            Self::Password => "passwords",
            Self::ApiKey => "API keys or tokens",
            Self::Email => "e-mail addresses",
            Self::UncPath => "UNC paths",
            Self::Ipv4 => "IPv4 addresses",
            Self::Ipv6 => "IPv6 addresses",
            Self::SnmpCommunity => "SNMP community strings",
            Self::ProductKey => "product keys",
        }
    }

    /// The text that replaces a masked span. `MARKER` must recognise every one of these, or a
    /// second redaction would look inside them.
    fn marker(self) -> &'static str {
        match self {
            Self::PrivateKey => "[REDACTED:private_key]",
            Self::ConnectionString => "[REDACTED:connection_string]",
            Self::Password => "[REDACTED:password]",
            Self::ApiKey => "[REDACTED:api_key]",
            Self::Email => "[REDACTED:email]",
            Self::UncPath => "[REDACTED:unc_path]",
            Self::Ipv4 => "[REDACTED:ipv4]",
            Self::Ipv6 => "[REDACTED:ipv6]",
            Self::SnmpCommunity => "[REDACTED:snmp_community]",
            Self::ProductKey => "[REDACTED:product_key]",
        }
    }
}

/// How many spans of each kind were masked. Serialised as a map such as `{"password": 2}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    from = "BTreeMap<RedactionKind, usize>",
    into = "BTreeMap<RedactionKind, usize>"
)]
pub struct RedactionCounts {
    // Only positive counts are stored, so two equal tallies compare equal however they were built.
    counts: BTreeMap<RedactionKind, usize>,
}

impl RedactionCounts {
    /// The number of masked spans of every kind together.
    pub fn total(&self) -> usize {
        self.counts
            .values()
            .fold(0, |total, count| total.saturating_add(*count))
    }

    /// The number of masked spans of one kind.
    pub fn get(&self, kind: RedactionKind) -> usize {
        self.counts.get(&kind).copied().unwrap_or(0)
    }

    /// True when nothing was masked.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Adds another tally to this one, as an exporter does field by field.
    pub fn merge(&mut self, other: &RedactionCounts) {
        for (kind, count) in other.iter() {
            self.add(kind, count);
        }
    }

    /// Each kind that was masked at least once with its count, in the enum's order.
    pub fn iter(&self) -> impl Iterator<Item = (RedactionKind, usize)> + '_ {
        self.counts.iter().map(|(kind, count)| (*kind, *count))
    }

    fn add(&mut self, kind: RedactionKind, count: usize) {
        if count > 0 {
            let slot = self.counts.entry(kind).or_insert(0);
            *slot = slot.saturating_add(count);
        }
    }
}

impl From<BTreeMap<RedactionKind, usize>> for RedactionCounts {
    fn from(map: BTreeMap<RedactionKind, usize>) -> Self {
        let mut counts = Self::default();
        for (kind, count) in map {
            counts.add(kind, count);
        }
        counts
    }
}

impl From<RedactionCounts> for BTreeMap<RedactionKind, usize> {
    fn from(counts: RedactionCounts) -> Self {
        counts.counts
    }
}

impl fmt::Display for RedactionCounts {
    /// "3 items masked: 1 password, 2 IPv4 addresses", or "nothing masked".
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total();
        if total == 0 {
            return formatter.write_str("nothing masked");
        }
        let noun = if total == 1 { "item" } else { "items" };
        write!(formatter, "{total} {noun} masked: ")?;
        for (index, (kind, count)) in self.iter().enumerate() {
            if index > 0 {
                formatter.write_str(", ")?;
            }
            let name = if count == 1 {
                kind.label()
            } else {
                kind.plural()
            };
            write!(formatter, "{count} {name}")?;
        }
        Ok(())
    }
}

/// Redacts one text; the counts say what was masked.
pub fn redact(text: &str) -> (String, RedactionCounts) {
    redact_in_rounds(text, true)
}

/// `redact`, with the clue checks switchable so a test can show they never change the result.
fn redact_in_rounds(text: &str, use_clues: bool) -> (String, RedactionCounts) {
    let mut counts = RedactionCounts::default();
    let mut current = text.to_owned();
    // A round that masks something may expose a match that an earlier rule could not see (a
    // marker now bounds a word), so rounds repeat until one masks nothing; that last quiet round
    // is exactly what a second call would do, which makes redaction idempotent. Every mask turns
    // at least one character of unmasked text into a marker, so the loop ends.
    loop {
        let mut masked_this_round = false;
        let clues = Clues::of(&current);
        for (rule, may_match) in RULES {
            if use_clues && !may_match(&clues) {
                continue;
            }
            if let Some(next) = apply_rule(&current, *rule, &mut counts) {
                current = next;
                masked_this_round = true;
            }
        }
        if !masked_this_round {
            return (current, counts);
        }
    }
}

/// Accumulating helper used by exporters over many fields.
///
/// A session repeats many texts (a re-check loop's step titles, "Done", "Yes"), so results are
/// remembered per distinct text for the life of the redactor; counts still add up per field.
#[derive(Debug, Default)]
pub struct Redactor {
    counts: RedactionCounts,
    seen: std::collections::HashMap<String, (String, RedactionCounts)>,
}

impl Redactor {
    /// A redactor that has masked nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Redacts one field and adds what was masked to the running tally.
    pub fn redact(&mut self, text: &str) -> String {
        if let Some((redacted, counts)) = self.seen.get(text) {
            self.counts.merge(counts);
            return redacted.clone();
        }
        let (redacted, counts) = redact(text);
        self.counts.merge(&counts);
        self.seen
            .insert(text.to_owned(), (redacted.clone(), counts));
        redacted
    }

    /// What has been masked so far over every field.
    pub fn counts(&self) -> &RedactionCounts {
        &self.counts
    }

    /// The final tally, for the export summary.
    pub fn into_counts(self) -> RedactionCounts {
        self.counts
    }
}

/// One span to replace with a marker, relative to the text the rule was given.
struct Mask {
    range: Range<usize>,
    kind: RedactionKind,
}

/// A rule reads a text and pushes the spans to mask, in order and without overlap. In that text
/// every marker has been blanked to a run of `OPAQUE` characters: a marker still fills the slot
/// it stands in (the value after `Password:`), so a rule matches the same shape it matched before
/// masking and does not fall back to a looser reading of the words around it, yet no rule can
/// read the marker's own letters as an address or a keyword.
type Rule = fn(&str, &mut Vec<Mask>);

/// Whether a rule can match at all, judged from what the text holds at the start of a round.
/// Most notes hold no secret, and a regex search has a fixed cost however short the text, so
/// each rule first asks for a word or character every one of its matches contains. Masking only
/// turns text into markers, which no rule reads, so a clue absent at the start of a round is
/// absent for the whole round: skipping is exact, never a missed secret.
type MayMatch = fn(&Clues) -> bool;

/// The text of one round in ASCII lower case, with the counts the clue checks need.
struct Clues {
    lower: String,
    digits: usize,
    hyphens: usize,
    longest_blob_run: usize,
    /// `ſ` and the Kelvin sign `K` match `s` and `k` in the case-insensitive patterns; a text with
    /// either runs every rule, so the clues stay exact.
    folds_to_ascii: bool,
    /// Keywords in other scripts (`пароль`) fold case beyond ASCII; such text runs every rule.
    has_non_ascii: bool,
}

impl Clues {
    fn of(text: &str) -> Self {
        let mut run = 0;
        let mut longest_blob_run = 0;
        for byte in text.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'_' | b'-') {
                run += 1;
                longest_blob_run = longest_blob_run.max(run);
            } else {
                run = 0;
            }
        }
        Self {
            lower: text.to_ascii_lowercase(),
            digits: text.bytes().filter(u8::is_ascii_digit).count(),
            hyphens: text.bytes().filter(|byte| *byte == b'-').count(),
            longest_blob_run,
            folds_to_ascii: text.contains(['\u{17F}', '\u{212A}']),
            has_non_ascii: !text.is_ascii(),
        }
    }

    /// True when the text may hold one of `secret_keyword!`'s keywords: each keyword contains
    /// one of these pieces (the lone `p` only as `/p:`, `sig` also inside `signature`).
    fn may_hold_a_keyword(&self) -> bool {
        self.has_non_ascii
            || self.any(&[
                "pass",
                "pw",
                "/p",
                "secret",
                "key",
                "token",
                "psk",
                "credential",
                "seed",
                "pin",
                "puk",
                "code",
                "sig",
                "communit",
                "communaut",
                "string",
                "kennwort",
                "wachtwoord",
                "mdp",
                "contrase",
                "cl",
                "senha",
                "parola",
                "senord",
                "adgangskode",
                "salasana",
                "has",
                "heslo",
                "ifre",
                "jelsz",
                "wlan",
            ])
    }

    /// True when the text contains any of `words` (given in lower case), ignoring ASCII case.
    fn any(&self, words: &[&str]) -> bool {
        self.folds_to_ascii || words.iter().any(|word| self.lower.contains(word))
    }
}

/// The rules in the order they must run, each with its clue: a span masked by an earlier rule is
/// invisible to the later ones, so the more specific reading of a secret wins and it is counted
/// once.
const RULES: &[(Rule, MayMatch)] = &[
    (private_keys, |clues| clues.any(&["private key"])),
    (putty_private_keys, |clues| clues.any(&["private-lines:"])),
    (ado_connection_strings, |clues| {
        clues.any(&["password", "pwd"])
    }),
    (url_credentials, |clues| clues.any(&["://"])),
    (secure_string_literals, |clues| {
        clues.any(&["convertto-securestring"])
    }),
    (command_line_passwords, |clues| {
        clues.any(&[
            "net",
            "curl",
            "-p",
            "-u",
            "--user",
            "ldap",
            "%",
            "chpasswd",
            "-a",
            "/rp",
            "defaultpassword",
        ])
    }),
    (snmp_communities, |clues| {
        clues.any(&[
            "snmp",
            "community",
            "com2sec",
            "onesixtyone",
            "braa",
            "communities",
        ])
    }),
    (network_device_secrets, |clues| {
        clues.any(&[
            "secret",
            "password",
            "key",
            "passwd",
            "passphrase",
            "pwd",
            "psk",
        ])
    }),
    (bitlocker_recovery_passwords, |clues| clues.digits >= 48),
    (product_keys, |clues| clues.hyphens >= 4),
    (aws_access_key_ids, |clues| {
        clues.any(&[
            "akia", "asia", "abia", "acca", "agpa", "aida", "aipa", "anpa", "anva", "apka", "aroa",
            "asca",
        ])
    }),
    (aws_secret_keys, |clues| clues.any(&["aws"])),
    (user_password_pairs, |clues| clues.any(&["/", ":"])),
    (keyword_secrets_for_someone, Clues::may_hold_a_keyword),
    (keyword_secrets, Clues::may_hold_a_keyword),
    (account_then_password, |clues| clues.any(&["\\", "@"])),
    (authorization_headers, |clues| clues.any(&["authorization"])),
    (bearer_tokens, |clues| clues.any(&["bearer"])),
    (vendor_tokens, |clues| {
        clues.any(&[
            "gh",
            "github_pat_",
            "gl",
            "gr1348941",
            "xox",
            "xapp-",
            "sk-",
            "k_live_",
            "k_test_",
            "npm_",
            "aiza",
            "eyj",
            "sg.",
            "dop_v1_",
            "q~",
            "hooks.slack.com",
            "webhook.office.com",
            "discord",
        ])
    }),
    (high_entropy_blobs, |clues| clues.longest_blob_run >= 32),
    (email_addresses, |clues| clues.any(&["@"])),
    (unc_paths, |clues| clues.any(&["\\\\"])),
    (share_urls, |clues| clues.any(&["://"])),
    (forward_slash_shares, |clues| clues.any(&["//"])),
    (ip_addresses, |clues| clues.any(&[".", ":"])),
];

/// Stands in for every byte of a marker while rules run. It is neither a letter, a digit, a space
/// nor punctuation any rule looks for, and being one byte it keeps every offset unchanged.
const OPAQUE: char = '\u{1}';

/// Runs one rule over `text`; `None` when it masked nothing new.
fn apply_rule(text: &str, rule: Rule, counts: &mut RedactionCounts) -> Option<String> {
    // Most fields hold no marker at all; a substring check is far cheaper than the regex.
    let markers: Vec<Range<usize>> = if text.contains("[REDACTED:") {
        MARKER.find_iter(text).map(|found| found.range()).collect()
    } else {
        Vec::new()
    };
    let view = if markers.is_empty() {
        Cow::Borrowed(text)
    } else {
        let mut view = String::with_capacity(text.len());
        let mut copied = 0;
        for marker in &markers {
            view.push_str(text.get(copied..marker.start).unwrap_or(""));
            view.extend(std::iter::repeat_n(OPAQUE, marker.len()));
            copied = marker.end;
        }
        view.push_str(text.get(copied..).unwrap_or(""));
        Cow::Owned(view)
    };
    let mut found: Vec<Mask> = Vec::new();
    rule(&view, &mut found);
    // A rule made of several patterns pushes each pattern's spans in turn; overlaps are then
    // dropped below, the earlier span winning.
    found.sort_by_key(|mask| mask.range.start);
    let mut masks: Vec<Mask> = Vec::new();
    let mut cursor = 0;
    for mask in found {
        // A span made only of markers is a secret masked already. A span that runs across a
        // marker (a key block with a marker inside) is masked on both sides of it, but only
        // where a side holds a letter or digit: the braces or quotes left around a connection
        // string's masked password are not a second secret.
        let parts = outside_markers(mask.range.clone(), &markers);
        let crosses_marker = parts.len() != 1 || parts.first() != Some(&mask.range);
        for range in parts {
            // Rules are trusted to be well formed, but a bad span must be skipped rather than
            // allowed to cut a marker or a character in half.
            let masks_something = range.start >= cursor
                && text.get(range.clone()).is_some_and(|masked| {
                    if crosses_marker {
                        masked.chars().any(char::is_alphanumeric)
                    } else {
                        !masked.trim().is_empty()
                    }
                });
            if masks_something {
                cursor = range.end;
                masks.push(Mask {
                    range,
                    kind: mask.kind,
                });
            }
        }
    }
    if masks.is_empty() {
        return None;
    }
    let mut output = String::with_capacity(text.len());
    let mut copied = 0;
    for mask in masks {
        output.push_str(text.get(copied..mask.range.start).unwrap_or(""));
        output.push_str(mask.kind.marker());
        counts.add(mask.kind, 1);
        copied = mask.range.end;
    }
    output.push_str(text.get(copied..).unwrap_or(""));
    Some(output)
}

/// The parts of `range` that lie outside every marker (`markers` is sorted and disjoint).
fn outside_markers(range: Range<usize>, markers: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut parts = Vec::new();
    let mut start = range.start;
    for marker in markers {
        if marker.end <= start {
            continue;
        }
        if marker.start >= range.end {
            break;
        }
        if marker.start > start {
            parts.push(start..marker.start);
        }
        start = marker.end;
    }
    if start < range.end {
        parts.push(start..range.end);
    }
    parts
}

/// Calls `decide` on each match, leftmost first. A rejected match resumes the search one
/// character later, so a real secret overlapping a rejected candidate is still found.
fn scan(
    regex: &Regex,
    haystack: &str,
    masks: &mut Vec<Mask>,
    mut decide: impl FnMut(&Captures<'_>) -> Option<Mask>,
) {
    let mut position = 0;
    while position <= haystack.len() {
        let Some(captures) = regex.captures_at(haystack, position) else {
            break;
        };
        let Some(whole) = captures.get(0) else {
            break;
        };
        match decide(&captures) {
            Some(mask) => {
                position = whole
                    .end()
                    .max(mask.range.end)
                    .max(next_char_boundary(haystack, whole.start()));
                masks.push(mask);
            }
            None => position = next_char_boundary(haystack, whole.start()),
        }
    }
}

/// The rule shape most rules share: every match of `regex` is one mask of `kind`.
fn whole_matches(regex: &Regex, kind: RedactionKind, haystack: &str, masks: &mut Vec<Mask>) {
    masks.extend(regex.find_iter(haystack).map(|found| Mask {
        range: found.range(),
        kind,
    }));
}

fn next_char_boundary(text: &str, index: usize) -> usize {
    index
        + text
            .get(index..)
            .and_then(|rest| rest.chars().next())
            .map_or(1, char::len_utf8)
}

fn char_before(text: &str, index: usize) -> Option<char> {
    text.get(..index)
        .and_then(|before| before.chars().next_back())
}

fn char_after(text: &str, index: usize) -> Option<char> {
    text.get(index..).and_then(|after| after.chars().next())
}

/// The first capture group among `names` that took part in the match.
fn first_group<'h>(captures: &Captures<'h>, names: &[&str]) -> Option<regex::Match<'h>> {
    names.iter().find_map(|name| captures.name(name))
}

/// Compiles one of this module's literal patterns.
#[allow(clippy::expect_used)]
fn compile(pattern: &str) -> Regex {
    // Every pattern given here is a literal in this file and the `every_pattern_compiles` unit
    // test builds each one, so a failure is a bug caught by the test suite, never bad input.
    Regex::new(pattern).expect("redaction patterns are literals compiled by a unit test")
}

/// A marker this module writes. Text inside a marker is never looked at again.
static MARKER: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"\[REDACTED:(?:private_key|connection_string|password|api_key|email|unc_path|ipv4|ipv6|snmp_community|product_key)\]",
    )
});

// 1. Private keys.

/// A PEM private key through its END line, or to the end of the text when only the top half was
/// pasted: the body of a key is the secret, so half a key is still masked.
static PRIVATE_KEY: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?is)-----BEGIN[ A-Z0-9]*PRIVATE KEY[ A-Z]*-----.*?(?:-----END[ A-Z0-9]*PRIVATE KEY[ A-Z]*-----|\z)",
    )
});

fn private_keys(haystack: &str, masks: &mut Vec<Mask>) {
    whole_matches(&PRIVATE_KEY, RedactionKind::PrivateKey, haystack, masks);
}

/// The private half of a PuTTY key file: the lines after `Private-Lines: N` up to
/// `Private-MAC:` (or the end of the text, when only part was pasted).
static PUTTY_PRIVATE_LINES: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"(?s)Private-Lines:[ \t]*[0-9]+[ \t]*\r?\n(?P<body>.*?)(?:\r?\nPrivate-MAC:|\z)")
});

fn putty_private_keys(haystack: &str, masks: &mut Vec<Mask>) {
    scan(&PUTTY_PRIVATE_LINES, haystack, masks, |captures| {
        let body = captures.name("body")?;
        (!body.as_str().trim().is_empty()).then_some(Mask {
            range: body.range(),
            kind: RedactionKind::PrivateKey,
        })
    });
}

// 2. Connection strings.

/// `Password=`/`Pwd=` inside an ADO or ODBC connection string. The value runs to `;` or the end of
/// the line because connection-string values may contain spaces; quoted and braced values are
/// read with their escapes (`""`, `''`, `}}`).
static ADO_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)(?:^|[;\s"'{(])(?:password|pwd)[ \t]*=[ \t]*(?:"(?P<dq>(?:[^"\r\n]|"")*)"|'(?P<sq>(?:[^'\r\n]|'')*)'|\{(?P<brace>(?:[^}\r\n]|\}\})*)\}|(?P<bare>[^;\r\n]*))"#,
    )
});

/// Another connection-string key on the same line; without one, `password=x;` is an ordinary
/// keyword secret and counts as a password.
static ADO_CONTEXT: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)(?:^|[;\s"'{(])(?:server|data[ \t]+source|database|initial[ \t]+catalog|user[ \t]*id|uid|driver|provider|dsn|host|addr|address|network[ \t]+address|integrated[ \t]+security|trusted_connection|persist[ \t]+security[ \t]+info|port)[ \t]*="#,
    )
});

fn ado_connection_strings(haystack: &str, masks: &mut Vec<Mask>) {
    scan(&ADO_PASSWORD, haystack, masks, |captures| {
        let whole = captures.get(0)?;
        if !ADO_CONTEXT.is_match(line_around(haystack, whole.range())) {
            return None;
        }
        let range = match first_group(captures, &["dq", "sq", "brace"]) {
            Some(quoted) => quoted.range(),
            None => {
                let bare = captures.name("bare")?;
                bare.start()..bare.start() + unquoted_connection_value_len(bare.as_str())
            }
        };
        let value = haystack.get(range.clone())?;
        (!value.trim().is_empty()).then_some(Mask {
            range,
            kind: RedactionKind::ConnectionString,
        })
    });
}

/// The length of an unquoted connection-string value. It stops before a quote that closes the
/// surrounding argument (`"Server=x;Password=abc"`), but a quote inside the password is kept
/// inside the mask, and trailing spaces are not part of the value.
fn unquoted_connection_value_len(value: &str) -> usize {
    let mut chars = value.char_indices().peekable();
    let mut end = value.len();
    while let Some((index, character)) = chars.next() {
        if matches!(character, '"' | '\'') {
            let closes = chars
                .peek()
                .is_none_or(|(_, next)| next.is_whitespace() || matches!(next, ')' | ','));
            if closes {
                end = index;
                break;
            }
        }
    }
    value.get(..end).map_or(0, |kept| kept.trim_end().len())
}

fn line_around(text: &str, range: Range<usize>) -> &str {
    let start = text
        .get(..range.start)
        .and_then(|before| before.rfind('\n'))
        .map_or(0, |newline| newline + 1);
    let end = text
        .get(range.end..)
        .and_then(|after| after.find('\n'))
        .map_or(text.len(), |newline| range.end + newline);
    text.get(start..end).unwrap_or("")
}

/// `scheme://user:password@host`. The password runs to the last `@` before the host, because
/// pasted passwords are often not percent-encoded; `/`, `?` and `#` end it as URL syntax does.
static URL_CREDENTIALS: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"(?i)(?-u:\b)[a-z][a-z0-9+.\-]*://[^\s:/?#@\[\]]*:(?P<secret>[^\s/?#]+)@")
});

fn url_credentials(haystack: &str, masks: &mut Vec<Mask>) {
    scan(&URL_CREDENTIALS, haystack, masks, |captures| {
        Some(Mask {
            range: captures.name("secret")?.range(),
            kind: RedactionKind::ConnectionString,
        })
    });
}

// 3. Passwords and secrets after keywords, and in known command-line positions.

// The pieces of the two keyword patterns, as macros so `concat!` can join them into literals.

/// A keyword (with an optional plural `s`); `keyword_secrets_by` decides which need a word start.
macro_rules! secret_keyword {
    () => {
        r"(?P<keyword>(?i:
            client[_-]?secret | shared[\x20_-]?secret | pre[\x20_-]?shared[\x20_-]?key
          | shared[\x20_-]?access[\x20_-]?(?:key|signature)
          | secret[\x20_-]?key | access[\x20_-]?key | account[\x20_-]?key | api[\x20_-]?key
          | private[\x20_-]?key | setup[\x20_-]?key
          | key[\x20_-]?content | network[\x20_-]?(?:security[\x20_-]?)?key | security[\x20_-]?key
          | wpa[23]?[\x20_-]?key | wi-?fi[\x20_-]?key | wireless[\x20_-]?key | keymaterial
          | wlan-?schl(?:ü|ue|u)ssel | cl[ée][\x20]wpa | cl[ée][\x20]wi-?fi | clave[\x20]wi-?fi
          | community[\x20_-]?(?:string|name) | communaut[ée][\x20]snmp | community | communaut[ée]
          | (?:snmp[\x20_-]?)?r[ow][\x20_-]?string | snmp[\x20_-]?string
          | passphrase | passwd | password | passwort | kennwort | wachtwoord | mot[\x20-]de[\x20-]passe
          | contrase(?:ñ|n)a | parola[\x20]d'ordine | l(?:ö|o)senord(?:et)? | passord(?:et)?
          | adgangskoden? | salasana | has(?:ł|l)o | heslo | пароль | (?:ş|s)ifre | jelsz(?:ó|o)
          | senha | clave | mdp | passcode | pin[\x20_-]?code | code[\x20]pin | pin | puk
          | (?:door|gate|alarm|unlock|mfa|2fa|otp|verification|security)[\x20_-]code
          | pwd | pass | secret | token | psk | credential | seed | key
          | pw | p | sig
        ))(?i:s)?(?:[\x20_-](?i:value|string))?"
    };
}

/// `:`, `=`, `:=`, `=>`, with the value allowed on the next line (`Password:` then the value).
macro_rules! assign_separator {
    () => {
        r"(?P<assign>[\x20\t]*(?::=|=>|=|:)[\x20\t]*(?:\r?\n[\x20\t]*)?)"
    };
}

/// One to four linking words, in the languages engineers write notes in: `is`, `was reset to`,
/// `lautet`, `ist jetzt`, `wurde auf`, `est`, `a été réinitialisé à`, `es`, `é`, `is nu`, `är`,
/// and the like. The value after them must look like a secret (`looks_like_a_secret`).
macro_rules! verb_separator {
    () => {
        r"(?P<verb>(?:[\x20\t]+(?i:
            is|are|was|were|has|have|had|been|now|still|set|changed|reset|updated|to
          | ist|lautet|lauten|war|wurde|wird|jetzt|nun|auf|neu
          | est|était|a|été|maintenant|changé|réinitialisé|à|en
          | es|era|ahora|cambiada|cambiado|restablecida|é|è|para|alterada
          | c'est|c’est|nu|naar|op|gewijzigd|ingesteld|är|er|on|jest|je
        )){1,4})[\x20\t]+"
    };
}

/// A quoted value (to its closing quote or the end of the line, and maybe in PowerShell's
/// parentheses), or one running to whitespace, `;`, `,` or a quote.
macro_rules! secret_value {
    () => {
        r#"(?:\(?"(?P<dq>[^"\r\n]*)"?|\(?'(?P<sq>[^'\r\n]*)'?|(?P<bare>[^\s;,"']+))"#
    };
}

/// A keyword, a separator and a value. The keyword stays visible so the note still reads well;
/// the value is quoted, the text of an XML element, or runs to whitespace, `;`, `,` or a quote.
/// Which separators count for which keyword is decided in `keyword_secrets_by`.
static KEYWORD_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        "(?x)",
        secret_keyword!(),
        r#"(?P<close>["'])?
        (?:
            >\s*(?i:<value>\s*)?(?P<xml>[^<\r\n]+)
          | (?:"#,
        assign_separator!(),
        "|",
        verb_separator!(),
        r"| (?P<space>[\x20\t]+) )",
        secret_value!(),
        ")",
    ))
});

/// `password for jdoe@contoso.com to X`, `Passwort für m.mueller: X`, `MDP du routeur : X`: up
/// to four words naming whose secret it is. Without such a word (`password LAPS gave me: X`,
/// `Pre-Shared Key (PSK): X`) only a colon or `=` may follow the words, and the value must look
/// like a secret. A pattern of its own, because with a bare space also allowed as a separator the
/// first reading found would be `for the` followed by the value "account".
static KEYWORD_FOR_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        "(?x)",
        secret_keyword!(),
        r"(?:[\x20\t]+(?P<for>(?i:for|für|fuer|pour|de|du|del|para|per|voor|för|til|dla|pro|van|von|on|of|at|auf|sur|bei|vom)))?
        (?P<words>(?:[\x20\t]+[^\s:=]+){1,4}?)(?:",
        assign_separator!(),
        "|",
        verb_separator!(),
        ")",
        secret_value!(),
    ))
});

/// Words that make a line about Wi-Fi, where `key X` names the network key.
static WIFI_CONTEXT: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)(?-u:\b)(?:ssid|wi-?fi|wlan|wpa[23]?|wireless)(?-u:\b)"));

fn keyword_secrets_for_someone(haystack: &str, masks: &mut Vec<Mask>) {
    keyword_secrets_by(&KEYWORD_FOR_SECRET, haystack, masks);
}

fn keyword_secrets(haystack: &str, masks: &mut Vec<Mask>) {
    keyword_secrets_by(&KEYWORD_SECRET, haystack, masks);
}

fn keyword_secrets_by(regex: &Regex, haystack: &str, masks: &mut Vec<Mask>) {
    scan(regex, haystack, masks, |captures| {
        let keyword = captures.name("keyword")?;
        let before = char_before(haystack, keyword.start());
        let first = keyword.as_str().chars().next()?;
        let normalised: String = keyword
            .as_str()
            .chars()
            .filter(|character| character.is_alphabetic() || character.is_ascii_digit())
            .flat_map(char::to_lowercase)
            .collect();
        let assigned = captures.name("assign").is_some();
        let keyword_allowed = match normalised.as_str() {
            // `/p:secret` is MSBuild's and several installers' password switch; a lone `p`
            // anywhere else is just a letter.
            "p" => before == Some('/') && assigned,
            // Azure SAS signatures, only as a URL query parameter.
            "sig" => matches!(before, Some('?' | '&')),
            // `key=` is netsh's Wi-Fi key and many URLs' API key; `key:` is usually a label,
            // and `key X` is a Wi-Fi key only on a line about Wi-Fi.
            "key" => {
                starts_word(before, first)
                    && (captures
                        .name("assign")
                        .is_some_and(|separator| separator.as_str().trim() == "=")
                        || (captures.name("space").is_some()
                            && WIFI_CONTEXT.is_match(line_around(haystack, keyword.range()))))
            }
            // Short keywords that end or start ordinary words (bypass, compass, spin, keyboard)
            // must start a word.
            "pass" | "pw" | "psk" | "credential" | "keycontent" | "networkkey"
            | "networksecuritykey" | "securitykey" | "pin" | "puk" | "seed" | "mdp" | "clave"
            | "community" | "communitystring" | "communityname" | "senha" | "heslo" | "haslo"
            | "rostring" | "rwstring" | "snmprostring" | "snmprwstring" | "snmpstring"
            | "hasło" => starts_word(before, first),
            _ => true,
        };
        if !keyword_allowed {
            return None;
        }
        // A bare space separates a value only after a command-line dash (`-Password x`,
        // `-NewPassword x`), before a quoted literal (`passphrase "a b c"`), or before a value
        // that looks like a secret (`passcode 482913`, `pw Spring#2025`); otherwise `password
        // policy` would lose the word "policy".
        let space_separated = captures.name("space").is_some();
        let verb_separated = captures.name("verb").is_some();
        let quoted = first_group(captures, &["dq", "sq"]).is_some();
        let after_dash =
            char_before(haystack, identifier_start(haystack, keyword.start())) == Some('-');
        let value = first_group(captures, &["xml", "dq", "sq", "bare"])?;
        if captures.name("xml").is_some() && !opens_xml_element(haystack, keyword.start()) {
            return None;
        }
        let mut range = value.start()..value.start() + value.as_str().trim_end().len();
        // In a URL query the value ends at the next parameter (`?secret=X&issuer=Y`).
        if matches!(before, Some('?' | '&')) {
            let text = haystack.get(range.clone())?;
            if let Some(ampersand) = text.find('&') {
                range.end = range.start + ampersand;
            }
        }
        // An authenticator's setup key is often shown in groups of four (`abcd efgh ...`).
        if captures.name("bare").is_some() {
            range.end += spaced_base32_groups(haystack, range.clone());
        }
        let text = haystack.get(range.clone())?;
        let next_word = following_word(haystack, range.end);
        // Without a `for` word, words between the keyword and its colon are a label
        // (`password LAPS gave me: X`), which is trusted only before a value shaped like a secret.
        let label_words = captures.name("words").is_some() && captures.name("for").is_none();
        if label_words && (!(assigned || verb_separated) || !looks_like_a_secret(text, next_word)) {
            return None;
        }
        let quoted_literal = quoted && captures.name("close").is_none();
        let space_value_allowed =
            after_dash || quoted_literal || looks_like_a_secret(text, next_word);
        if space_separated && !space_value_allowed {
            return None;
        }
        if verb_separated && !looks_like_a_secret(text, next_word) {
            return None;
        }
        // After a switch, another switch means no value was given, and a variable or a command
        // in parentheses is not a literal (a literal inside one is caught by its own rule).
        let not_a_literal = text.starts_with(['-', '$'])
            || text
                .strip_prefix('(')
                .is_some_and(|inside| inside.starts_with(char::is_alphabetic));
        if text.trim().is_empty()
            || cannot_be_a_secret(text)
            || (!quoted && is_prose_word(text, next_word))
            || (space_separated && not_a_literal)
        {
            return None;
        }
        // A user and password pair after `credentials:` is masked by `user_password_pairs`,
        // which leaves the user name readable; the user is not a second secret.
        if normalised == "credential" && (text.contains(OPAQUE) || text.contains('/')) {
            return None;
        }
        if normalised == "credential" && followed_by_pair_slash(haystack, range.end) {
            return None;
        }
        let kind = match normalised.as_str() {
            "token"
            | "apikey"
            | "accesskey"
            | "secretkey"
            | "accountkey"
            | "sig"
            | "privatekey"
            | "sharedaccesskey"
            | "sharedaccesssignature" => RedactionKind::ApiKey,
            "key" if matches!(before, Some('?' | '&')) => RedactionKind::ApiKey,
            community
                if community.starts_with("communit")
                    || community.starts_with("communaut")
                    || community.ends_with("string") =>
            {
                RedactionKind::SnmpCommunity
            }
            _ => RedactionKind::Password,
        };
        Some(Mask { range, kind })
    });
}

/// The length of more base32 groups of four after `range` (`jbsw y3dp ehpk 3pxp`), counted only
/// when the value itself is such a group and at least three more follow.
fn spaced_base32_groups(haystack: &str, range: Range<usize>) -> usize {
    let is_group = |group: &str| {
        group.len() == 4
            && group
                .bytes()
                .all(|byte| byte.is_ascii_alphabetic() || (b'2'..=b'7').contains(&byte))
    };
    if !haystack.get(range.clone()).is_some_and(is_group) {
        return 0;
    }
    let Some(rest) = haystack.get(range.end..) else {
        return 0;
    };
    let mut length = 0;
    let mut groups = 0;
    while let Some(group) = rest.get(length..).and_then(|tail| tail.strip_prefix(' ')) {
        match group.get(..4) {
            Some(candidate)
                if is_group(candidate)
                    && group
                        .get(4..)
                        .is_none_or(|after| !after.starts_with(|c: char| c.is_alphanumeric())) =>
            {
                length += 5;
                groups += 1;
            }
            _ => break,
        }
    }
    if groups >= 3 { length } else { 0 }
}

/// The word after `index`, skipping spaces, for decisions such as "3600 seconds".
fn following_word(haystack: &str, index: usize) -> &str {
    haystack
        .get(index..)
        .map(|rest| rest.trim_start_matches([' ', '\t']))
        .and_then(|rest| rest.split(|c: char| c.is_whitespace() || c == ',').next())
        .unwrap_or("")
}

/// True when `credentials: jdoe / ...` continues with a slash: the pair rule's business.
fn followed_by_pair_slash(haystack: &str, index: usize) -> bool {
    haystack
        .get(index..)
        .is_some_and(|rest| rest.trim_start_matches([' ', '\t']).starts_with('/'))
}

/// Where the identifier that ends at `end` starts, so `-NewPassword` is seen as a switch.
fn identifier_start(text: &str, end: usize) -> usize {
    text.get(..end).map_or(end, |before| {
        before
            .char_indices()
            .rev()
            .take_while(|(_, character)| character.is_alphanumeric() || *character == '_')
            .last()
            .map_or(end, |(index, _)| index)
    })
}

/// True when a keyword starting with `first` after `before` begins a word or a camelCase part.
fn starts_word(before: Option<char>, first: char) -> bool {
    match before {
        None => true,
        Some(previous) if !previous.is_alphanumeric() => true,
        Some(previous) => {
            (previous.is_lowercase() || previous.is_ascii_digit()) && first.is_uppercase()
        }
    }
}

/// True when the keyword ends the name of an opening tag (`<Password>`, `<AdminPassword>`): a
/// closing tag followed by prose must not mask the prose.
fn opens_xml_element(haystack: &str, keyword_start: usize) -> bool {
    let Some(before) = haystack.get(..keyword_start) else {
        return false;
    };
    before.rfind('<').is_some_and(|open| {
        before.get(open + 1..).is_some_and(|name| {
            !name.starts_with('/') && !name.contains(|c: char| c == '>' || c.is_whitespace())
        })
    })
}

/// Values that say there is no secret; masking them would only make notes harder to read. A
/// number of one to three digits (`Politique de mot de passe : 12 caractères`) is a count, not
/// a password, and `<placeholder>` is how documentation writes one.
fn cannot_be_a_secret(value: &str) -> bool {
    let lower = value.trim().to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "true" | "false" | "null" | "$null" | "none" | "nil" | "n/a" | "yes" | "no"
    ) || lower.chars().all(|character| character == '*')
        || (lower.len() <= 3 && lower.bytes().all(|byte| byte.is_ascii_digit()))
        || (lower.starts_with('<') && lower.ends_with('>'))
}

/// Words that follow a keyword in a sentence about a secret rather than in front of one:
/// `Password: see IT Glue`, `Credentials: stored in the vault`, `PIN: not set`,
/// `Security key : Present`, `key=clear`. Letters only, compared without case or brackets.
const PROSE_VALUES: &[&str] = &[
    "a",
    "above",
    "an",
    "as",
    "ask",
    "at",
    "available",
    "below",
    "blank",
    "by",
    "changed",
    "clear",
    "correct",
    "default",
    "disabled",
    "documented",
    "emailed",
    "empty",
    "enabled",
    "entered",
    "expired",
    "expires",
    "from",
    "given",
    "hidden",
    "in",
    "incorrect",
    "invalid",
    "is",
    "locked",
    "missing",
    "never",
    "not",
    "ok",
    "on",
    "optional",
    "pending",
    "per",
    "present",
    "prompt",
    "prompted",
    "provided",
    "redacted",
    "removed",
    "required",
    "reset",
    "rotated",
    "same",
    "saved",
    "see",
    "sent",
    "set",
    "shared",
    "stored",
    "tbd",
    "texted",
    "the",
    "to",
    "unchanged",
    "unknown",
    "unset",
    "updated",
    "valid",
    "via",
    "was",
    "wrong",
];

/// True when `value` is one of `PROSE_VALUES`, or a count followed by its unit (`12 caractères`
/// is caught by `cannot_be_a_secret`; `3600 seconds` here).
fn is_prose_word(value: &str, next_word: &str) -> bool {
    let word = value
        .trim_matches(|c: char| matches!(c, '(' | ')' | '[' | ']' | '.' | ',' | ':' | ';'))
        .to_lowercase();
    PROSE_VALUES.contains(&word.as_str())
        || (word.bytes().all(|byte| byte.is_ascii_digit()) && is_unit(next_word))
}

fn is_unit(word: &str) -> bool {
    let word = word
        .trim_end_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    matches!(
        word.as_str(),
        "s" | "sec"
            | "secs"
            | "second"
            | "seconds"
            | "min"
            | "mins"
            | "minute"
            | "minutes"
            | "h"
            | "hour"
            | "hours"
            | "day"
            | "days"
            | "week"
            | "weeks"
            | "month"
            | "months"
            | "year"
            | "years"
            | "char"
            | "chars"
            | "character"
            | "characters"
            | "caractères"
            | "zeichen"
            | "digit"
            | "digits"
            | "bit"
            | "bits"
            | "byte"
            | "bytes"
            | "time"
            | "times"
            | "attempt"
            | "attempts"
            | "users"
            | "devices"
            | "machines"
    )
}

/// Whether a value found after a verb, a bare space or a label looks like a secret rather than
/// a word of the sentence. Real passwords, PINs and keys carry a digit or a symbol, so a value
/// of letters only (`expired`, `valid`, `Welcome`) is read as prose, and so are dates, times,
/// versions, hex error codes, counts with units and a few protocol names with digits.
fn looks_like_a_secret(value: &str, next_word: &str) -> bool {
    let core = value.trim_end_matches(['.', ',', ';', ':', '?', ')']);
    let core = core.strip_prefix('(').unwrap_or(core);
    if core.chars().count() < 4 || is_prose_word(core, next_word) {
        return false;
    }
    let has_digit = core.bytes().any(|byte| byte.is_ascii_digit());
    // Hyphens, apostrophes, dots and slashes join ordinary words (`re-entered`, `and/or`).
    let has_symbol = core.trim_end_matches('!').chars().any(|character| {
        character.is_ascii_punctuation()
            && !matches!(character, '-' | '\'' | '.' | '/' | '(' | ')' | '"')
    });
    if !has_digit && !has_symbol {
        return false;
    }
    !NOT_A_SECRET_SHAPE.is_match(core)
}

/// Values with digits that are not secrets: dates, times, versions, hex error codes, sizes with
/// units, URLs, Windows SIDs and protocol names such as `SNMPv3` or `WPA2`.
static NOT_A_SECRET_SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?ix)^(?:
            \d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[T\x20].*)?
          | \d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?
          | v?\d+(?:\.\d+)+[a-z]?
          | 0x[0-9a-f]+
          | \d+(?:s|ms|m|h|d|x|k|kb|mb|gb|%|-bit|bit|-char|th|st|nd|rd)
          | [a-z][a-z0-9+.\-]*://.*
          | s-1-[0-9\-]+
          | snmpv\d | wpa\d(?:-[a-z]+)? | tlsv?\d(?:\.\d)? | sslv\d | smbv?\d | ntlmv\d
          | ipv[46] | [mo]365 | office365 | win\d+ | windows\d+ | aes-?\d+ | sha-?\d+ | rsa-?\d+
          | md5 | 802\.1x | 2fa | mfa | kb\d+
        )$",
    )
});

/// `ConvertTo-SecureString [-AsPlainText] "literal"`: a PowerShell password with no keyword.
static SECURE_STRING_LITERAL: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)(?-u:\b)ConvertTo-SecureString(?:[ \t]+-(?:AsPlainText|Force|String)(?-u:\b))*[ \t]+(?:"(?P<dq>[^"\r\n]+)"|'(?P<sq>[^'\r\n]+)')"#,
    )
});

fn secure_string_literals(haystack: &str, masks: &mut Vec<Mask>) {
    scan(&SECURE_STRING_LITERAL, haystack, masks, |captures| {
        Some(Mask {
            range: first_group(captures, &["dq", "sq"])?.range(),
            kind: RedactionKind::Password,
        })
    });
}

/// Command lines whose password has no keyword: `net user NAME PASSWORD`, `net use X:
/// \\srv\share PASSWORD`, `net use ... /user:NAME PASSWORD`, `curl -u user:PASSWORD`, `-p
/// PASSWORD` for PsExec, sshpass and plink, and `-p`/`-P` on any line that also passes a user
/// with `-u`/`-U`/`--username` (az, sqlcmd, mysql, whose `-pPASSWORD` may be glued). `*` (prompt
/// for it) and `/switches` are not passwords. A lone `-p` stays: it is a port for ssh and docker.
static COMMAND_LINE_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?xi)
        (?:
            (?-u:\b)net[\x20\t]+user[\x20\t]+(?:"[^"\r\n]*"|[^\s"/]+)[\x20\t]+
          | (?-u:\b)net[\x20\t]+use[\x20\t]+(?:[a-z]:[\x20\t]+|\*[\x20\t]+)?(?:"[^"\r\n]*"|\\\\\S+)[\x20\t]+
          | (?-u:\b)net[\x20\t]+use(?-u:\b)[^\r\n]*?[\x20\t]/u(?:ser)?:\S+[\x20\t]+
          | (?-u:\b)(?:psexec(?:64)?|sshpass|plink)(?:\.exe)?(?-u:\b)[^\r\n]*?[\x20\t](?-i:-pw?)[\x20\t]+
          | (?-u:\b)curl(?-u:\b)[^\r\n]*?[\x20\t](?-i:-u|--user)[\x20\t=]+[^\s:"']+:
          | [\x20\t](?-i:-[uU]|--user(?:name)?)[\x20\t=]+\S+[^\r\n]*?[\x20\t](?-i:-[pP])[\x20\t]*
        )
        (?:"(?P<dq>[^"\r\n]+)"|(?P<bare>[^\s"/*]\S*))
      | [\x20\t](?-i:-[pP])[\x20\t]*(?:"(?P<dq_first>[^"\r\n]+)"|(?P<bare_first>[^\s"/*\-]\S*))
        [^\r\n]*?[\x20\t](?-i:-[uU]|--user(?:name)?)[\x20\t=]"#,
    )
});

/// More commands whose password has no keyword: `ldapsearch -w`, `smbclient -U user%PASSWORD`,
/// `echo 'user:PASSWORD' | chpasswd`, `mysql -pPASSWORD` (glued; a bare `-p` prompts),
/// `redis-cli -a`, `schtasks /RP`, and Winlogon's `DefaultPassword` in `reg add ... /d` and in
/// `reg query` output.
static MORE_COMMAND_LINE_PASSWORDS: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?xi)
        (?:
            (?-u:\b)ldap(?:search|modify|add|delete|passwd|whoami|compare)(?-u:\b)[^\r\n]*?[\x20\t](?-i:-w)[\x20\t]+
          | (?-u:\b)(?:smbclient|rpcclient|smbmap|winexe|smbcacls)(?-u:\b)[^\r\n]*?[\x20\t](?-i:-U)[\x20\t]*["']?[^\s%"']+%
          | (?P<echo>(?-u:\b)echo[\x20\t]+["']?[^\s:"']+:)
          | (?-u:\b)(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump)(?:\.exe)?(?-u:\b)[^\r\n]*?[\x20\t](?-i:-p)
          | (?-u:\b)redis-cli(?-u:\b)[^\r\n]*?[\x20\t](?-i:-a)[\x20\t]+
          | (?-u:\b)schtasks(?-u:\b)[^\r\n]*?[\x20\t]/rp[\x20\t]+
          | (?-u:\b)DefaultPassword(?:[\x20\t]+/t[\x20\t]+REG_SZ)?[\x20\t]+/d[\x20\t]+
          | (?-u:\b)DefaultPassword[\x20\t]+REG_(?:SZ|EXPAND_SZ)[\x20\t]+
        )
        (?:"(?P<dq>[^"\r\n]+)"|'(?P<sq>[^'\r\n]+)'|(?P<bare>[^\s"'*/$][^\s"']*))"#,
    )
});

fn command_line_passwords(haystack: &str, masks: &mut Vec<Mask>) {
    scan(&COMMAND_LINE_PASSWORD, haystack, masks, |captures| {
        Some(Mask {
            range: first_group(captures, &["dq", "bare", "dq_first", "bare_first"])?.range(),
            kind: RedactionKind::Password,
        })
    });
    scan(&MORE_COMMAND_LINE_PASSWORDS, haystack, masks, |captures| {
        // `echo 'user:password'` is a password only when the line pipes it into chpasswd.
        if let Some(echo) = captures.name("echo") {
            let line = line_around(haystack, echo.range());
            if !line.contains("chpasswd") {
                return None;
            }
        }
        Some(Mask {
            range: first_group(captures, &["dq", "sq", "bare"])?.range(),
            kind: RedactionKind::Password,
        })
    });
}

/// SNMP v1/v2c community strings where no keyword names them: `snmpwalk -c X` (or `-cX`),
/// net-snmp's `rocommunity X` / `rwcommunity X` / `com2sec NAME SOURCE X`, Cisco's
/// `snmp-server community X` and `snmp-server host H [version 2c] X`, and the Windows SNMP
/// service's `ValidCommunities ... -Name X`. A `$VARIABLE` is not a literal.
static SNMP_COMMUNITY: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?xi)
        (?:
            (?-u:\b)(?:snmp[a-z]*|onesixtyone|braa)(?:\.exe)?(?-u:\b)[^\r\n]*?[\x20\t](?-i:-c)[\x20\t]*
          | (?m:^)[\x20\t]*(?:ro|rw)community6?[\x20\t]+
          | (?m:^)[\x20\t]*com2sec6?[\x20\t]+(?:-Cn[\x20\t]+\S+[\x20\t]+)?\S+[\x20\t]+\S+[\x20\t]+
          | (?-u:\b)snmp-server[\x20\t]+community[\x20\t]+
          | (?-u:\b)snmp-server[\x20\t]+host[\x20\t]+\S+(?:[\x20\t]+(?:informs|traps))?(?:[\x20\t]+version[\x20\t]+(?:1|2c))?[\x20\t]+
          | (?-u:\b)ValidCommunities(?-u:\b)[^\r\n]*?[\x20\t]-Name[\x20\t]+
        )
        (?:"(?P<dq>[^"\r\n]+)"|'(?P<sq>[^'\r\n]+)'|(?P<bare>[^\s"'$\-][^\s"']*))"#,
    )
});

fn snmp_communities(haystack: &str, masks: &mut Vec<Mask>) {
    scan(&SNMP_COMMUNITY, haystack, masks, |captures| {
        let value = first_group(captures, &["dq", "sq", "bare"])?;
        let text = value.as_str();
        let is_word_of_a_sentence = captures.name("bare").is_some()
            && (is_prose_word(text, "")
                || matches!(
                    text.to_ascii_lowercase().as_str(),
                    "version" | "informs" | "traps" | "vrf" | "ro" | "rw" | "view"
                ));
        (!is_word_of_a_sentence).then_some(Mask {
            range: value.range(),
            kind: RedactionKind::SnmpCommunity,
        })
    });
}

/// Secrets in network device configurations: Cisco IOS `enable secret`, `username NAME
/// [privilege N] secret|password [TYPE] X`, `tacacs-server key`, `radius-server key`,
/// `key-string`, `crypto isakmp key`, `wpa-psk ascii`, a `password 7 X` line, and FortiOS
/// `set passwd|psksecret|passphrase|... X`. An encryption type digit or `ENC` stays visible.
static NETWORK_DEVICE_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?xi)
        (?:
            (?-u:\b)(?P<ios>
                enable[\x20\t]+(?:secret|password)(?:[\x20\t]+level[\x20\t]+\d+)?
              | username[\x20\t]+\S+(?:[\x20\t]+privilege[\x20\t]+\d+)?[\x20\t]+(?:secret|password)
              | (?:tacacs|radius)-server[\x20\t]+(?:host[\x20\t]+\S+[\x20\t]+)?key
              | key-string | crypto[\x20\t]+isakmp[\x20\t]+key
              | wpa-psk[\x20\t]+(?:ascii|hex) | pre-shared-key(?:[\x20\t]+(?:ascii|hex))?
              | ppp[\x20\t]+chap[\x20\t]+password | authentication-key
            )
          | (?m:^)[\x20\t]*(?P<line>password|secret)
          | (?-u:\b)set[\x20\t]+(?P<forti>passwd|password|psksecret|passphrase|secret|sae-password|auth-pwd|key)
        )
        (?:[\x20\t]+(?:ENC|[0-9]))?[\x20\t]+
        (?:"(?P<dq>[^"\r\n]+)"|'(?P<sq>[^'\r\n]+)'|(?P<bare>[^\s"']+))"#,
    )
});

fn network_device_secrets(haystack: &str, masks: &mut Vec<Mask>) {
    scan(&NETWORK_DEVICE_SECRET, haystack, masks, |captures| {
        let value = first_group(captures, &["dq", "sq", "bare"])?;
        let quoted = captures.name("bare").is_none();
        let text = value.as_str();
        let next_word = following_word(haystack, value.end());
        if !quoted && (is_prose_word(text, next_word) || cannot_be_a_secret(text)) {
            return None;
        }
        // A line starting `password` or a FortiOS `set password` might also be English
        // (`set password to never expire`), so those need a value shaped like a secret.
        let needs_shape = captures.name("ios").is_none();
        if needs_shape && !quoted && !looks_like_a_secret(text, next_word) {
            return None;
        }
        Some(Mask {
            range: value.range(),
            kind: RedactionKind::Password,
        })
    });
}

/// A BitLocker recovery password: eight groups of six digits, joined by hyphens or, as read out
/// from a portal, by spaces.
static BITLOCKER_RECOVERY: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"(?-u:\b)[0-9]{6}(?:-[0-9]{6}){7}(?-u:\b)|(?-u:\b)[0-9]{6}(?:\x20[0-9]{6}){7}(?-u:\b)")
});

fn bitlocker_recovery_passwords(haystack: &str, masks: &mut Vec<Mask>) {
    whole_matches(
        &BITLOCKER_RECOVERY,
        RedactionKind::Password,
        haystack,
        masks,
    );
}

/// A product key: five groups of five capitals and digits with at least one digit (so the
/// `XXXXX-XXXXX-...` placeholder stays), or a 24-digit serial in six groups of four.
static PRODUCT_KEY: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?-u:\b)[A-Z0-9]{5}(?:-[A-Z0-9]{5}){4}(?-u:\b)|(?-u:\b)[0-9]{4}(?:-[0-9]{4}){5}(?-u:\b)",
    )
});

fn product_keys(haystack: &str, masks: &mut Vec<Mask>) {
    masks.extend(
        PRODUCT_KEY
            .find_iter(haystack)
            .filter(|found| found.as_str().bytes().any(|byte| byte.is_ascii_digit()))
            .map(|found| Mask {
                range: found.range(),
                kind: RedactionKind::ProductKey,
            }),
    );
}

/// A user and password written as a pair after a keyword: `creds: admin / X`, `login
/// admin/X`, `Credentials: jdoe:X`, `u/p root / X`, `Zugangsdaten: user / X`. The user stays
/// readable; only the password is masked.
static USER_PASSWORD_PAIR: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?xi)
        (?-u:\b)(?P<keyword>
            creds? | credentials? | login | logon | log[\x20-]in | zugangsdaten | anmeldedaten
          | identifiants | credenciales | inloggegevens | u/p
          | user(?:name)?[\x20\t]*/[\x20\t]*(?:pass(?:word)?|pwd?)
        )
        (?:[\x20\t]+(?:for|für|pour|de|para|voor)(?:[\x20\t]+[^\s:=/]+){1,3}?)?
        (?:
            (?P<assign>[\x20\t]*[:=][\x20\t]*)
          | [\x20\t]+(?:are|is|sind|sont|son|zijn)[\x20\t]+
          | (?P<space>[\x20\t]+)
        )
        (?P<user>[^\s/:,;]+)
        (?:[\x20\t]*/[\x20\t]*|:)
        (?P<password>[^\s,;]+)",
    )
});

/// User names that are device defaults, so `login admin/x` is a pair whatever `x` looks like.
const DEFAULT_USERS: &[&str] = &[
    "admin",
    "administrator",
    "root",
    "sa",
    "ubnt",
    "pi",
    "user",
    "guest",
    "support",
    "cisco",
    "manager",
    "operator",
];

fn user_password_pairs(haystack: &str, masks: &mut Vec<Mask>) {
    scan(&USER_PASSWORD_PAIR, haystack, masks, |captures| {
        let user = captures.name("user")?.as_str();
        let password = captures.name("password")?;
        let text = password.as_str();
        let next_word = following_word(haystack, password.end());
        if is_prose_word(user, "") || is_prose_word(text, next_word) || cannot_be_a_secret(text) {
            return None;
        }
        // With a bare space (`login page/portal`), the pair must look like one.
        let default_user = DEFAULT_USERS.contains(&user.to_ascii_lowercase().as_str());
        if captures.name("space").is_some()
            && !default_user
            && !looks_like_a_secret(text, next_word)
        {
            return None;
        }
        Some(Mask {
            range: password.range(),
            kind: RedactionKind::Password,
        })
    });
}

/// `DOMAIN\user`, `.\user` or `user@domain.tld` followed by its password: `CONTOSO\jdoe
/// Summer2024!`, `jdoe@contoso.com / X`, `contoso\adm with X`. The password must look like one,
/// so `CONTOSO\jdoe logged on at 09:14` stays.
static ACCOUNT_THEN_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?x)
        (?P<account>
            (?:(?-u:\b)[A-Za-z][A-Za-z0-9.\-]{0,62}|\.)\\[A-Za-z0-9._$\-]+
          | (?-u:\b)[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}
        )
        (?:
            [\x20\t]*[/:][\x20\t]*
          | [\x20\t]+(?:(?i:with|mit|avec|con|met)[\x20\t]+)?
        )
        (?P<password>[^\s,;]+)",
    )
});

fn account_then_password(haystack: &str, masks: &mut Vec<Mask>) {
    scan(&ACCOUNT_THEN_PASSWORD, haystack, masks, |captures| {
        let account = captures.name("account")?;
        // `\\server\share` and `C:\Users\jdoe` are paths, not accounts.
        if matches!(
            char_before(haystack, account.start()),
            Some('\\' | '/' | ':')
        ) {
            return None;
        }
        let password = captures.name("password")?;
        let text = password.as_str();
        if text.contains(OPAQUE) || text.starts_with(['\\', '/', '(', '[', '-', '$']) {
            return None;
        }
        looks_like_a_secret(text, following_word(haystack, password.end())).then_some(Mask {
            range: password.range(),
            kind: RedactionKind::Password,
        })
    });
}

// 4. API keys and tokens without keywords.

/// An `Authorization:` header; the scheme (`Bearer`, `Basic`, ...) stays visible.
static AUTHORIZATION_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)(?-u:\b)(?:proxy-)?authorization["']?[ \t]*[:=][ \t]*["']?(?:(?:bearer|basic|token|digest|ntlm|negotiate|apikey|sharedkey|sso-key)[ \t]+)?(?P<value>[^\s"',;]+)"#,
    )
});

/// Schemes that stay visible in front of the masked credential.
const AUTHORIZATION_SCHEMES: &[&str] = &[
    "bearer",
    "basic",
    "token",
    "digest",
    "ntlm",
    "negotiate",
    "apikey",
    "sharedkey",
    "sso-key",
];

fn authorization_headers(haystack: &str, masks: &mut Vec<Mask>) {
    scan(&AUTHORIZATION_HEADER, haystack, masks, |captures| {
        let value = captures.name("value")?;
        // A scheme with its credential already masked leaves only the scheme name to match,
        // and the scheme itself is not a secret.
        let lower = value.as_str().to_ascii_lowercase();
        (!AUTHORIZATION_SCHEMES.contains(&lower.as_str())).then_some(Mask {
            range: value.range(),
            kind: RedactionKind::ApiKey,
        })
    });
}

/// `Bearer <token>` outside a header. Sixteen characters or more, so "bearer token" in prose
/// stays.
static BEARER_TOKEN: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)(?-u:\b)bearer[ \t]+(?P<value>[A-Za-z0-9\-._~+/]{16,}=*)"));

fn bearer_tokens(haystack: &str, masks: &mut Vec<Mask>) {
    scan(&BEARER_TOKEN, haystack, masks, |captures| {
        Some(Mask {
            range: captures.name("value")?.range(),
            kind: RedactionKind::ApiKey,
        })
    });
}

/// AWS access key ids (long-term `AKIA`, temporary `ASIA`, and the other documented prefixes).
static AWS_ACCESS_KEY_ID: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}(?-u:\b)",
    )
});

fn aws_access_key_ids(haystack: &str, masks: &mut Vec<Mask>) {
    whole_matches(&AWS_ACCESS_KEY_ID, RedactionKind::ApiKey, haystack, masks);
}

/// A 40-character AWS secret access key near an AWS secret keyword, even without a separator.
static AWS_SECRET_KEY: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)(?-u:\b)aws[a-z0-9_\- ]{0,30}?(?:secret|sk)[a-z0-9_\-]*["']?[ \t]*(?:[:=]|[ \t])[ \t]*["']?(?P<value>[A-Za-z0-9/+]{40})"#,
    )
});

fn aws_secret_keys(haystack: &str, masks: &mut Vec<Mask>) {
    scan(&AWS_SECRET_KEY, haystack, masks, |captures| {
        let value = captures.name("value")?;
        // Exactly forty characters: a longer run is some other blob, left to the blob rule.
        let longer = char_after(haystack, value.end())
            .is_some_and(|next| next.is_ascii_alphanumeric() || matches!(next, '/' | '+'));
        (!longer).then_some(Mask {
            range: value.range(),
            kind: RedactionKind::ApiKey,
        })
    });
}

/// Tokens recognisable by their prefix: GitHub, GitLab, Slack, Anthropic, OpenAI, Stripe, npm,
/// Google API keys, and JWTs (three base64url parts, the first one a JSON object).
static VENDOR_TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?x)(?-u:\b)(?:
            gh[pousr]_[A-Za-z0-9]{30,}
          | github_pat_[A-Za-z0-9_]{30,}
          | gl(?:pat|dt|rt|ptt|ft|cbt|oas|soat|imt)-[A-Za-z0-9_\-]{20,}
          | GR1348941[A-Za-z0-9_\-]{20,}
          | xox[abposr]-[A-Za-z0-9\-]{10,}
          | xapp-[0-9]-[A-Za-z0-9\-]{10,}
          | SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}
          | dop_v1_[a-f0-9]{64}
          | [A-Za-z0-9_~.\-]{3}[0-9]Q~[A-Za-z0-9_~.\-]{31,34}
          | sk-ant-[A-Za-z0-9_\-]{20,}
          | sk-[A-Za-z0-9_\-]{20,}
          | [rs]k_(?:live|test)_[A-Za-z0-9]{16,}
          | npm_[A-Za-z0-9]{36}
          | AIza[0-9A-Za-z_\-]{35}
          | eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*
        )",
    )
});

/// Incoming webhook URLs of Slack, Microsoft Teams (Office 365 connectors) and Discord: the last
/// part of the path is what lets anyone post, so that part is masked and the host stays.
static WEBHOOK_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?x)
            hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9]+/[A-Za-z0-9]+/(?P<slack>[A-Za-z0-9]+)
          | webhook\.office\.com/webhookb2/[^\s/]+/IncomingWebhook/(?P<teams>[A-Za-z0-9]+)
          | discord(?:app)?\.com/api/webhooks/[0-9]+/(?P<discord>[A-Za-z0-9_\-]+)",
    )
});

fn vendor_tokens(haystack: &str, masks: &mut Vec<Mask>) {
    whole_matches(&VENDOR_TOKEN, RedactionKind::ApiKey, haystack, masks);
    scan(&WEBHOOK_SECRET, haystack, masks, |captures| {
        Some(Mask {
            range: first_group(captures, &["slack", "teams", "discord"])?.range(),
            kind: RedactionKind::ApiKey,
        })
    });
}

/// A run of 32 or more base64/base64url/hex characters; `looks_random` decides.
static BLOB: LazyLock<Regex> = LazyLock::new(|| compile(r"[A-Za-z0-9+/_\-]{32,}={0,2}"));

fn high_entropy_blobs(haystack: &str, masks: &mut Vec<Mask>) {
    masks.extend(
        BLOB.find_iter(haystack)
            .filter(|found| looks_random(found.as_str()))
            .map(|found| Mask {
                range: found.range(),
                kind: RedactionKind::ApiKey,
            }),
    );
}

/// Random keys mix digits and letters and switch between upper case, lower case and digits
/// often; paths, kebab-case names and CamelCase identifiers have many separators or long runs of
/// one class. Hex needs no such test: a 32-digit hex run is a key or a hash either way.
fn looks_random(candidate: &str) -> bool {
    let body = candidate.trim_end_matches('=');
    let has_digit = body.bytes().any(|byte| byte.is_ascii_digit());
    let has_letter = body.bytes().any(|byte| byte.is_ascii_alphabetic());
    if !has_digit || !has_letter || is_guid(body) {
        return false;
    }
    if body.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return true;
    }
    let separators = body
        .bytes()
        .filter(|byte| !byte.is_ascii_alphanumeric())
        .count();
    if separators * 10 > body.len() {
        return false;
    }
    let classes: Vec<u8> = body
        .bytes()
        .filter(u8::is_ascii_alphanumeric)
        .map(|byte| {
            if byte.is_ascii_digit() {
                0
            } else if byte.is_ascii_uppercase() {
                1
            } else {
                2
            }
        })
        .collect();
    let changes = classes
        .windows(2)
        .filter(|pair| pair.first() != pair.last())
        .count();
    changes * 4 >= classes.len().saturating_sub(1)
}

fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().map(|group| group.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|group| group.bytes().all(|byte| byte.is_ascii_hexdigit()))
}

// 5. E-mail addresses.

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)[a-z0-9._%+\-]+@[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)*\.[a-z]{2,}",
    )
});

fn email_addresses(haystack: &str, masks: &mut Vec<Mask>) {
    whole_matches(&EMAIL, RedactionKind::Email, haystack, masks);
}

// 6. UNC paths.

/// `\\server\share\...`, `\\?\UNC\server\share`, and the same with doubled (JSON-escaped)
/// backslashes. The server must start with a letter or digit, so device paths (`\\.\pipe`,
/// `\\?\C:\`) are not shares.
static UNC_PATH: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)\\{2,4}(?:\?\\{1,2}UNC\\{1,2})?[a-z0-9][^\\/\s"'<>|*?:]*(?:\\{1,2}[^\\\s"'<>|*?]*)*"#,
    )
});

fn unc_paths(haystack: &str, masks: &mut Vec<Mask>) {
    scan(&UNC_PATH, haystack, masks, |captures| {
        let whole = captures.get(0)?;
        let mut previous = haystack.get(..whole.start())?.chars().rev();
        let quote = match previous.next() {
            None => None,
            Some(quote @ ('"' | '\'')) => Some(quote),
            // `C:\\Windows` in an escaped string is a drive path, not a share.
            Some(':') => {
                let drive = previous.next().is_some_and(|c| c.is_ascii_alphabetic())
                    && previous.next().is_none_or(|c| !c.is_alphanumeric());
                if drive {
                    return None;
                }
                None
            }
            Some(other) if other.is_alphanumeric() || matches!(other, '\\' | '/') => return None,
            Some(_) => None,
        };
        let end = match quote {
            // A quoted path may contain spaces, so it runs to the closing quote on its line.
            Some(quote) => {
                let rest = haystack.get(whole.end()..)?;
                let line = rest.split(['\r', '\n']).next().unwrap_or("");
                whole.end() + line.find(quote).unwrap_or(0)
            }
            None => {
                whole.start()
                    + whole
                        .as_str()
                        .trim_end_matches(['.', ',', ';', ':', '!', ')', ']'])
                        .len()
            }
        };
        Some(Mask {
            range: whole.start()..end,
            kind: RedactionKind::UncPath,
        })
    });
}

/// `smb://`, `cifs://` and `file://host/` URLs name a share just as a UNC path does.
static SHARE_URL: LazyLock<Regex> = LazyLock::new(|| {
    compile(r#"(?i)(?-u:\b)(?:smb|cifs|file)://[a-z0-9][^/\s"'<>]*(?:/[^\s"'<>]*)?"#)
});

fn share_urls(haystack: &str, masks: &mut Vec<Mask>) {
    whole_matches(&SHARE_URL, RedactionKind::UncPath, haystack, masks);
}

/// `//server/share` as `mount -t cifs` takes it. Only where a path can start: after a colon it is
/// the rest of a URL (`https://...`), which is not a share.
static FORWARD_SLASH_SHARE: LazyLock<Regex> =
    LazyLock::new(|| compile(r#"//[A-Za-z0-9][A-Za-z0-9.\-_$]*/[^\s"'<>]+"#));

fn forward_slash_shares(haystack: &str, masks: &mut Vec<Mask>) {
    scan(&FORWARD_SLASH_SHARE, haystack, masks, |captures| {
        let whole = captures.get(0)?;
        let starts_path = char_before(haystack, whole.start()).is_none_or(|previous| {
            previous.is_whitespace()
                || matches!(previous, '"' | '\'' | '(' | '=' | '<' | '>' | '[' | ',')
        });
        starts_path.then_some(Mask {
            range: whole.range(),
            kind: RedactionKind::UncPath,
        })
    });
}

// 7 and 8. IP addresses.

/// Runs of characters an IPv6 address (with an embedded IPv4 tail) can contain, with at least
/// one colon; `ipv6_within` trims and parses each run, so this pattern only finds candidates.
static IPV6_RUN: LazyLock<Regex> = LazyLock::new(|| compile(r"[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*"));

/// Four dotted groups of up to three digits; `is_ipv4_address` checks the octets and context.
static IPV4: LazyLock<Regex> =
    LazyLock::new(|| compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"));

/// Both address families in one rule, because an IPv6 address may end in an IPv4 address
/// (`::ffff:192.168.1.1`) and must be masked whole, as one IPv6 address.
fn ip_addresses(haystack: &str, masks: &mut Vec<Mask>) {
    let mut found: Vec<Mask> = IPV6_RUN
        .find_iter(haystack)
        .filter_map(|run| ipv6_within(haystack, run.range()))
        .map(|range| Mask {
            range,
            kind: RedactionKind::Ipv6,
        })
        .collect();
    let ipv6_count = found.len();
    let mut position = 0;
    while let Some(candidate) = IPV4.find_at(haystack, position) {
        let range = candidate.range();
        let inside_ipv6 = found
            .iter()
            .take(ipv6_count)
            .any(|ipv6| ipv6.range.start < range.end && range.start < ipv6.range.end);
        if !inside_ipv6 && is_ipv4_address(haystack, range.clone()) {
            position = range.end;
            found.push(Mask {
                range,
                kind: RedactionKind::Ipv4,
            });
        } else {
            position = next_char_boundary(haystack, range.start);
        }
    }
    found.sort_by_key(|mask| mask.range.start);
    masks.extend(found);
}

/// The IPv6 address in a run of hex digits, colons and dots, with its zone index, if any.
fn ipv6_within(haystack: &str, run: Range<usize>) -> Option<Range<usize>> {
    let text = haystack.get(run.clone())?;
    // Sentence punctuation and a label's colon (`addr:fe80::1`, `fe80::1.`) are not part of the
    // address, but the `::` of a compressed address is.
    let mut start = run.start + (text.len() - text.trim_start_matches('.').len());
    let mut end = run.start + text.trim_end_matches('.').len();
    let untrimmed = haystack.get(start..end)?;
    if untrimmed.ends_with(':') && !untrimmed.ends_with("::") {
        end -= 1;
    }
    if untrimmed.starts_with(':') && !untrimmed.starts_with("::") {
        start += 1;
    }
    let trimmed = haystack.get(start..end)?;
    if trimmed.matches(':').count() < 2
        || !trimmed.bytes().any(|byte| byte.is_ascii_hexdigit())
        || trimmed.parse::<Ipv6Addr>().is_err()
    {
        return None;
    }
    // Eight two-digit groups without `::` is how MAC-48/EUI-64 addresses and Fibre Channel WWNs
    // are written; real IPv6 addresses practically never look like that, and dashed MACs and
    // six-group MACs never parse as IPv6 at all.
    if !trimmed.contains("::") && trimmed.split(':').all(|group| group.len() == 2) {
        return None;
    }
    let mut masked_end = end;
    if haystack.get(end..)?.starts_with('%') {
        let zone = haystack.get(end + 1..)?;
        let zone_length = zone
            .bytes()
            .take_while(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-'))
            .count();
        // A zone is a name or a number; a full stop after it ends the sentence.
        let zone_length = zone
            .get(..zone_length)
            .map_or(0, |name| name.trim_end_matches(['.', '-']).len());
        if zone_length > 0 {
            masked_end = end + 1 + zone_length;
        }
    }
    // `std::string`, `Foo::Bar` and hex inside longer words are not addresses.
    let glued =
        |character: Option<char>| character.is_some_and(|c| c.is_alphanumeric() || c == '_');
    if glued(char_before(haystack, start)) || glued(char_after(haystack, masked_end)) {
        return None;
    }
    Some(start..masked_end)
}

fn is_ipv4_address(haystack: &str, range: Range<usize>) -> bool {
    let (Some(before), Some(after), Some(text)) = (
        haystack.get(..range.start),
        haystack.get(range.end..),
        haystack.get(range.clone()),
    ) else {
        return false;
    };
    // Part of a longer dotted number such as the build `10.0.19045.1234`.
    if continues_number(before.chars().rev()) || continues_number(after.chars()) {
        return false;
    }
    let mut octets = [0u8; 4];
    for (octet, part) in octets.iter_mut().zip(text.split('.')) {
        match part.parse::<u8>() {
            Ok(value) => *octet = value,
            Err(_) => return false,
        }
    }
    let value = u32::from_be_bytes(octets);
    let is_subnet_mask = octets[0] == 255 && value.leading_ones() + value.trailing_zeros() == 32;
    if value == 0 || is_subnet_mask {
        return false;
    }
    !follows_version_word(before)
}

fn continues_number(mut characters: impl Iterator<Item = char>) -> bool {
    match characters.next() {
        Some(character) if character.is_ascii_digit() => true,
        Some('.') => characters.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// `version 1.2.3.4`, `v1.2.3.4`, `build: 10.0.0.1`: four dotted numbers after a version word
/// are a version, and nobody writes an address there.
fn follows_version_word(before: &str) -> bool {
    let trimmed = before.trim_end_matches([' ', '\t', ':', '.']);
    let word_start = trimmed
        .char_indices()
        .rev()
        .take_while(|(_, character)| character.is_ascii_alphabetic())
        .last()
        .map_or(trimmed.len(), |(index, _)| index);
    let word = trimmed.get(word_start..).unwrap_or("").to_ascii_lowercase();
    matches!(
        word.as_str(),
        "v" | "ver" | "version" | "build" | "release" | "rev" | "revision" | "firmware" | "fw"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use RedactionKind::*;
    use proptest::prelude::*;

    fn counts_of(entries: &[(RedactionKind, usize)]) -> RedactionCounts {
        let mut counts = RedactionCounts::default();
        for (kind, count) in entries {
            counts.add(*kind, *count);
        }
        counts
    }

    const RSA_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\n\
        MIIEowIBAAKCAQEAx3J5Zp0r0kq7y4XbWQ8bPvX8Z6kq2N1u4T0v8QpQe1mX8b1Y\n\
        r1Yk3o5sJ2mQ==\n\
        -----END RSA PRIVATE KEY-----";

    /// Input, expected output, and the expected count of each kind masked.
    type Case<'a> = (&'a str, &'a str, Vec<(RedactionKind, usize)>);

    #[test]
    fn redaction_cases() {
        let pem_note = format!("key:\n{RSA_KEY}\nthen restarted");
        let cases: Vec<Case<'_>> = vec![
            // Keyword secrets.
            (
                "Password: hunter2",
                "Password: [REDACTED:password]",
                vec![(Password, 1)],
            ),
            (
                "password=hunter2;",
                "password=[REDACTED:password];",
                vec![(Password, 1)],
            ),
            (
                "pwd=S3cr3t!",
                "pwd=[REDACTED:password]",
                vec![(Password, 1)],
            ),
            (
                r#"{"user": "bob", "password": "p@ss word"}"#,
                r#"{"user": "bob", "password": "[REDACTED:password]"}"#,
                vec![(Password, 1)],
            ),
            (
                "New-LocalUser bob -Password 'Winter2026!'",
                "New-LocalUser bob -Password '[REDACTED:password]'",
                vec![(Password, 1)],
            ),
            (
                "set psk to Sup3rSecret",
                "set psk to [REDACTED:password]",
                vec![(Password, 1)],
            ),
            (
                "the password is hunter2",
                "the password is [REDACTED:password]",
                vec![(Password, 1)],
            ),
            (
                "password was reset to Autumn2025",
                "password was reset to [REDACTED:password]",
                vec![(Password, 1)],
            ),
            (
                "msbuild /p:Secr3t",
                "msbuild /p:[REDACTED:password]",
                vec![(Password, 1)],
            ),
            (
                "DB_PASSWORD=abc123",
                "DB_PASSWORD=[REDACTED:password]",
                vec![(Password, 1)],
            ),
            (
                "adminPass: xyzzy",
                "adminPass: [REDACTED:password]",
                vec![(Password, 1)],
            ),
            (
                "PW: letmein",
                "PW: [REDACTED:password]",
                vec![(Password, 1)],
            ),
            (
                "plink -pw s3cret host",
                "plink -pw [REDACTED:password] host",
                vec![(Password, 1)],
            ),
            (
                "Pre-shared key: abc-def",
                "Pre-shared key: [REDACTED:password]",
                vec![(Password, 1)],
            ),
            (
                "Key Content : WifiPass99",
                "Key Content : [REDACTED:password]",
                vec![(Password, 1)],
            ),
            (
                "<AdministratorPassword><Value>P@ss w0rd</Value></AdministratorPassword>",
                "<AdministratorPassword><Value>[REDACTED:password]</Value></AdministratorPassword>",
                vec![(Password, 1)],
            ),
            (
                "client_secret=abc.def",
                "client_secret=[REDACTED:password]",
                vec![(Password, 1)],
            ),
            (
                "api-key: 12345",
                "api-key: [REDACTED:api_key]",
                vec![(ApiKey, 1)],
            ),
            (
                r#""access_token": "opaque""#,
                r#""access_token": "[REDACTED:api_key]""#,
                vec![(ApiKey, 1)],
            ),
            (
                "$p = ConvertTo-SecureString 'Hunter2!' -AsPlainText -Force",
                "$p = ConvertTo-SecureString '[REDACTED:password]' -AsPlainText -Force",
                vec![(Password, 1)],
            ),
            (
                "net user jdoe Welcome1! /add",
                "net user jdoe [REDACTED:password] /add",
                vec![(Password, 1)],
            ),
            ("net user jdoe * /add", "net user jdoe * /add", vec![]),
            (
                r"net use Z: \\fs01\data Pa55 /user:CORP\jdoe",
                "net use Z: [REDACTED:unc_path] [REDACTED:password] /user:CORP\\jdoe",
                vec![(Password, 1), (UncPath, 1)],
            ),
            (
                "psexec \\\\pc01 -u admin -p Pa55word cmd",
                "psexec [REDACTED:unc_path] -u admin -p [REDACTED:password] cmd",
                vec![(Password, 1), (UncPath, 1)],
            ),
            (
                "Recovery: 123456-234567-345678-456789-567890-678901-789012-890123",
                "Recovery: [REDACTED:password]",
                vec![(Password, 1)],
            ),
            (
                "reset AD password for jdoe@contoso.com to TempPass123! and logged off",
                "reset AD password for [REDACTED:email] to [REDACTED:password] and logged off",
                vec![(Password, 1), (Email, 1)],
            ),
            (
                "the password for the account is Blue42 now",
                "the password for the account is [REDACTED:password] now",
                vec![(Password, 1)],
            ),
            (
                "Guest Wi-Fi passphrase \"correct horse battery\"",
                "Guest Wi-Fi passphrase \"[REDACTED:password]\"",
                vec![(Password, 1)],
            ),
            (
                "-NewPassword (ConvertTo-SecureString -AsPlainText \"N3w!\" -Force)",
                "-NewPassword (ConvertTo-SecureString -AsPlainText \"[REDACTED:password]\" -Force)",
                vec![(Password, 1)],
            ),
            (
                "-Password (\"lit\")",
                "-Password (\"[REDACTED:password]\")",
                vec![(Password, 1)],
            ),
            (
                "az login -u app -p Sup3r! --tenant x",
                "az login -u app -p [REDACTED:password] --tenant x",
                vec![(Password, 1)],
            ),
            (
                "mysql -u root -pS3cret db",
                "mysql -u root -p[REDACTED:password] db",
                vec![(Password, 1)],
            ),
            (
                "sqlcmd -S sql01 -U sa -P \"P@ss w0rd\"",
                "sqlcmd -S sql01 -U sa -P \"[REDACTED:password]\"",
                vec![(Password, 1)],
            ),
            (
                "curl -u admin:Passw0rd https://x/api",
                "curl -u admin:[REDACTED:password] https://x/api",
                vec![(Password, 1)],
            ),
            // API keys and tokens.
            (
                "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "aws_access_key_id = [REDACTED:api_key]\naws_secret_access_key = [REDACTED:api_key]",
                vec![(ApiKey, 2)],
            ),
            (
                "AWS secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "AWS secret [REDACTED:api_key]",
                vec![(ApiKey, 1)],
            ),
            (
                "token ghp_abcdefghijklmnopqrstuvwxyz0123456789 used",
                "token [REDACTED:api_key] used",
                vec![(ApiKey, 1)],
            ),
            (
                "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.abc123def456",
                "Authorization: Bearer [REDACTED:api_key]",
                vec![(ApiKey, 1)],
            ),
            (
                "Authorization: Basic dXNlcjpwYXNz",
                "Authorization: Basic [REDACTED:api_key]",
                vec![(ApiKey, 1)],
            ),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig_nature-1",
                "jwt [REDACTED:api_key]",
                vec![(ApiKey, 1)],
            ),
            (
                "curl -H 'x' --oauth2-bearer abcdefghij0123456789",
                "curl -H 'x' --oauth2-bearer [REDACTED:api_key]",
                vec![(ApiKey, 1)],
            ),
            (
                "slack xoxb-123456789012-abcdefghijkl and sk-ant-api03-abcdefghijklmnopqrstuv",
                "slack [REDACTED:api_key] and [REDACTED:api_key]",
                vec![(ApiKey, 2)],
            ),
            (
                "maps AIzaSyA1234567890abcdefghijklmnopqrstuv",
                "maps [REDACTED:api_key]",
                vec![(ApiKey, 1)],
            ),
            (
                "hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "hash [REDACTED:api_key]",
                vec![(ApiKey, 1)],
            ),
            (
                "blob Zm9vYmFyMTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3A=",
                "blob [REDACTED:api_key]",
                vec![(ApiKey, 1)],
            ),
            // Private keys.
            (
                pem_note.as_str(),
                "key:\n[REDACTED:private_key]\nthen restarted",
                vec![(PrivateKey, 1)],
            ),
            (
                "pasted: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nand more",
                "pasted: [REDACTED:private_key]",
                vec![(PrivateKey, 1)],
            ),
            // Connection strings.
            (
                "Server=sql01;Database=crm;User Id=sa;Password=P@ss;",
                "Server=sql01;Database=crm;User Id=sa;Password=[REDACTED:connection_string];",
                vec![(ConnectionString, 1)],
            ),
            (
                r#"-ConnectionString "Data Source=db;Initial Catalog=x;Pwd=my secret""#,
                r#"-ConnectionString "Data Source=db;Initial Catalog=x;Pwd=[REDACTED:connection_string]""#,
                vec![(ConnectionString, 1)],
            ),
            (
                "Driver={ODBC Driver 18};Server=x;PWD={a;b}}c};",
                "Driver={ODBC Driver 18};Server=x;PWD={[REDACTED:connection_string]};",
                vec![(ConnectionString, 1)],
            ),
            (
                "postgres://app:pw123@db.internal:5432/x",
                "postgres://app:[REDACTED:connection_string]@db.internal:5432/x",
                vec![(ConnectionString, 1)],
            ),
            (
                "redis://:p@ss@cache:6379",
                "redis://:[REDACTED:connection_string]@cache:6379",
                vec![(ConnectionString, 1)],
            ),
            // E-mail, UNC paths.
            (
                "mail jane.doe@contoso.com today",
                "mail [REDACTED:email] today",
                vec![(Email, 1)],
            ),
            (
                r"\\fs01\Finance$\Q3",
                "[REDACTED:unc_path]",
                vec![(UncPath, 1)],
            ),
            (
                r"open \\fs01\share.",
                "open [REDACTED:unc_path].",
                vec![(UncPath, 1)],
            ),
            (
                r#"map "\\fs01\Finance Dept\Q3 Reports" now"#,
                r#"map "[REDACTED:unc_path]" now"#,
                vec![(UncPath, 1)],
            ),
            (
                r"\\?\UNC\fs01\share\x",
                "[REDACTED:unc_path]",
                vec![(UncPath, 1)],
            ),
            (
                r#"{"path": "\\\\fs01\\share"}"#,
                r#"{"path": "[REDACTED:unc_path]"}"#,
                vec![(UncPath, 1)],
            ),
            (
                "mount -t cifs //fs01/share /mnt",
                "mount -t cifs [REDACTED:unc_path] /mnt",
                vec![(UncPath, 1)],
            ),
            (
                "smb://fs01/share/x",
                "[REDACTED:unc_path]",
                vec![(UncPath, 1)],
            ),
            // IPv4.
            (
                "ping 192.168.10.25 ok",
                "ping [REDACTED:ipv4] ok",
                vec![(Ipv4, 1)],
            ),
            (
                "subnet 10.0.0.1/24",
                "subnet [REDACTED:ipv4]/24",
                vec![(Ipv4, 1)],
            ),
            (
                "rdp 10.1.2.3:3389.",
                "rdp [REDACTED:ipv4]:3389.",
                vec![(Ipv4, 1)],
            ),
            (
                "https://10.0.0.5:8443/",
                "https://[REDACTED:ipv4]:8443/",
                vec![(Ipv4, 1)],
            ),
            (r"\\10.0.0.5\c$", "[REDACTED:unc_path]", vec![(UncPath, 1)]),
            // IPv6.
            (
                "addr 2001:db8::8a2e:370:7334",
                "addr [REDACTED:ipv6]",
                vec![(Ipv6, 1)],
            ),
            ("fe80::1%eth0 up", "[REDACTED:ipv6] up", vec![(Ipv6, 1)]),
            ("gw fe80::1.", "gw [REDACTED:ipv6].", vec![(Ipv6, 1)]),
            ("via fe80::1%eth0.", "via [REDACTED:ipv6].", vec![(Ipv6, 1)]),
            (
                "https://[::1]:443/",
                "https://[[REDACTED:ipv6]]:443/",
                vec![(Ipv6, 1)],
            ),
            (
                "mapped ::ffff:192.168.1.1",
                "mapped [REDACTED:ipv6]",
                vec![(Ipv6, 1)],
            ),
            (
                "addr:2001:db8::1/64",
                "addr:[REDACTED:ipv6]/64",
                vec![(Ipv6, 1)],
            ),
            (
                "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
                "[REDACTED:ipv6]",
                vec![(Ipv6, 1)],
            ),
            // Several kinds at once, and a marker already present.
            (
                "Password: hunter2 from 10.0.0.7 and 10.0.0.8",
                "Password: [REDACTED:password] from [REDACTED:ipv4] and [REDACTED:ipv4]",
                vec![(Password, 1), (Ipv4, 2)],
            ),
            (
                "Password: [REDACTED:password]",
                "Password: [REDACTED:password]",
                vec![],
            ),
            // Secrets that need no English keyword (the corpus test has many more).
            (
                "snmpwalk -v2c -c public123 10.0.0.1",
                "snmpwalk -v2c -c [REDACTED:snmp_community] [REDACTED:ipv4]",
                vec![(SnmpCommunity, 1), (Ipv4, 1)],
            ),
            (
                "community string: Xy7pQ2rT9w",
                "community string: [REDACTED:snmp_community]",
                vec![(SnmpCommunity, 1)],
            ),
            (
                "slmgr /ipk NPPR9-FWDCX-D2C8J-H872K-2YT43",
                "slmgr /ipk [REDACTED:product_key]",
                vec![(ProductKey, 1)],
            ),
            (
                "Kennwort lautet Winter#2025",
                "Kennwort lautet [REDACTED:password]",
                vec![(Password, 1)],
            ),
            (
                "creds: admin / Pa55w0rd!",
                "creds: admin / [REDACTED:password]",
                vec![(Password, 1)],
            ),
            (
                "CONTOSO\\jdoe Summer2024!",
                "CONTOSO\\jdoe [REDACTED:password]",
                vec![(Password, 1)],
            ),
            (
                "passcode 482913",
                "passcode [REDACTED:password]",
                vec![(Password, 1)],
            ),
            (
                "otpauth://totp/x:y?secret=JBSWY3DPEHPK3PXP&issuer=x",
                "otpauth://totp/x:y?secret=[REDACTED:password]&issuer=x",
                vec![(Password, 1)],
            ),
            // Negatives that must stay untouched.
            ("the token is valid now", "the token is valid now", vec![]),
            (
                "set password to never expire",
                "set password to never expire",
                vec![],
            ),
            ("The password is expired", "The password is expired", vec![]),
            ("Password: see IT Glue", "Password: see IT Glue", vec![]),
            ("Windows 10.0.19045.1234", "Windows 10.0.19045.1234", vec![]),
            ("version 1.2.3", "version 1.2.3", vec![]),
            ("agent version 7.2.1.0", "agent version 7.2.1.0", vec![]),
            ("v1.2.3.4", "v1.2.3.4", vec![]),
            ("12:30:45", "12:30:45", vec![]),
            (
                "2024-05-01T10:29:12.123Z",
                "2024-05-01T10:29:12.123Z",
                vec![],
            ),
            ("mac aa:bb:cc:dd:ee:ff", "mac aa:bb:cc:dd:ee:ff", vec![]),
            ("mac AA-BB-CC-DD-EE-FF", "mac AA-BB-CC-DD-EE-FF", vec![]),
            (
                "wwn 20:00:00:25:b5:00:00:0a",
                "wwn 20:00:00:25:b5:00:00:0a",
                vec![],
            ),
            (
                "std::string and Foo::Bar",
                "std::string and Foo::Bar",
                vec![],
            ),
            ("mask 255.255.255.0", "mask 255.255.255.0", vec![]),
            (
                "https://learn.microsoft.com/en-us/troubleshoot",
                "https://learn.microsoft.com/en-us/troubleshoot",
                vec![],
            ),
            (
                "https://learn.microsoft.com/en-us/windows/release-health/windows11-release-information",
                "https://learn.microsoft.com/en-us/windows/release-health/windows11-release-information",
                vec![],
            ),
            ("ssh -p 2222 host", "ssh -p 2222 host", vec![]),
            ("mkdir -p /var/x", "mkdir -p /var/x", vec![]),
            ("-Password $secure", "-Password $secure", vec![]),
            (
                "reset the password for the user and closed",
                "reset the password for the user and closed",
                vec![],
            ),
            (
                r#"Click "Reset password" then "OK""#,
                r#"Click "Reset password" then "OK""#,
                vec![],
            ),
            ("passed the test", "passed the test", vec![]),
            (
                "The password policy requires 12 characters",
                "The password policy requires 12 characters",
                vec![],
            ),
            ("Bypass: none", "Bypass: none", vec![]),
            (
                "PasswordNeverExpires : False",
                "PasswordNeverExpires : False",
                vec![],
            ),
            (
                "PasswordLastSet : 01/02/2024",
                "PasswordLastSet : 01/02/2024",
                vec![],
            ),
            ("Password: ", "Password: ", vec![]),
            (r#""password": """#, r#""password": """#, vec![]),
            ("uses a bearer token", "uses a bearer token", vec![]),
            (
                "tenant 3f2504e0-4f89-11d3-9a0c-0305e82c3301",
                "tenant 3f2504e0-4f89-11d3-9a0c-0305e82c3301",
                vec![],
            ),
            (r"C:\\Windows\\System32", r"C:\\Windows\\System32", vec![]),
            (r"\\.\PhysicalDrive0", r"\\.\PhysicalDrive0", vec![]),
            (
                "Get-Credential -UserName admin",
                "Get-Credential -UserName admin",
                vec![],
            ),
            (
                "Microsoft-Windows-TerminalServices-LocalSessionManager",
                "Microsoft-Windows-TerminalServices-LocalSessionManager",
                vec![],
            ),
        ];
        for (input, expected, counts) in cases {
            let (actual, actual_counts) = redact(input);
            assert_eq!(actual, expected, "input {input:?}");
            assert_eq!(actual_counts, counts_of(&counts), "counts for {input:?}");
        }
    }

    #[test]
    fn every_pattern_compiles() {
        let patterns: [&LazyLock<Regex>; 32] = [
            &MARKER,
            &PRIVATE_KEY,
            &ADO_PASSWORD,
            &ADO_CONTEXT,
            &URL_CREDENTIALS,
            &KEYWORD_SECRET,
            &KEYWORD_FOR_SECRET,
            &SECURE_STRING_LITERAL,
            &COMMAND_LINE_PASSWORD,
            &MORE_COMMAND_LINE_PASSWORDS,
            &SNMP_COMMUNITY,
            &NETWORK_DEVICE_SECRET,
            &PRODUCT_KEY,
            &USER_PASSWORD_PAIR,
            &ACCOUNT_THEN_PASSWORD,
            &NOT_A_SECRET_SHAPE,
            &PUTTY_PRIVATE_LINES,
            &WEBHOOK_SECRET,
            &WIFI_CONTEXT,
            &BITLOCKER_RECOVERY,
            &AUTHORIZATION_HEADER,
            &BEARER_TOKEN,
            &AWS_ACCESS_KEY_ID,
            &AWS_SECRET_KEY,
            &VENDOR_TOKEN,
            &BLOB,
            &EMAIL,
            &UNC_PATH,
            &SHARE_URL,
            &FORWARD_SLASH_SHARE,
            &IPV6_RUN,
            &IPV4,
        ];
        for pattern in patterns {
            LazyLock::force(pattern);
        }
    }

    #[test]
    fn every_marker_is_recognised_and_named_like_its_kind() -> Result<(), serde_json::Error> {
        for kind in [
            PrivateKey,
            ConnectionString,
            Password,
            ApiKey,
            Email,
            UncPath,
            Ipv4,
            Ipv6,
            SnmpCommunity,
            ProductKey,
        ] {
            let marker = kind.marker();
            assert!(
                MARKER
                    .find(marker)
                    .is_some_and(|found| found.as_str() == marker)
            );
            let name = serde_json::to_string(&kind)?;
            assert_eq!(marker, format!("[REDACTED:{}]", name.trim_matches('"')));
        }
        Ok(())
    }

    #[test]
    fn counts_display_their_summary() {
        assert_eq!(RedactionCounts::default().to_string(), "nothing masked");
        assert_eq!(
            counts_of(&[(Password, 1)]).to_string(),
            "1 item masked: 1 password"
        );
        assert_eq!(
            counts_of(&[(Ipv4, 2), (Password, 1)]).to_string(),
            "3 items masked: 1 password, 2 IPv4 addresses"
        );
        assert_eq!(
            counts_of(&[(Email, 1), (ApiKey, 2), (UncPath, 1)]).to_string(),
            "4 items masked: 2 API keys or tokens, 1 e-mail address, 1 UNC path"
        );
    }

    #[test]
    fn counts_merge_and_serialise_as_a_map() -> Result<(), serde_json::Error> {
        let mut counts = counts_of(&[(Password, 1)]);
        counts.merge(&counts_of(&[(Password, 2), (Ipv6, 1)]));
        assert_eq!(counts.total(), 4);
        assert_eq!(counts.get(Password), 3);
        assert_eq!(counts.get(Email), 0);
        assert!(!counts.is_empty());
        assert_eq!(
            counts.iter().collect::<Vec<_>>(),
            vec![(Password, 3), (Ipv6, 1)]
        );
        let json = serde_json::to_string(&counts)?;
        assert_eq!(json, r#"{"password":3,"ipv6":1}"#);
        assert_eq!(serde_json::from_str::<RedactionCounts>(&json)?, counts);
        // A zero read from a file is the same tally as no entry at all.
        let with_zero: RedactionCounts = serde_json::from_str(r#"{"email":0}"#)?;
        assert!(with_zero.is_empty());
        assert_eq!(with_zero, RedactionCounts::default());
        Ok(())
    }

    #[test]
    fn redactor_accumulates_over_fields() {
        let mut redactor = Redactor::new();
        assert_eq!(redactor.redact("pwd=abc"), "pwd=[REDACTED:password]");
        assert_eq!(redactor.redact("no secrets here"), "no secrets here");
        assert_eq!(redactor.redact("from 10.0.0.1"), "from [REDACTED:ipv4]");
        assert_eq!(redactor.counts(), &counts_of(&[(Password, 1), (Ipv4, 1)]));
        // A repeated field comes from memory but is counted again, as it appears again.
        assert_eq!(redactor.redact("pwd=abc"), "pwd=[REDACTED:password]");
        assert_eq!(redactor.counts(), &counts_of(&[(Password, 2), (Ipv4, 1)]));
        assert_eq!(redactor.into_counts().total(), 3);
    }

    #[test]
    fn redaction_is_idempotent_on_the_case_inputs() {
        let note = "Server=sql01;Password=P@ss;\nPassword: hunter2\n\\\\fs01\\x 10.0.0.1 fe80::1%eth0 \
                    a@b.com ghp_abcdefghijklmnopqrstuvwxyz0123456789\n-----BEGIN PRIVATE KEY-----\nabc";
        let (once, first) = redact(note);
        let (twice, second) = redact(&once);
        assert_eq!(twice, once);
        assert!(second.is_empty(), "second pass masked {second}");
        assert_eq!(first.total(), 8, "{first}");
    }

    /// Pieces that sit on the edges of the rules, so that random concatenations probe how rules
    /// interact with each other and with markers.
    const FRAGMENTS: &[&str] = &[
        "password",
        "Password: ",
        "pwd=",
        "pass",
        " is ",
        " to ",
        "-Password ",
        "token",
        "=",
        ":",
        "::",
        ";",
        ",",
        "\"",
        "'",
        " ",
        "\n",
        "\\\\",
        "\\",
        "/",
        "//",
        "@",
        ".",
        "%eth0",
        "]",
        "[",
        "1",
        "10.0.0.1",
        "255",
        "fe80::1",
        "2001:db8::",
        "ffff:",
        "a@b.co",
        "Server=x;",
        "Password=",
        "postgres://u:p@h",
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----END RSA PRIVATE KEY-----",
        "[REDACTED:ipv4]",
        "[REDACTED:",
        "REDACTED",
        "Bearer ",
        "Authorization: ",
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "eyJhbGciOi.eyJzdWIi.x",
        "0123456789abcdef0123456789abcdef",
        "net user a ",
        "<Password>",
        "</Password>",
        "smb://",
        "é",
        "ſ",
        "\u{212A}",
        "12:30:45",
        "aa:bb:cc:dd:ee:ff:00:11",
        "CONTOSO\\jdoe ",
        "jdoe@contoso.com / ",
        "snmpwalk -v2c -c ",
        "rocommunity ",
        "community string: ",
        "creds: admin / ",
        "login ",
        " / ",
        "PIN ",
        "passcode ",
        " lautet ",
        "mot de passe : ",
        "Summer2024!",
        "482913",
        "NPPR9-FWDCX-D2C8J-H872K-2YT43",
        "123456-234567-345678-456789-567890-678901-789012-890123",
        "enable secret ",
        "set passwd ",
        "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&issuer=x",
        "jbsw y3dp ehpk 3pxp",
        "Private-Lines: 1\n",
        "hooks.slack.com/services/T1/B2/",
        "[REDACTED:snmp_community]",
    ];

    fn tricky_text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                3 => prop::sample::select(FRAGMENTS).prop_map(str::to_owned),
                1 => "\\PC{0,6}",
            ],
            0..24,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn redaction_is_idempotent(text in tricky_text()) {
            let (once, _) = redact(&text);
            let (twice, counts) = redact(&once);
            prop_assert_eq!(&twice, &once);
            prop_assert!(counts.is_empty(), "second pass masked {}", counts);
        }

        #[test]
        fn no_input_panics_and_every_mask_is_counted(text in any::<String>()) {
            let (redacted, counts) = redact(&text);
            let markers_before = MARKER.find_iter(&text).count();
            let markers_after = MARKER.find_iter(&redacted).count();
            prop_assert_eq!(markers_after - markers_before, counts.total());
        }

        #[test]
        fn clues_only_skip_rules_that_would_mask_nothing(text in tricky_text()) {
            prop_assert_eq!(redact_in_rounds(&text, true), redact_in_rounds(&text, false));
        }

        #[test]
        fn clues_only_skip_rules_that_would_mask_nothing_in_any_text(text in any::<String>()) {
            prop_assert_eq!(redact_in_rounds(&text, true), redact_in_rounds(&text, false));
        }

        #[test]
        fn fragments_never_panic_and_every_mask_is_counted(text in tricky_text()) {
            let (redacted, counts) = redact(&text);
            let markers_before = MARKER.find_iter(&text).count();
            let markers_after = MARKER.find_iter(&redacted).count();
            prop_assert_eq!(markers_after - markers_before, counts.total());
        }
    }
}
