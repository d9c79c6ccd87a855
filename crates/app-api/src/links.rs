//! `resolutionflow://` links, as a PSA or a teammate's chat hands them to the app:
//!
//! - `resolutionflow://run/<flow>?ticket=T&client=C&var.NAME=V` opens the start screen for
//!   the flow (its id, a unique id prefix or its exact title), prefilled;
//! - `resolutionflow://session/<id>` opens a session.
//!
//! Parsing is pure so the shell and its tests agree on every spelling; the shell resolves the
//! flow afterwards and says so when nothing (or more than one flow) matches.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The scheme the app registers.
pub const SCHEME: &str = "resolutionflow";

/// Where a link (or the quick-launch switch) sends the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Link {
    /// The start screen of a flow, prefilled.
    Run {
        /// The flow as the link names it: id, unique id prefix or exact title.
        flow: String,
        ticket: String,
        client: String,
        variables: BTreeMap<String, String>,
    },
    /// A session in the runner (or its detail, once finished).
    Session { id: Uuid },
    /// The quick launcher.
    QuickLaunch,
}

/// Reads a `resolutionflow://` link; the error says what is wrong with it, for people.
pub fn parse(link: &str) -> Result<Link, String> {
    let link = link.trim();
    let rest = link
        .strip_prefix(SCHEME)
        .and_then(|rest| rest.strip_prefix("://"))
        .ok_or_else(|| format!("“{link}” is not a {SCHEME}:// link"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = path.trim_end_matches('/');
    let (action, target) = path.split_once('/').unwrap_or((path, ""));
    let target = decode(target)?;
    match action {
        "run" => {
            if target.trim().is_empty() {
                return Err(format!(
                    "the link names no flow: write {SCHEME}://run/<flow id or title>"
                ));
            }
            let mut ticket = String::new();
            let mut client = String::new();
            let mut variables = BTreeMap::new();
            for pair in query.split('&').filter(|pair| !pair.is_empty()) {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                let (key, value) = (decode(key)?, decode(value)?);
                match key.as_str() {
                    "ticket" => ticket = value,
                    "client" => client = value,
                    _ => {
                        // Unknown parameters are ignored: PSAs add their own.
                        if let Some(name) = key.strip_prefix("var.").filter(|n| !n.is_empty()) {
                            variables.insert(name.to_string(), value);
                        }
                    }
                }
            }
            Ok(Link::Run {
                flow: target,
                ticket,
                client,
                variables,
            })
        }
        "session" => Uuid::parse_str(target.trim())
            .map(|id| Link::Session { id })
            .map_err(|_| format!("“{target}” is not a session id")),
        "quick-launch" => Ok(Link::QuickLaunch),
        "" => Err(format!(
            "the link says nothing to do: write {SCHEME}://run/<flow> or {SCHEME}://session/<id>"
        )),
        other => Err(format!(
            "“{other}” is not something a {SCHEME}:// link can do (run or session)"
        )),
    }
}

/// Percent-decoding, with `+` as a space (as form-encoded queries write it).
fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let hex = bytes
                    .get(index + 1..index + 3)
                    .and_then(|pair| std::str::from_utf8(pair).ok())
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or_else(|| format!("“{text}” has a broken %-escape"))?;
                out.push(hex);
                index += 3;
            }
            b'+' => {
                out.push(b' ');
                index += 1;
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("“{text}” does not decode to text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_link_carries_ticket_client_and_variables() {
        let link = parse(
            "resolutionflow://run/File%20share%20access?ticket=T-1042&client=Acme+Dental&var.share=%5C%5Cfs01%5Cdata&utm=psa",
        )
        .unwrap();
        assert_eq!(
            link,
            Link::Run {
                flow: "File share access".into(),
                ticket: "T-1042".into(),
                client: "Acme Dental".into(),
                variables: [("share".to_string(), r"\\fs01\data".to_string())].into(),
            }
        );
    }

    #[test]
    fn session_links_and_bad_links() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(
            parse(&format!("resolutionflow://session/{id}/")),
            Ok(Link::Session { id })
        );
        assert!(parse("resolutionflow://session/nope").is_err());
        assert!(parse("https://example.com/run/x").is_err());
        assert!(
            parse("resolutionflow://run/")
                .unwrap_err()
                .contains("no flow")
        );
        assert!(parse("resolutionflow://delete/x").is_err());
        assert!(parse("resolutionflow://run/a%zz").is_err());
        assert!(parse("resolutionflow://run/%ff%fe").is_err());
        assert_eq!(
            parse("resolutionflow://quick-launch"),
            Ok(Link::QuickLaunch)
        );
    }
}
