//! Flow version identity: a version is named by the SHA-256 of its canonical document (the
//! compact JSON form without the flow's `id`). Two devices that write the same document name
//! the same version without talking to each other, and two different documents never share a
//! name, so versions made offline on different replicas cannot collide when they sync.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::flow::Flow;

/// The SHA-256 of `bytes` in 64 lowercase hex digits: how content-addressed things are named
/// (flow versions, session attachments).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `text` is a SHA-256 as [`sha256_hex`] writes it: 64 lowercase hex digits.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

/// The content address of one flow version. Written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VersionId([u8; 32]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not a flow version id (64 hex digits)")]
pub struct VersionIdError {
    pub given: String,
}

impl VersionId {
    /// The version id of a document. The flow's `id` is left out, so a file imported with or
    /// without its id is the same version.
    pub fn of(flow: &Flow) -> VersionId {
        let mut anonymous = flow.clone();
        anonymous.id = None;
        VersionId(Sha256::digest(anonymous.to_json_compact().as_bytes()).into())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> VersionId {
        VersionId(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first eight hex digits, for people (like a short git commit id).
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VersionId({})", self.short())
    }
}

impl FromStr for VersionId {
    type Err = VersionIdError;

    fn from_str(text: &str) -> Result<VersionId, VersionIdError> {
        let error = || VersionIdError {
            given: text.chars().take(80).collect(),
        };
        if !is_sha256_hex(text) {
            return Err(error());
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| error())?;
        Ok(VersionId(bytes))
    }
}

impl Serialize for VersionId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for VersionId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<VersionId, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// In the OpenAPI document a version id is what it is on the wire: 64 lowercase hex digits.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for VersionId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[0-9a-f]{64}$"))
            .description(Some(
                "A flow version id: the SHA-256 of the version's canonical document, in lowercase hex.",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for VersionId {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lowercase_sha256_hex_names_a_hash() {
        assert!(is_sha256_hex(&sha256_hex(b"anything")));
        assert!(is_sha256_hex(&"ab".repeat(32)));
        assert!(!is_sha256_hex(&"AB".repeat(32)));
        assert!(!is_sha256_hex(&"ab".repeat(31)));
        assert!(!is_sha256_hex("../../etc/passwd"));
        assert!(!is_sha256_hex(&format!("{}/x", "a".repeat(62))));
    }

    const FLOW: &str = r#"{"format":"resolutionflow/v1","kind":"troubleshooting","title":"T",
        "start":"a","nodes":[{"id":"a","type":"resolution","title":"Done","outcome":"resolved"}]}"#;

    #[test]
    fn the_id_ignores_the_flow_id_and_follows_the_content() {
        let plain = Flow::parse(FLOW).unwrap();
        let mut with_id = plain.clone();
        with_id.id = Some(uuid::Uuid::from_u128(7));
        assert_eq!(VersionId::of(&plain), VersionId::of(&with_id));
        let mut edited = plain.clone();
        edited.title = "T2".into();
        assert_ne!(VersionId::of(&plain), VersionId::of(&edited));
    }

    #[test]
    fn text_form_round_trips_and_refuses_anything_else() {
        let id = VersionId::of(&Flow::parse(FLOW).unwrap());
        let text = id.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<VersionId>().unwrap(), id);
        assert_eq!(id.short(), text[..8]);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<VersionId>(&json).unwrap(), id);
        for bad in [
            "",
            "12",
            &text.to_uppercase(),
            &format!("{text}0"),
            &"g".repeat(64),
        ] {
            assert!(bad.parse::<VersionId>().is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<VersionId>("3").is_err());
    }

    #[cfg(feature = "openapi")]
    #[test]
    fn the_openapi_schema_describes_the_text_form() {
        let schema = serde_json::to_value(<VersionId as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(schema["type"], "string");
        let pattern = regex::Regex::new(schema["pattern"].as_str().unwrap()).unwrap();
        let id = VersionId::of(&Flow::parse(FLOW).unwrap());
        assert!(pattern.is_match(&id.to_string()));
        assert!(!pattern.is_match(&id.to_string().to_uppercase()));
    }
}
