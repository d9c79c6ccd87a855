//! The server's secrets keys and the sealing of team secrets with them (a ConnectWise private
//! key is never stored in the clear): XChaCha20-Poly1305 with a random 192-bit nonce per seal
//! and the team's id as associated data.
//!
//! A key is 32 random bytes kept as 64 hex digits in a file readable by its owner only
//! (`--secrets-key-file`; the embedded store makes `<data dir>/secrets.key` on first start).
//! Each sealed value names its key by id (the first 16 hex digits of the key's SHA-256), so a
//! server given the wrong file says so rather than failing to decrypt. Rotation
//! ([`rotate`]) writes the new key beside the old one as `<file>.new` first, re-seals every
//! row with it, then moves it over the old file; a server (or a second run of the rotation)
//! that meets a `<file>.new` left by an interrupted rotation knows both keys, so no step of it
//! can leave a secret that nothing opens.

use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::psa::Sealed;
use crate::storage::Store;

const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot read the secrets key file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "cannot write the secrets key file {path}: {error}; check the folder exists and the server's user may write to it"
    )]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "the secrets key file {0} must hold 64 hex digits (32 random bytes) on one line; make one with `head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > FILE` or let the embedded store create it"
    )]
    Malformed(PathBuf),
    #[error(
        "the secrets key file {path} can be read by other users (mode {mode:o}); run `chmod 600 {path}` and start again"
    )]
    Exposed { path: PathBuf, mode: u32 },
    #[error(
        "this server does not have the secrets key {0} that sealed the team's stored secret; start it with the secrets key file the other servers use (--secrets-key-file)"
    )]
    UnknownKey(String),
    #[error(
        "a stored secret does not open with its key {0}: it was damaged or copied from another team; a team admin must store the connection again"
    )]
    Damaged(String),
    #[error(
        "there is no secrets key at {0} to rotate: a server makes it when it first starts (or give the file in use with --secrets-key-file)"
    )]
    NothingToRotate(PathBuf),
    #[error("{0}")]
    Store(#[from] crate::domain::error::StoreError),
}

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl Key {
    fn from_bytes(bytes: &[u8; KEY_BYTES]) -> Key {
        Key {
            id: hex::encode(&Sha256::digest(bytes)[..8]),
            cipher: XChaCha20Poly1305::new(bytes.into()),
        }
    }
}

/// The keys a server knows: the first seals, every one opens what it sealed.
pub struct SecretsKeys {
    keys: Vec<Key>,
}

impl std::fmt::Debug for SecretsKeys {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|key| key.id.as_str()).collect();
        formatter
            .debug_struct("SecretsKeys")
            .field("ids", &ids)
            .finish()
    }
}

/// The file an interrupted rotation's new key waits in.
fn pending(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

fn read_key(path: &Path) -> Result<Option<[u8; KEY_BYTES]>, SecretsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(SecretsError::Read {
                path: path.to_owned(),
                error,
            });
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mode = std::fs::metadata(path)
            .map_err(|error| SecretsError::Read {
                path: path.to_owned(),
                error,
            })?
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretsError::Exposed {
                path: path.to_owned(),
                mode,
            });
        }
    }
    let mut key = [0u8; KEY_BYTES];
    hex::decode_to_slice(text.trim(), &mut key)
        .map_err(|_| SecretsError::Malformed(path.to_owned()))?;
    Ok(Some(key))
}

/// Writes a key file atomically, readable by its owner only.
fn write_key(path: &Path, key: &[u8; KEY_BYTES]) -> Result<(), SecretsError> {
    let failed = |error| SecretsError::Write {
        path: path.to_owned(),
        error,
    };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp-{}", Uuid::new_v4().simple()));
    let temporary = PathBuf::from(temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(format!("{}\n", hex::encode(key)).as_bytes())?;
        file.sync_all()
    });
    if let Err(error) = written.and_then(|()| std::fs::rename(&temporary, path)) {
        let _ = std::fs::remove_file(&temporary);
        return Err(failed(error));
    }
    if let Some(folder) = path
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
    {
        std::fs::File::open(folder)
            .and_then(|folder| folder.sync_all())
            .map_err(failed)?;
    }
    Ok(())
}

fn fresh_key() -> [u8; KEY_BYTES] {
    let mut key = [0u8; KEY_BYTES];
    rand::rng().fill_bytes(&mut key);
    key
}

