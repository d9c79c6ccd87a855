//! Attachments: files stored once under `<data dir>/attachments/<aa>/<sha256>`, referenced by
//! session events. The file is written and synced before the event commits, so an event never
//! points at a missing file; a crash in between leaves only an unreferenced file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rf_core::session::{AttachmentRef, Command};
use uuid::Uuid;

use crate::error::{ReplicaError, Result};
use crate::{ATTACHMENTS_DIR, Replica, SessionRecord, now, timestamp};

/// An attachment this replica has pulled events for but not the file yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentDownload {
    pub sha256: String,
    pub name: String,
    pub size: i64,
}

fn media_type(name: &str) -> String {
    mime_guess::from_path(name)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .to_owned()
}

/// Where the attachment with this content hash lives in the data directory `data_dir`.
pub(crate) fn attachment_file(data_dir: &Path, sha256: &str) -> PathBuf {
    let shard = sha256.get(..2).unwrap_or("00");
    data_dir.join(ATTACHMENTS_DIR).join(shard).join(sha256)
}

impl Replica {
    /// Where the attachment with this content hash lives.
    pub fn attachment_path(&self, sha256: &str) -> PathBuf {
        attachment_file(self.data_dir(), sha256)
    }

    /// Copies a file into the attachment store and records it on the session's current step.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(session = %session_id, path = %path.display()))]
    pub fn attach_file(
        &mut self,
        session_id: Uuid,
        path: &Path,
    ) -> Result<(SessionRecord, AttachmentRef)> {
        let name = shown_file_name(path);
        // Never above the team's limit, or the file could never sync.
        let limit = self
            .options
            .max_attachment_bytes
            .min(rf_core::received::MAX_ATTACHMENT_BYTES);
        let file = std::fs::File::open(path).map_err(ReplicaError::io("cannot open", path))?;
        let size = file
            .metadata()
            .map_err(ReplicaError::io("cannot read", path))?
            .len();
        if size > limit {
            return Err(ReplicaError::AttachmentTooLarge { name, size, limit });
        }
        // The file may grow while we read it: read at most one byte past the limit to know.
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(ReplicaError::io("cannot read", path))?;
        if bytes.len() as u64 > limit {
            return Err(ReplicaError::AttachmentTooLarge {
                name,
                size: bytes.len() as u64,
                limit,
            });
        }
        let attachment = AttachmentRef {
            media_type: media_type(&name),
            name,
            sha256: rf_core::sha256_hex(&bytes),
            size: bytes.len() as u64,
        };
        self.store_blob(&attachment.sha256, &bytes)?;
        let row = attachment.clone();
        let record = self.run_commands_with(
            session_id,
            |_, _| {
                Ok(vec![Command::Attach {
                    attachment: attachment.clone(),
                }])
            },
            |transaction| {
                transaction.execute(
                    "INSERT INTO attachments (sha256, size, media_type, created_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (sha256) DO NOTHING",
                    (&row.sha256, row.size as i64, &row.media_type, timestamp(now())),
                )?;
                Ok(())
            },
        )?;
        Ok((record, attachment))
    }

    /// Attachments of pulled sessions whose files this replica does not have yet.
    pub fn attachment_downloads(&self) -> Result<Vec<AttachmentDownload>> {
        let mut statement = self.connection.prepare_cached(
            "SELECT sha256, name, size FROM attachment_downloads ORDER BY sha256",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(AttachmentDownload {
                sha256: row.get(0)?,
                name: row.get(1)?,
                size: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Stores a downloaded attachment file, if its content is its name, and crosses it off the
    /// list of downloads. A file whose content does not match is refused and nothing changes.
    pub fn store_downloaded_attachment(
        &mut self,
        wanted: &AttachmentDownload,
        bytes: &[u8],
    ) -> Result<()> {
        if rf_core::sha256_hex(bytes) != wanted.sha256 {
            return Err(ReplicaError::Invalid(format!(
                "the sync server sent attachment {} ({}) with other content; it was not kept",
                wanted.name, wanted.sha256
            )));
        }
        self.store_blob(&wanted.sha256, bytes)?;
        let transaction = self.write_transaction()?;
        transaction.execute(
            "INSERT INTO attachments (sha256, size, media_type, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (sha256) DO NOTHING",
            (
                &wanted.sha256,
                bytes.len() as i64,
                media_type(&wanted.name),
                timestamp(now()),
            ),
        )?;
        cross_off_download(&transaction, &wanted.sha256)?;
        transaction.commit()?;
        Ok(())
    }

    /// Crosses a download off the list for good, keeping it with the reason among the items
    /// set aside (`rf status` counts them): the server's file never matches its name, or the
    /// name is not a SHA-256. The rest of the downloads go on.
    pub fn set_aside_download(&mut self, wanted: &AttachmentDownload, reason: &str) -> Result<()> {
        tracing::warn!(sha256 = %wanted.sha256, name = %wanted.name, reason, "set aside an attachment download");
        let transaction = self.write_transaction()?;
        transaction.execute(
            "INSERT INTO set_aside (kind, item, team_seq, reason, payload, set_aside_at)
             VALUES ('attachment', ?1, NULL, ?2, ?3, ?4) ON CONFLICT (kind, item) DO NOTHING",
            (&wanted.sha256, reason, &wanted.name, timestamp(now())),
        )?;
        cross_off_download(&transaction, &wanted.sha256)?;
        transaction.commit()?;
        Ok(())
    }

    fn store_blob(&self, sha256: &str, bytes: &[u8]) -> Result<()> {
        let destination = self.attachment_path(sha256);
        if destination.exists() {
            return Ok(());
        }
        let directory = destination
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.data_dir().join(ATTACHMENTS_DIR));
        std::fs::create_dir_all(&directory)
            .map_err(ReplicaError::io("cannot create", &directory))?;
        let mut temporary = tempfile::NamedTempFile::new_in(&directory)
            .map_err(ReplicaError::io("cannot write in", &directory))?;
        temporary
            .write_all(bytes)
            .and_then(|()| temporary.as_file().sync_all())
            .map_err(ReplicaError::io("cannot write", temporary.path()))?;
        temporary
            .persist(&destination)
            .map_err(|error| ReplicaError::Io {
                action: "cannot store",
                path: destination.clone(),
                source: error.error,
            })?;
        // The rename is durable only once the directory entry is on disk.
        std::fs::File::open(&directory)
            .and_then(|handle| handle.sync_all())
            .map_err(ReplicaError::io("cannot sync", &directory))?;
        Ok(())
    }
}

/// Removes a file from the list of downloads, inside the caller's transaction (stored or set
/// aside: either way it is not fetched again).
fn cross_off_download(transaction: &rusqlite::Transaction<'_>, sha256: &str) -> Result<()> {
    transaction.execute(
        "DELETE FROM attachment_downloads WHERE sha256 = ?1",
        [sha256],
    )?;
    Ok(())
}

/// The name an attachment is shown and synced under: the file's name with control characters
/// replaced and cut to the length every replica accepts (`rf_core::received::check_file_name`),
/// so a file attached here can always reach the team.
fn shown_file_name(path: &Path) -> String {
    let original = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name = String::new();
    for character in original.chars() {
        let character = if character.is_control() {
            '_'
        } else {
            character
        };
        if name.len() + character.len_utf8() > rf_core::received::MAX_ATTACHMENT_NAME_BYTES {
            break;
        }
        name.push(character);
    }
    if rf_core::received::check_file_name(&name).is_err() {
        name = "attachment".to_owned();
    }
    name
}
