//! Notes to post to ConnectWise tickets: queued with the key the sync server posts them under
//! (so each is posted exactly once, whenever and however often it is delivered), delivered
//! when the server can be reached, and settled with what the server answered.

use reqwest::Method;
use rf_core::psa::{NoteFlag, PsaPostOutcome, PsaPostRequest};
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use crate::client::{ClientOptions, call_server};
use crate::error::{ReplicaError, Result};
use crate::tokens::TokenStore;
use crate::{Replica, now, timestamp};

pub use rf_app_api::{PostState, TicketPost};

fn state_of(text: &str) -> PostState {
    match text {
        "posted" => PostState::Posted,
        "failed" => PostState::Failed,
        _ => PostState::Queued,
    }
}

/// What the engineer asks to post.
#[derive(Debug, Clone)]
pub struct NewPost {
    pub session_id: Uuid,
    pub ticket_id: i64,
    pub flags: Vec<NoteFlag>,
    pub status: Option<String>,
    pub text: String,
    pub redacted: bool,
    /// Post even though this session's note is already posted or queued for this ticket.
    pub again: bool,
    /// Record the engineer's time as a time entry on the ticket.
    pub time: Option<rf_core::psa::PostTime>,
}

const COLUMNS: &str = "post_key, session_id, ticket_id, flags, status, text, redacted, queued_at, \
     state, note_id, posted_at, status_set, error, attempts, time_start, time_end, time_entry_id";

fn post_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TicketPost> {
    let uuid = |index: usize| -> rusqlite::Result<Uuid> {
        let text: String = row.get(index)?;
        Uuid::parse_str(&text).map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                Box::new(error),
            )
        })
    };
    let flags: String = row.get(3)?;
    let state: String = row.get(8)?;
    Ok(TicketPost {
        key: uuid(0)?,
        session_id: uuid(1)?,
        ticket_id: row.get(2)?,
        flags: flags.split(',').filter_map(NoteFlag::parse).collect(),
        status: row.get(4)?,
        text: row.get(5)?,
        redacted: row.get(6)?,
        queued_at: row.get(7)?,
        state: state_of(&state),
        note_id: row.get(9)?,
        posted_at: row.get(10)?,
        status_set: row.get(11)?,
        error: row.get(12)?,
        attempts: row.get(13)?,
        time: match (
            row.get::<_, Option<String>>(14)?,
            row.get::<_, Option<String>>(15)?,
        ) {
            (Some(start), Some(end)) => Some(rf_core::psa::PostTime { start, end }),
            _ => None,
        },
        time_entry_id: row.get(16)?,
    })
}

/// The most characters of a note posted (the server's limit).
pub const MAX_POST_CHARS: usize = 60_000;

impl Replica {
    /// Queues a note for a ticket under a new key. Checked as the server will check it, so a
    /// post that can never be made is refused now, not after the engineer has left the site.
    pub fn queue_post(&mut self, post: NewPost) -> Result<TicketPost> {
        let session = self.session(post.session_id)?;
        if !post.again
            && let Some(earlier) =
                self.ticket_posts(Some(post.session_id))?
                    .into_iter()
                    .find(|earlier| {
                        earlier.ticket_id == post.ticket_id && earlier.state != PostState::Failed
                    })
        {
            return Err(ReplicaError::AlreadyPosted(
                rf_app_api::already_posted_words(&earlier),
            ));
        }
        if post.ticket_id < 1 {
            return Err(ReplicaError::Invalid(
                "a ticket number is a positive whole number".into(),
            ));
        }
        if post.text.trim().is_empty() {
            return Err(ReplicaError::Invalid("the note is empty".into()));
        }
        if post.text.chars().count() > MAX_POST_CHARS {
            return Err(ReplicaError::Invalid(format!(
                "the note is longer than {MAX_POST_CHARS} characters; shorten it"
            )));
        }
        let mut flags = post.flags.clone();
        flags.sort();
        flags.dedup();
        if flags.is_empty() {
            flags.push(NoteFlag::Internal);
        }
        let status = post
            .status
            .as_deref()
            .map(str::trim)
            .filter(|status| !status.is_empty())
            .map(str::to_owned);
        if status.as_deref().is_some_and(|status| {
            status.chars().count() > 50 || status.chars().any(char::is_control)
        }) {
            return Err(ReplicaError::Invalid(
                "a status is the name of one of the ticket's board's statuses (at most 50 characters)"
                    .into(),
            ));
        }
        let key = Uuid::new_v4();
        let flags_text = flags
            .iter()
            .map(|flag| flag.as_str())
            .collect::<Vec<_>>()
            .join(",");
        self.connection.execute(
            "INSERT INTO ticket_posts (post_key, session_id, ticket_id, flags, status, text,
               redacted, queued_at, state, time_start, time_end)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', ?9, ?10)",
            params![
                key.to_string(),
                session.id.to_string(),
                post.ticket_id,
                flags_text,
                status,
                post.text,
                post.redacted,
                timestamp(now()),
                post.time.as_ref().map(|time| time.start.clone()),
                post.time.as_ref().map(|time| time.end.clone()),
            ],
        )?;
        self.ticket_post(key)?
            .ok_or_else(|| ReplicaError::Invalid("the queued post was not stored".into()))
    }

    pub fn ticket_post(&self, key: Uuid) -> Result<Option<TicketPost>> {
        Ok(self
            .connection
            .query_row(
                &format!("SELECT {COLUMNS} FROM ticket_posts WHERE post_key = ?1"),
                [key.to_string()],
                post_from_row,
            )
            .optional()?)
    }

    /// This device's posts, of one session or all, oldest first.
    pub fn ticket_posts(&self, session: Option<Uuid>) -> Result<Vec<TicketPost>> {
        let mut statement = self.connection.prepare(&format!(
            "SELECT {COLUMNS} FROM ticket_posts
             WHERE ?1 IS NULL OR session_id = ?1 ORDER BY queued_at, rowid"
        ))?;
        let posts = statement
            .query_map([session.map(|id| id.to_string())], post_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(posts)
    }

    fn settle_post(&self, key: Uuid, settled: &Settled) -> Result<()> {
        let at = timestamp(now());
        match settled {
            Settled::Posted(outcome) => self.connection.execute(
                "UPDATE ticket_posts SET state = 'posted', note_id = ?2, posted_at = ?3,
                   status_set = ?4, error = ?5, attempts = attempts + 1, last_attempt_at = ?6,
                   time_entry_id = ?7
                 WHERE post_key = ?1",
                params![
                    key.to_string(),
                    outcome.note_id,
                    outcome.posted_at,
                    outcome.status_set,
                    match (&outcome.status_error, &outcome.time_error) {
                        (Some(status), Some(time)) if status != time =>
                            Some(format!("{status}; {time}")),
                        (status, time) => status.clone().or_else(|| time.clone()),
                    },
                    at,
                    outcome.time_entry_id,
                ],
            )?,
            Settled::Failed(why) => self.connection.execute(
                "UPDATE ticket_posts SET state = 'failed', error = ?2, attempts = attempts + 1,
                   last_attempt_at = ?3
                 WHERE post_key = ?1 AND state = 'queued'",
                params![key.to_string(), why, at],
            )?,
            Settled::Waiting(why) => self.connection.execute(
                "UPDATE ticket_posts SET error = ?2, attempts = attempts + 1, last_attempt_at = ?3
                 WHERE post_key = ?1 AND state = 'queued'",
                params![key.to_string(), why, at],
            )?,
        };
        Ok(())
    }
}

