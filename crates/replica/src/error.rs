//! The replica's one error type.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("local database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("stored data is not valid JSON ({context}): {source}; the database may be damaged")]
    Corrupt {
        context: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("stored data is inconsistent: {0}; the database may be damaged")]
    Damaged(String),
    #[error(transparent)]
    Engine(#[from] rf_core::EngineError),
    #[error("no {what} matches {given:?}; list them with `rf {what} list`")]
    NotFound { what: &'static str, given: String },
    #[error("{given:?} matches several {what}s ({}); give more of the id", candidates.join(", "))]
    Ambiguous {
        what: &'static str,
        given: String,
        candidates: Vec<String>,
    },
    #[error(transparent)]
    SchemaTooNew(#[from] rf_sqlite::SchemaTooNew),
    #[error(
        "{name} is {}, over the {} attachment limit; compress it or attach an excerpt",
        megabytes(*size),
        megabytes(*limit)
    )]
    AttachmentTooLarge { name: String, size: u64, limit: u64 },
    #[error("{0}")]
    Invalid(String),
    /// A post to a ticket that would repeat one already made or queued from this session.
    #[error("{0}")]
    AlreadyPosted(String),
    /// The sync server could not be reached (or kept failing); nothing was lost.
    #[error("{0}")]
    Offline(String),
    #[error("{0}; log in again with `rf login --server URL --email E`")]
    LoginRequired(String),
    /// No usable OS keyring: no Secret Service on the session bus, a locked keyring, a refused
    /// prompt. The login is never moved to a file silently; the user chooses that.
    #[error(
        "the OS keyring is not available ({reason}); to keep the login in a file only you can read \
         (mode 0600), pass --token-store file or set RF_TOKEN_STORE=file"
    )]
    KeyringUnavailable { reason: String },
    /// The keyring answered, but refused the request (several matching entries, say).
    #[error("the OS keyring could not {action}: {reason}")]
    Keyring {
        action: &'static str,
        reason: String,
    },
    /// The server refused a request for a reason retrying cannot fix.
    #[error("the sync server refused ({status} {code}): {message}")]
    Server {
        status: u16,
        code: String,
        message: String,
    },
}

impl ReplicaError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> ReplicaError {
        let path = path.into();
        move |source| ReplicaError::Io {
            action,
            path,
            source,
        }
    }

    pub(crate) fn corrupt(
        context: impl Into<String>,
    ) -> impl FnOnce(serde_json::Error) -> ReplicaError {
        let context = context.into();
        move |source| ReplicaError::Corrupt { context, source }
    }
}

pub type Result<T, E = ReplicaError> = std::result::Result<T, E>;

/// What the app's front end is told: the kind it acts on and the words for people.
impl From<ReplicaError> for rf_app_api::CommandError {
    fn from(error: ReplicaError) -> rf_app_api::CommandError {
        use rf_app_api::ErrorKind;
        let kind = match &error {
            ReplicaError::Invalid(_)
            | ReplicaError::AlreadyPosted(_)
            | ReplicaError::Engine(_)
            | ReplicaError::AttachmentTooLarge { .. } => ErrorKind::Invalid,
            ReplicaError::NotFound { .. } => ErrorKind::NotFound,
            ReplicaError::Ambiguous { .. } => ErrorKind::Ambiguous,
            ReplicaError::LoginRequired(_)
            | ReplicaError::KeyringUnavailable { .. }
            | ReplicaError::Keyring { .. } => ErrorKind::NotLoggedIn,
            ReplicaError::SchemaTooNew(_) => ErrorKind::NewerSchema,
            ReplicaError::Offline(_) | ReplicaError::Server { .. } => ErrorKind::Sync,
            ReplicaError::Database(_)
            | ReplicaError::Io { .. }
            | ReplicaError::Corrupt { .. }
            | ReplicaError::Damaged(_) => ErrorKind::Storage,
        };
        rf_app_api::CommandError::new(kind, error.in_the_apps_words())
    }
}

impl ReplicaError {
    /// What the desktop app says: the same facts as [`Display`](std::fmt::Display), with the
    /// way out in the app's terms rather than the CLI's commands and flags.
    pub fn in_the_apps_words(&self) -> String {
        match self {
            ReplicaError::NotFound { what, given } => format!("no {what} matches {given:?}"),
            ReplicaError::LoginRequired(why) => format!("{why}: sign in again in Settings"),
            ReplicaError::KeyringUnavailable { reason } => format!(
                "the OS keyring is not available ({reason}): unlock it (or start your desktop's \
                 keyring) and sign in again in Settings; to keep the login in a file only you can \
                 read instead, start the app with RF_TOKEN_STORE=file"
            ),
            ReplicaError::Server {
                status: 426,
                message,
                ..
            } => format!(
                "this version of ResolutionFlow is older than the sync server accepts ({message}): \
                 update the app to sync again; your work stays on this device meanwhile"
            ),
            other => other.to_string(),
        }
    }
}

/// A size as people read it: "30.0 MB" (MiB, as file managers show them on Linux).
fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The app's words never send an engineer to a terminal: no `rf` command, no flag.
    #[test]
    fn the_apps_words_name_no_cli_command_or_flag() {
        let errors = [
            ReplicaError::NotFound {
                what: "flow",
                given: "vpn".into(),
            },
            ReplicaError::LoginRequired("the login has expired".into()),
            ReplicaError::KeyringUnavailable {
                reason: "the collection is locked".into(),
            },
            ReplicaError::Server {
                status: 426,
                code: "upgrade_required".into(),
                message: "protocol 1 is older than 2".into(),
            },
        ];
        for error in errors {
            let app = error.in_the_apps_words();
            assert!(!app.contains("rf ") && !app.contains("--"), "{app}");
            assert!(!app.contains('`'), "{app}");
        }
        let upgrade = ReplicaError::Server {
            status: 426,
            code: "upgrade_required".into(),
            message: "update the client".into(),
        };
        assert!(upgrade.in_the_apps_words().contains("update the app"));
        // The CLI keeps its own way out.
        let cli = ReplicaError::LoginRequired("expired".into()).to_string();
        assert!(cli.contains("rf login"), "{cli}");
    }
}
