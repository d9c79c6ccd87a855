//! The status bar's words, computed from the replica's [`SyncStatus`] and a given "now" so the
//! wording is tested without a clock.

use rf_app_api::events::SyncStatus;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Where the replica stands, as the bar's dot shows it (`data-state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Online,
    Offline,
    Syncing,
    /// Not signed in to a team: everything stays on this machine.
    Local,
    /// Signed in once, but the login cannot be used now (signed out, expired, a locked
    /// keyring): work waits here until the engineer signs in again in Settings.
    SignInNeeded,
    /// The server answered but will not sync with this app until something changes (the app
    /// is older than the server accepts, say): the bar says what to do.
    Stopped,
}

impl Connection {
    pub fn attribute(self) -> &'static str {
        match self {
            Connection::Online => "online",
            Connection::Offline => "offline",
            Connection::Syncing => "syncing",
            Connection::Local => "local",
            Connection::SignInNeeded => "sign-in",
            Connection::Stopped => "stopped",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Connection::Online => "Online",
            Connection::Offline => "Offline",
            Connection::Syncing => "Syncing…",
            Connection::Local => "Not signed in",
            Connection::SignInNeeded => "Sign in needed",
            Connection::Stopped => "Sync stopped",
        }
    }
}

/// Everything the status bar prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    pub connection: Connection,
    /// "Synced 2 min ago", or `None` before the first sync.
    pub synced: Option<String>,
    /// "3 pending", or `None` when nothing waits.
    pub pending: Option<String>,
    /// "1 conflict", or `None`.
    pub conflicts: Option<String>,
    /// The last sync error, for the tooltip.
    pub last_error: Option<String>,
    /// What to do, shown in the bar itself, when sync stopped.
    pub problem: Option<String>,
}

pub fn status_line(status: &SyncStatus, now: OffsetDateTime) -> StatusLine {
    let report = &status.report;
    // Offline stays offline while the background retries (a calm state, not a flicker); a
    // signed-in replica not yet heard from is about to sync.
    let connection = if report.sync.is_none() {
        Connection::Local
    } else if status.login_problem.is_some() {
        Connection::SignInNeeded
    } else if status.sync_problem.is_some() {
        Connection::Stopped
    } else if report.online == Some(false) {
        Connection::Offline
    } else if status.syncing || report.online.is_none() {
        Connection::Syncing
    } else {
        Connection::Online
    };
    let synced = report
        .sync
        .as_ref()
        .and_then(|account| account.last_sync_at.as_deref())
        .and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok())
        .map(|at| format!("Synced {}", relative_time(at, now)));
    let pending = report.pending.pending();
    let conflicts = report.conflicts;
    StatusLine {
        connection,
        synced,
        pending: (pending > 0).then(|| format!("{pending} pending")),
        conflicts: (conflicts > 0).then(|| plural(conflicts as u64, "conflict", "conflicts")),
        problem: status
            .sync_problem
            .clone()
            .filter(|_| connection == Connection::Stopped),
        last_error: status
            .login_problem
            .clone()
            .or_else(|| status.sync_problem.clone())
            .or_else(|| {
                report
                    .sync
                    .as_ref()
                    .and_then(|account| account.last_error.clone())
            }),
    }
}