impl SecretsKeys {
    /// The keys in `path` (which must exist) and in a `<path>.new` an interrupted rotation
    /// left, which also opens what it sealed.
    pub fn load(path: &Path) -> Result<SecretsKeys, SecretsError> {
        let current = read_key(path)?.ok_or_else(|| SecretsError::Read {
            path: path.to_owned(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        })?;
        let mut keys = vec![Key::from_bytes(&current)];
        if let Some(next) = read_key(&pending(path))? {
            keys.push(Key::from_bytes(&next));
        }
        Ok(SecretsKeys { keys })
    }

    /// As [`SecretsKeys::load`], making the key file first when there is none (the embedded
    /// store's own `<data dir>/secrets.key`).
    pub fn load_or_create(path: &Path) -> Result<SecretsKeys, SecretsError> {
        if read_key(path)?.is_none() {
            write_key(path, &fresh_key())?;
            tracing::info!(path = %path.display(), "made a new secrets key file; back it up with the data");
        }
        SecretsKeys::load(path)
    }

    /// A key of its own, not kept anywhere (tests).
    pub fn ephemeral() -> SecretsKeys {
        SecretsKeys {
            keys: vec![Key::from_bytes(&fresh_key())],
        }
    }

    /// The id of the key that seals.
    pub fn sealing_id(&self) -> &str {
        self.keys.first().map_or("", |key| key.id.as_str())
    }

    fn associated(team: Uuid) -> Vec<u8> {
        format!("resolutionflow team secret v1 {team}").into_bytes()
    }

    pub fn seal(&self, team: Uuid, plaintext: &[u8]) -> Sealed {
        // `load` and `ephemeral` always hold a key.
        let Some(key) = self.keys.first() else {
            return Sealed {
                key_id: String::new(),
                nonce: Vec::new(),
                ciphertext: Vec::new(),
            };
        };
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let aad = SecretsKeys::associated(team);
        // Encryption fails only for plaintexts beyond what a u64 counts; ours are bytes of JSON.
        let ciphertext = key
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        Sealed {
            key_id: key.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    pub fn open(&self, team: Uuid, sealed: &Sealed) -> Result<Vec<u8>, SecretsError> {
        let key = self
            .keys
            .iter()
            .find(|key| key.id == sealed.key_id)
            .ok_or_else(|| SecretsError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.nonce.len() != NONCE_BYTES {
            return Err(SecretsError::Damaged(sealed.key_id.clone()));
        }
        let aad = SecretsKeys::associated(team);
        key.cipher
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| SecretsError::Damaged(sealed.key_id.clone()))
    }
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub new_key_id: String,
    pub resealed: usize,
}

/// Replaces the key in `path` with a new one and re-seals every stored secret with it (see
/// the module's text for why no step can lose a secret). Run it with the servers stopped, then
/// give every server the new file.
pub async fn rotate<S: Store>(path: &Path, store: &S) -> Result<Rotated, SecretsError> {
    // The keys in use first: nothing is written when there is nothing to rotate.
    if read_key(path)?.is_none() {
        return Err(SecretsError::NothingToRotate(path.to_owned()));
    }
    let next_path = pending(path);
    let next = match read_key(&next_path)? {
        Some(next) => next,
        None => {
            let next = fresh_key();
            write_key(&next_path, &next)?;
            next
        }
    };
    let mut known = SecretsKeys::load(path)?;
    let next = Key::from_bytes(&next);
    let new_key_id = next.id.clone();
    known.keys.retain(|key| key.id != new_key_id);
    known.keys.insert(0, next);
    let mut resealed = 0;
    for row in store.psa_connections().await? {
        if row.sealed_keys.key_id == new_key_id {
            continue;
        }
        let plaintext = known.open(row.team_id, &row.sealed_keys)?;
        let fresh = known.seal(row.team_id, &plaintext);
        if store
            .reseal_psa_connection(row.team_id, row.sealed_keys, fresh)
            .await?
        {
            resealed += 1;
        }
    }
    std::fs::rename(&next_path, path).map_err(|error| SecretsError::Write {
        path: path.to_owned(),
        error,
    })?;
    Ok(Rotated {
        new_key_id,
        resealed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_for_its_team_only_and_never_shows_in_the_clear() {
        let keys = SecretsKeys::ephemeral();
        let team = Uuid::new_v4();
        let sealed = keys.seal(team, b"private key 7Hq");
        assert_eq!(sealed.key_id, keys.sealing_id());
        assert!(
            !sealed
                .ciphertext
                .windows(b"7Hq".len())
                .any(|window| window == b"7Hq")
        );
        assert_eq!(keys.open(team, &sealed).unwrap(), b"private key 7Hq");
        assert!(matches!(
            keys.open(Uuid::new_v4(), &sealed),
            Err(SecretsError::Damaged(_))
        ));
        let mut flipped = sealed.clone();
        flipped.ciphertext[0] ^= 1;
        assert!(matches!(
            keys.open(team, &flipped),
            Err(SecretsError::Damaged(_))
        ));
        // Two seals of one secret differ (fresh nonces).
        assert_ne!(keys.seal(team, b"x").nonce, keys.seal(team, b"x").nonce);
    }

    #[test]
    fn another_servers_key_is_named_not_guessed() {
        let sealed = SecretsKeys::ephemeral().seal(Uuid::nil(), b"x");
        let error = SecretsKeys::ephemeral()
            .open(Uuid::nil(), &sealed)
            .unwrap_err();
        assert!(matches!(&error, SecretsError::UnknownKey(id) if *id == sealed.key_id));
        assert!(error.to_string().contains("--secrets-key-file"));
    }

    #[test]
    fn the_key_file_is_made_private_and_refused_when_exposed_or_malformed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        let made = SecretsKeys::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Loaded again, the same key.
        let again = SecretsKeys::load_or_create(&path).unwrap();
        assert_eq!(made.sealing_id(), again.sealing_id());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let exposed = SecretsKeys::load(&path).unwrap_err().to_string();
        assert!(exposed.contains("chmod 600"), "{exposed}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "not hex\n").unwrap();
        assert!(matches!(
            SecretsKeys::load(&path),
            Err(SecretsError::Malformed(_))
        ));
        assert!(matches!(
            SecretsKeys::load(&dir.path().join("missing")),
            Err(SecretsError::Read { .. })
        ));
    }
}
