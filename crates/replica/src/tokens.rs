//! Where a replica keeps its login: the access token and the rotating refresh token.
//!
//! The OS keyring is the place for them; where none exists, a file readable only by the user
//! (mode 0600) is used, but only when the user chose it (`--token-store file` or
//! `RF_TOKEN_STORE=file`), never silently.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