enum Settled {
    Posted(PsaPostOutcome),
    Failed(String),
    Waiting(String),
}

/// Whether a refusal is final for this post (it is not on the ticket and never will be as it
/// is), or something a later attempt may get past (offline, the team's connection, a busy or
/// failing ConnectWise).
fn final_refusal(status: u16, code: &str) -> bool {
    match status {
        404 | 413 | 422 => true,
        403 => true,
        409 => code != "psa_not_connected",
        502 => matches!(code, "psa_refused" | "psa_bad_answer"),
        _ => false,
    }
}

/// Delivers every queued post, oldest first, each under its key. Stops at the first sign the
/// server cannot be reached or the login is gone (the rest wait). Returns the posts it tried,
/// as they now stand.
pub fn deliver_posts(
    replica: &Replica,
    store: &dyn TokenStore,
    options: ClientOptions,
) -> Result<Vec<TicketPost>> {
    let queued: Vec<TicketPost> = replica
        .ticket_posts(None)?
        .into_iter()
        .filter(|post| post.state == PostState::Queued)
        .collect();
    let mut tried = Vec::new();
    for post in queued {
        let request = PsaPostRequest {
            key: post.key,
            ticket_id: post.ticket_id,
            text: post.text.clone(),
            flags: post.flags.clone(),
            status: post.status.clone(),
            time: post.time.clone(),
        };
        let body = serde_json::to_value(&request)
            .map_err(|error| ReplicaError::Invalid(format!("cannot write the post: {error}")))?;
        let answer = call_server::<PsaPostOutcome>(
            replica,
            store,
            crate::psa::patient(options.clone()),
            Method::POST,
            "/api/v1/psa/posts",
            &[],
            Some(&body),
        );
        let settled = match answer {
            Ok(Some(outcome)) => Settled::Posted(outcome),
            Ok(None) => Settled::Waiting("the sync server gave an empty answer".into()),
            Err(ReplicaError::Server {
                status,
                code,
                message,
            }) => {
                if final_refusal(status, &code) {
                    Settled::Failed(message)
                } else {
                    Settled::Waiting(message)
                }
            }
            Err(error @ (ReplicaError::Offline(_) | ReplicaError::LoginRequired(_))) => {
                replica.settle_post(post.key, &Settled::Waiting(error.to_string()))?;
                if let Some(now) = replica.ticket_post(post.key)? {
                    tried.push(now);
                }
                if matches!(error, ReplicaError::LoginRequired(_)) {
                    return Err(error);
                }
                break;
            }
            Err(other) => return Err(other),
        };
        replica.settle_post(post.key, &settled)?;
        if let Some(now) = replica.ticket_post(post.key)? {
            tried.push(now);
        }
    }
    Ok(tried)
}
