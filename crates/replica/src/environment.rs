//! What the CLI and the desktop app read from their environment, decided once: where the
//! replica lives (`RF_DATA_DIR`), where the login is kept (`RF_TOKEN_STORE`) and how large the
//! sync batches are (`RF_SYNC_BATCH`, `RF_SYNC_PAGE`). Both front ends honour the same
//! variables, so `./dev run` can start the app on the CLI's replica.

use std::path::PathBuf;

use crate::client::ClientOptions;
use crate::tokens::{FileTokenStore, KeyringTokenStore, TokenStore};
use crate::{Replica, ReplicaError, Result};

/// The data directory: `RF_DATA_DIR` when set, else the platform's data directory
/// (`~/.local/share/resolutionflow` on Linux).
pub fn data_dir() -> Result<PathBuf> {
    match std::env::var_os("RF_DATA_DIR").filter(|dir| !dir.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => default_data_dir(),
    }
}

/// The platform's data directory for ResolutionFlow.
pub fn default_data_dir() -> Result<PathBuf> {
    directories::ProjectDirs::from("dev", "ResolutionFlow", "ResolutionFlow")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .ok_or_else(|| {
            ReplicaError::Invalid(
                "no home directory to keep data in; pass --data-dir or set RF_DATA_DIR".into(),
            )
        })
}

/// `RF_FLOWS_DIR`, when set: it overrides the folder chosen in the app's settings.
pub fn flows_dir_override() -> Option<PathBuf> {
    std::env::var_os("RF_FLOWS_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
}

/// The watched flows folder: `RF_FLOWS_DIR` when set, else the one chosen in the settings.
pub fn flows_dir(replica: &Replica) -> Result<Option<PathBuf>> {
    match flows_dir_override() {
        Some(dir) => Ok(Some(dir)),
        None => Ok(replica
            .preference(crate::services::FLOWS_DIR)?
            .map(PathBuf::from)),
    }
}

/// The settings screen, with the login read from the store of `tokens` and `RF_FLOWS_DIR`.
pub fn settings(replica: &Replica, tokens: TokenStoreKind) -> Result<crate::Settings> {
    let store = tokens.open(replica)?;
    replica.settings(
        store.as_ref(),
        flows_dir_override().map(|dir| dir.display().to_string()),
    )
}

/// Where the login tokens live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TokenStoreKind {
    /// The OS keyring (Secret Service): the default.
    #[default]
    Keyring,
    /// A file in the data directory readable only by its owner (mode 0600), when asked for.
    File,
}

impl TokenStoreKind {
    /// `RF_TOKEN_STORE` (`keyring` or `file`); the keyring when unset.
    pub fn from_env() -> Result<TokenStoreKind> {
        match std::env::var("RF_TOKEN_STORE") {
            Ok(value) => TokenStoreKind::parse(&value),
            Err(_) => Ok(TokenStoreKind::Keyring),
        }
    }

    pub fn parse(text: &str) -> Result<TokenStoreKind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "keyring" | "" => Ok(TokenStoreKind::Keyring),
            "file" => Ok(TokenStoreKind::File),
            other => Err(ReplicaError::Invalid(format!(
                "RF_TOKEN_STORE is {other:?}; it may be \"keyring\" (the default) or \"file\""
            ))),
        }
    }

    /// The store of this kind for a replica's login.
    pub fn open(self, replica: &Replica) -> Result<Box<dyn TokenStore + Send + Sync>> {
        Ok(match self {
            TokenStoreKind::File => Box::new(FileTokenStore::in_data_dir(replica.data_dir())),
            TokenStoreKind::Keyring => {
                Box::new(KeyringTokenStore::for_device(replica.token_account()?))
            }
        })
    }
}

/// Client settings, with the batch sizes tunable for slow links: `RF_SYNC_BATCH` (session
/// events and changes per push request) and `RF_SYNC_PAGE` (team changes per pull page).
pub fn client_options() -> ClientOptions {
    let mut options = ClientOptions::default();
    let number = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.trim().parse::<usize>().ok())
    };
    if let Some(batch) = number("RF_SYNC_BATCH") {
        options.push_events = batch;
        options.push_mutations = batch;
    }
    if let Some(page) = number("RF_SYNC_PAGE") {
        options.pull_limit = i64::try_from(page).unwrap_or(i64::MAX);
    }
    options
}

/// This computer's time zone as an IANA name (a new schedule's default): `TZ` when it names
/// one, else the system's setting; an error says to give the zone when neither is readable.
pub fn local_time_zone() -> Result<String> {
    let named = |name: &str| rf_core::schedule::check_time_zone(name).is_ok();
    if let Ok(zone) = std::env::var("TZ") {
        let zone = zone.trim_start_matches(':').to_owned();
        if named(&zone) {
            return Ok(zone);
        }
    }
    match iana_time_zone::get_timezone() {
        Ok(zone) if named(&zone) => Ok(zone),
        _ => Err(crate::ReplicaError::Invalid(
            "this computer's time zone cannot be read; give the client's zone (an IANA name such as Europe/London)".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_store_kinds_are_read_and_bad_ones_refused_with_the_choices() {
        assert_eq!(TokenStoreKind::parse("File").unwrap(), TokenStoreKind::File);
        assert_eq!(
            TokenStoreKind::parse(" keyring ").unwrap(),
            TokenStoreKind::Keyring
        );
        let error = TokenStoreKind::parse("vault").unwrap_err().to_string();
        assert!(
            error.contains("\"keyring\"") && error.contains("\"file\""),
            "{error}"
        );
    }
}