/// "just now", "2 min ago", "3 h ago", "yesterday", "4 days ago". A time in the future (a
/// skewed clock) reads "just now": clocks never decide anything here.
pub fn relative_time(then: OffsetDateTime, now: OffsetDateTime) -> String {
    let seconds = (now - then).whole_seconds();
    match seconds {
        i64::MIN..60 => "just now".to_owned(),
        60..3_600 => format!("{} min ago", seconds / 60),
        3_600..86_400 => format!("{} h ago", seconds / 3_600),
        86_400..172_800 => "yesterday".to_owned(),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

/// Parses an RFC 3339 time and says how long ago it was; the text itself if it does not parse.
pub fn relative_text(at: &str, now: OffsetDateTime) -> String {
    OffsetDateTime::parse(at, &Rfc3339)
        .map(|then| relative_time(then, now))
        .unwrap_or_else(|_| at.to_owned())
}

pub fn plural(count: u64, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

/// The current time from milliseconds since the epoch (the browser's `Date.now()`).
pub fn from_millis(millis: f64) -> OffsetDateTime {
    let nanos = (millis as i128).saturating_mul(1_000_000);
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use rf_app_api::{StatusReport, SyncAccount, SyncBacklog};
    use time::macros::datetime;
    use uuid::Uuid;

    use super::*;

    fn status(online: Option<bool>, signed_in: bool, syncing: bool) -> SyncStatus {
        SyncStatus {
            report: StatusReport {
                data_dir: "/tmp/rf".into(),
                device_id: Uuid::nil(),
                schema_version: 1,
                pending: SyncBacklog {
                    mutations: 1,
                    events: 2,
                    ..SyncBacklog::default()
                },
                online,
                sync: signed_in.then(|| SyncAccount {
                    server_url: "https://sync.example".into(),
                    team_id: Uuid::nil(),
                    user_id: Uuid::nil(),
                    email: "a@example.com".into(),
                    pulled_seq: 4,
                    last_sync_at: Some("2025-03-01T10:00:00Z".into()),
                    last_error: None,
                }),
                conflicts: 1,
            },
            syncing,
            login_problem: None,
            sync_problem: None,
        }
    }

    #[test]
    fn a_server_that_refuses_this_app_stops_sync_and_the_bar_says_what_to_do() {
        let now = datetime!(2025-03-01 10:00:30 UTC);
        let mut refused = status(Some(true), true, false);
        refused.sync_problem = Some("update the app to sync again".into());
        let line = status_line(&refused, now);
        assert_eq!(line.connection, Connection::Stopped);
        assert_eq!(line.connection.label(), "Sync stopped");
        assert_eq!(
            line.problem.as_deref(),
            Some("update the app to sync again")
        );
        assert_eq!(line.pending.as_deref(), Some("3 pending"), "work waits");
        // A login that cannot be used comes first: signing in is the first thing to do.
        refused.login_problem = Some("expired: sign in again in Settings".into());
        let line = status_line(&refused, now);
        assert_eq!(line.connection, Connection::SignInNeeded);
        assert_eq!(line.problem, None);
    }

    #[test]
    fn a_login_that_cannot_be_used_asks_for_a_sign_in_and_says_why() {
        let now = datetime!(2025-03-01 10:00:30 UTC);
        let mut signed_out = status(None, true, false);
        signed_out.login_problem = Some("logged out: sign in again in Settings".into());
        let line = status_line(&signed_out, now);
        assert_eq!(line.connection, Connection::SignInNeeded);
        assert_eq!(line.connection.label(), "Sign in needed");
        assert_eq!(
            line.last_error.as_deref(),
            Some("logged out: sign in again in Settings")
        );
        assert_eq!(
            line.pending.as_deref(),
            Some("3 pending"),
            "work still waits"
        );
        // Without an account there is nothing to sign in again to.
        let mut local = status(None, false, false);
        local.login_problem = Some("gone".into());
        assert_eq!(status_line(&local, now).connection, Connection::Local);
    }

    #[test]
    fn the_bar_says_when_it_last_synced_and_what_waits() {
        let now = datetime!(2025-03-01 10:02:30 UTC);
        let line = status_line(&status(Some(true), true, false), now);
        assert_eq!(line.connection, Connection::Online);
        assert_eq!(line.synced.as_deref(), Some("Synced 2 min ago"));
        assert_eq!(line.pending.as_deref(), Some("3 pending"));
        assert_eq!(line.conflicts.as_deref(), Some("1 conflict"));
    }

    #[test]
    fn connection_states() {
        let now = datetime!(2025-03-01 10:00:30 UTC);
        assert_eq!(
            status_line(&status(Some(false), true, false), now).connection,
            Connection::Offline
        );
        assert_eq!(
            status_line(&status(Some(true), true, true), now).connection,
            Connection::Syncing
        );
        // Retrying while offline does not flicker the bar to "Syncing…".
        assert_eq!(
            status_line(&status(Some(false), true, true), now).connection,
            Connection::Offline
        );
        // Signed in and not heard from yet: the first round is on its way.
        assert_eq!(
            status_line(&status(None, true, false), now).connection,
            Connection::Syncing
        );
        let local = status_line(&status(None, false, false), now);
        assert_eq!(local.connection, Connection::Local);
        assert_eq!(local.connection.label(), "Not signed in");
        assert_eq!(local.synced, None);
        assert_eq!(
            status_line(&status(Some(true), true, false), now)
                .synced
                .as_deref(),
            Some("Synced just now")
        );
    }

    #[test]
    fn relative_times() {
        let now = datetime!(2025-03-10 12:00 UTC);
        assert_eq!(
            relative_time(datetime!(2025-03-10 12:05 UTC), now),
            "just now"
        );
        assert_eq!(
            relative_time(datetime!(2025-03-10 11:59 UTC), now),
            "1 min ago"
        );
        assert_eq!(
            relative_time(datetime!(2025-03-10 09:00 UTC), now),
            "3 h ago"
        );
        assert_eq!(
            relative_time(datetime!(2025-03-09 11:00 UTC), now),
            "yesterday"
        );
        assert_eq!(
            relative_time(datetime!(2025-03-06 12:00 UTC), now),
            "4 days ago"
        );
        assert_eq!(plural(2, "conflict", "conflicts"), "2 conflicts");
    }
}
