//! Where a replica keeps its login: the access token and the rotating refresh token.
//!
//! The OS keyring (the Secret Service on Linux, the Keychain on macOS, the Credential Manager
//! on Windows) is the place for them: [`KeyringTokenStore`].
//! Where none exists, a file readable only by the user (mode 0600), [`FileTokenStore`], is
//! used, but only when the user chose it (`--token-store file` or `RF_TOKEN_STORE=file`),
//! never silently.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ReplicaError, Result};

/// A login's tokens. The refresh token rotates: each use spends it and returns a new one, so
/// the new pair is saved before anything uses it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub server_url: String,
    pub access_token: String,
    /// Unix seconds.
    pub access_expires_at: i64,
    pub refresh_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("server_url", &self.server_url)
            .field("access_expires_at", &self.access_expires_at)
            .finish_non_exhaustive()
    }
}

pub trait TokenStore {
    fn load(&self) -> Result<Option<Credentials>>;
    fn save(&self, credentials: &Credentials) -> Result<()>;
    /// Forgets the login; true when there was one.
    fn delete(&self) -> Result<bool>;
    /// Where the tokens are, for people.
    fn describe(&self) -> String;
}

/// The Secret Service attribute `service` of every login entry; `username` is the
/// [`KeyringTokenStore::account`].
pub const KEYRING_SERVICE: &str = "dev.resolutionflow.sync";

/// Tokens in the OS keyring: the whole [`Credentials`] as one JSON secret, in the entry
/// ([`KEYRING_SERVICE`], `replica-<device id>`). Each data directory has its own device id, so
/// two data directories on one machine keep separate logins.
///
/// A keyring that cannot be reached, or stays locked, is an error
/// ([`ReplicaError::KeyringUnavailable`]) that names the file store as the user's choice; this
/// store never falls back to a file by itself.
#[derive(Debug, Clone)]
pub struct KeyringTokenStore {
    account: String,
}

impl KeyringTokenStore {
    /// The login entry of the replica whose device id this is.
    pub fn for_device(device_id: Uuid) -> KeyringTokenStore {
        KeyringTokenStore {
            account: format!("replica-{device_id}"),
        }
    }

    /// The entry's user name (the Secret Service attribute `username`).
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The Secret Service entry, named explicitly rather than through keyring's default
    /// store, which on a platform without a back end is an in-memory mock that would lose the
    /// login at exit without a word.
    #[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
    fn entry(&self) -> Result<keyring::Entry> {
        let credential = keyring::secret_service::SsCredential::new_with_target(
            None,
            KEYRING_SERVICE,
            &self.account,
        )
        .map_err(|error| keyring_error("name the login's entry", error))?;
        Ok(keyring::Entry::new_with_credential(Box::new(credential)))
    }

    /// The macOS login keychain's generic password entry.
    #[cfg(target_os = "macos")]
    fn entry(&self) -> Result<keyring::Entry> {
        let credential =
            keyring::macos::MacCredential::new_with_target(None, KEYRING_SERVICE, &self.account)
                .map_err(|error| keyring_error("name the login's entry", error))?;
        Ok(keyring::Entry::new_with_credential(Box::new(credential)))
    }

    /// The Windows Credential Manager's generic credential.
    #[cfg(target_os = "windows")]
    fn entry(&self) -> Result<keyring::Entry> {
        let credential =
            keyring::windows::WinCredential::new_with_target(None, KEYRING_SERVICE, &self.account)
                .map_err(|error| keyring_error("name the login's entry", error))?;
        Ok(keyring::Entry::new_with_credential(Box::new(credential)))
    }

    #[cfg(not(any(
        target_os = "linux",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "macos",
        target_os = "windows"
    )))]
    fn entry(&self) -> Result<keyring::Entry> {
        Err(ReplicaError::KeyringUnavailable {
            reason: "this build of rf knows the OS keyring of Linux and the BSDs (Secret \
                     Service), macOS (Keychain) and Windows (Credential Manager) only"
                .into(),
        })
    }
}

