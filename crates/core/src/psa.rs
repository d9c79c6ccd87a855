//! What crosses the wire between a replica and the sync server about the team's PSA
//! (ConnectWise Manage): the connection a team admin gives and what is shown of it (never its
//! keys), a ticket as a session needs it, and ConnectWise's members with the team accounts
//! they map to. Plain data; the server's client of ConnectWise makes them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A team's connection to ConnectWise Manage, as a team admin gives it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PsaConnectRequest {
    /// The REST API's address, ending in `/apis/3.0/`. Give this or `site`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// The ConnectWise site's host name (`na.myconnectwise.net`); the API's address is found
    /// from it. Give this or `api_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The company id signed in with.
    pub company_id: String,
    /// The API member's public key.
    pub public_key: String,
    /// The API member's private key; sealed at rest, never returned.
    pub private_key: String,
    /// The integration's client id, when this team uses its own rather than the server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl std::fmt::Debug for PsaConnectRequest {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PsaConnectRequest")
            .field("api_url", &self.api_url)
            .field("site", &self.site)
            .field("company_id", &self.company_id)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// What ConnectWise said of itself when a connection was checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SystemInfo {
    pub version: Option<String>,
    #[serde(rename = "isCloud")]
    pub is_cloud: Option<bool>,
}

/// The team's connection, without its keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PsaConnectionView {
    /// The REST API's address.
    pub api_url: String,
    pub company_id: String,
    /// The team's own client id, if it has one (else the server's is sent).
    pub client_id: Option<String>,
    /// The public key's last four characters.
    pub public_key_hint: String,
    /// When it was stored (RFC 3339, UTC), and by whom.
    pub updated_at: String,
    pub updated_by: Uuid,
    /// What ConnectWise said when the connection was checked (only in the answer to storing it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked: Option<SystemInfo>,
}

/// A company as a ticket names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketCompany {
    pub id: Option<i64>,
    /// The short identifier (`ACME`).
    pub identifier: Option<String>,
    pub name: Option<String>,
}

/// What a session needs of a ticket: to prefill it and to show what it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketSummary {
    pub id: i64,
    pub summary: String,
    pub company: Option<TicketCompany>,
    /// The contact's name.
    pub contact: Option<String>,
    pub contact_email: Option<String>,
    pub board: Option<String>,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub closed: bool,
}

/// A ConnectWise member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PsaMember {
    pub id: i64,
    /// The member's identifier (`jsmith`), what time entries name.
    pub identifier: String,
    pub name: String,
    pub email: Option<String>,
}

/// A team admin's mapping of a team account to a ConnectWise member, where their e-mails
/// differ (`null` removes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MemberMapping {
    pub member_identifier: Option<String>,
}

/// A ConnectWise member, with the team account it maps to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MappedMember {
    #[serde(flatten)]
    pub member: PsaMember,
    /// The team account whose e-mail is the member's, if one is.
    pub user_id: Option<Uuid>,
    pub user_email: Option<String>,
}

/// How a note shows on a ticket (ConnectWise's three note types); a post has at least one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NoteFlag {
    /// Internal analysis: seen by the MSP only (the default).
    Internal,
    /// Discussion (detail description): seen by the client.
    Discussion,
    /// Resolution: seen by the client as how it was solved.
    Resolution,
}

impl NoteFlag {
    pub fn parse(text: &str) -> Option<NoteFlag> {
        Some(match text.trim() {
            "internal" => NoteFlag::Internal,
            "discussion" => NoteFlag::Discussion,
            "resolution" => NoteFlag::Resolution,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NoteFlag::Internal => "internal",
            NoteFlag::Discussion => "discussion",
            NoteFlag::Resolution => "resolution",
        }
    }
}

/// A note to post to a ticket, exactly once under `key` (chosen by the replica when the post
/// is queued, kept until it is settled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PsaPostRequest {
    pub key: Uuid,
    pub ticket_id: i64,
    /// The note as the engineer saw it in the preview (redacted unless they chose otherwise).
    pub text: String,
    /// At least one.
    pub flags: Vec<NoteFlag>,
    /// A status to set on the ticket once the note is on it (a name from the ticket's board).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The engineer's time on the session, to record as a time entry on the ticket for the
    /// ConnectWise member their account maps to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<PostTime>,
}

/// When the engineer worked on the ticket (RFC 3339, UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PostTime {
    pub start: String,
    pub end: String,
}

impl PostTime {
    /// A session's time: from its start to its end (or its last event, if it is not finished).
    pub fn of_session(state: &crate::session::SessionState) -> PostTime {
        let format = |at: time::OffsetDateTime| {
            at.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        PostTime {
            start: format(state.started_at),
            end: format(state.finished_at.unwrap_or(state.last_event_at)),
        }
    }
}

/// A note on a ticket, as the server posted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PsaPostOutcome {
    pub key: Uuid,
    pub ticket_id: i64,
    /// The note's id in ConnectWise.
    pub note_id: i64,
    /// When it was posted (RFC 3339, UTC).
    pub posted_at: String,
    /// The status asked for, when it is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_set: Option<String>,
    /// Why the status asked for could not be set (the note is posted regardless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_error: Option<String>,
    /// The time entry recorded with the note, when one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_entry_id: Option<i64>,
    /// Why the time asked for could not be recorded (the note is posted regardless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_error: Option<String>,
}
