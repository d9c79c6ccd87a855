//! A team's PSA (ConnectWise Manage) connection as the layers share it: what is stored, with
//! its keys sealed ([`StoredPsaConnection`]), and what a caller holds once they are opened
//! ([`PsaConnection`], whose `Debug` never shows a key).

use uuid::Uuid;

/// A secret sealed with one of the server's secrets keys (XChaCha20-Poly1305): the key's id,
/// the random nonce and the ciphertext with its tag. The team's id is bound in as associated
/// data, so a sealed value copied to another team's row does not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The first 16 hex digits of the SHA-256 of the key that sealed it.
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// A team's connection as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPsaConnection {
    pub team_id: Uuid,
    /// The REST API's base, ending in `/apis/3.0/`.
    pub api_url: String,
    pub company_id: String,
    /// The integration's client id for this team, when it differs from the server's.
    pub client_id: Option<String>,
    /// The public and private API keys ([`PsaKeys`] as JSON), sealed.
    pub sealed_keys: Sealed,
    /// The last four characters of the public key, to tell keys apart without showing them.
    pub public_key_hint: String,
    pub updated_at: i64,
    pub updated_by: Uuid,
}

/// The API member's key pair, as sealed in [`StoredPsaConnection::sealed_keys`].
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PsaKeys {
    pub public_key: String,
    pub private_key: String,
}

impl std::fmt::Debug for PsaKeys {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("PsaKeys { .. }")
    }
}

/// A team's connection with its keys opened, ready to call ConnectWise with.
#[derive(Debug, Clone)]
pub struct PsaConnection {
    pub api_url: String,
    pub company_id: String,
    /// The client id every call sends (the team's, else the server's).
    pub client_id: String,
    pub keys: PsaKeys,
}
