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

/// Where a post to a ticket stands on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostState {
    /// A server is posting it now (until `lease_until`); a server that stopped half-way leaves
    /// it so, and the next attempt after the lease treats it as [`PostState::Ambiguous`].
    Sending,
    /// The note may or may not be on the ticket (sent, answer lost): the ticket's notes are
    /// read for its marker before it is sent again.
    Ambiguous,
    /// The note is on the ticket.
    Posted,
    /// ConnectWise refused it: it is not on the ticket.
    Failed,
}

impl PostState {
    pub fn as_str(self) -> &'static str {
        match self {
            PostState::Sending => "sending",
            PostState::Ambiguous => "ambiguous",
            PostState::Posted => "posted",
            PostState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<PostState> {
        Some(match text {
            "sending" => PostState::Sending,
            "ambiguous" => PostState::Ambiguous,
            "posted" => PostState::Posted,
            "failed" => PostState::Failed,
            _ => return None,
        })
    }
}

/// One post to a ticket, under the idempotency key its replica chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostRow {
    pub team_id: Uuid,
    pub key: Uuid,
    pub requested_by: Uuid,
    pub ticket_id: i64,
    /// The SHA-256 of the request, so a key is never spent on two different posts.
    pub digest: String,
    pub state: PostState,
    pub lease_until: i64,
    pub attempts: i64,
    pub note_id: Option<i64>,
    pub posted_at: Option<i64>,
    /// The status change asked for is made (or none was asked for).
    pub status_done: bool,
    /// The time entry asked for is made (or none was asked for).
    pub time_done: bool,
    pub time_entry_id: Option<i64>,
    /// Why it failed, or why the status change or time entry failed after the note was posted.
    pub error: Option<String>,
    pub updated_at: i64,
}

/// A request to post, as the claim transaction takes it.
#[derive(Debug, Clone)]
pub struct PostClaim {
    pub team_id: Uuid,
    pub key: Uuid,
    pub requested_by: Uuid,
    pub ticket_id: i64,
    pub digest: String,
    pub wants_status: bool,
    pub wants_time: bool,
    pub now: i64,
    /// How long this server may post before another may take over.
    pub lease_seconds: i64,
}

/// What the claim transaction decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// This server posts now. `check_marker`: the note may already be on the ticket, so the
    /// ticket's notes are read first.
    Go { row: PostRow, check_marker: bool },
    /// Nothing to do: the post's outcome as stored.
    Answer(PostRow),
    /// Another server (or request) is posting it now.
    InProgress { retry_after: u64 },
    /// The key was spent on a different post.
    KeyReused,
}

/// What a server learned from ConnectWise about a claimed post.
#[derive(Debug, Clone)]
pub struct PostSettle {
    pub state: PostState,
    pub note_id: Option<i64>,
    pub posted_at: Option<i64>,
    pub status_done: bool,
    pub time_done: bool,
    pub time_entry_id: Option<i64>,
    pub error: Option<String>,
    pub now: i64,
}