impl TokenStore for KeyringTokenStore {
    fn load(&self) -> Result<Option<Credentials>> {
        let secret = match self.entry()?.get_secret() {
            Ok(secret) => secret,
            Err(keyring::Error::NoEntry) => return Ok(None),
            Err(error) => return Err(keyring_error("read the login", error)),
        };
        serde_json::from_slice(&secret).map(Some).map_err(|error| {
            ReplicaError::LoginRequired(format!(
                "the login saved in the OS keyring (service {KEYRING_SERVICE}, account {}) is not \
                 valid JSON ({error})",
                self.account
            ))
        })
    }

    fn save(&self, credentials: &Credentials) -> Result<()> {
        let secret = serde_json::to_vec(credentials).map_err(ReplicaError::corrupt("the login"))?;
        self.entry()?
            .set_secret(&secret)
            .map_err(|error| keyring_error("save the login", error))
    }

    fn delete(&self) -> Result<bool> {
        match self.entry()?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(error) => Err(keyring_error("remove the login", error)),
        }
    }

    fn describe(&self) -> String {
        if cfg!(target_os = "macos") {
            "the OS keyring (macOS Keychain)".into()
        } else if cfg!(target_os = "windows") {
            "the OS keyring (Windows Credential Manager)".into()
        } else {
            "the OS keyring (Secret Service)".into()
        }
    }
}

/// Failures to reach the keyring at all (no Secret Service on the session bus, no session bus,
/// a locked collection, a dismissed prompt) make it unavailable; anything else is the keyring
/// refusing this one request.
fn keyring_error(action: &'static str, error: keyring::Error) -> ReplicaError {
    match error {
        keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_) => {
            ReplicaError::KeyringUnavailable {
                reason: error.to_string(),
            }
        }
        other => ReplicaError::Keyring {
            action,
            reason: other.to_string(),
        },
    }
}

/// Tokens in a file only the user can read, written atomically (temporary file, fsync,
/// rename), so a crash leaves the old pair or the new one, never half of either.
#[derive(Debug, Clone)]
pub struct FileTokenStore {
    path: PathBuf,
}

/// The token file inside a data directory.
pub const TOKEN_FILE: &str = "login.json";

impl FileTokenStore {
    pub fn new(path: impl Into<PathBuf>) -> FileTokenStore {
        FileTokenStore { path: path.into() }
    }

    pub fn in_data_dir(data_dir: &Path) -> FileTokenStore {
        FileTokenStore::new(data_dir.join(TOKEN_FILE))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl TokenStore for FileTokenStore {
    fn load(&self) -> Result<Option<Credentials>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(ReplicaError::io("cannot read the login file", &self.path)(
                    error,
                ));
            }
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&self.path)
                .map_err(ReplicaError::io("cannot read the login file", &self.path))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(ReplicaError::Invalid(format!(
                    "{} can be read by other users (mode {:o}); run `chmod 600` on it or log in again",
                    self.path.display(),
                    mode & 0o777
                )));
            }
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(ReplicaError::corrupt(format!(
                "the login file {}",
                self.path.display()
            )))
    }

    fn save(&self, credentials: &Credentials) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let text =
            serde_json::to_vec_pretty(credentials).map_err(ReplicaError::corrupt("the login"))?;
        let mut builder = tempfile::Builder::new();
        builder.prefix(".login-");
        private(&mut builder);
        let mut file = builder
            .tempfile_in(dir)
            .map_err(ReplicaError::io("cannot write the login file in", dir))?;
        file.write_all(&text)
            .and_then(|()| file.as_file().sync_all())
            .map_err(ReplicaError::io("cannot write the login file in", dir))?;
        file.persist(&self.path).map_err(|error| {
            ReplicaError::io("cannot save the login file", &self.path)(error.error)
        })?;
        Ok(())
    }

    fn delete(&self) -> Result<bool> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(ReplicaError::io("cannot remove the login file", &self.path)(error)),
        }
    }

    fn describe(&self) -> String {
        format!("the file {} (mode 0600)", self.path.display())
    }
}

#[cfg(unix)]
fn private(builder: &mut tempfile::Builder<'_, '_>) {
    use std::os::unix::fs::PermissionsExt;
    builder.permissions(std::fs::Permissions::from_mode(0o600));
}

/// Elsewhere the file inherits the user's profile folder's access rules.
#[cfg(not(unix))]
fn private(_builder: &mut tempfile::Builder<'_, '_>) {}
