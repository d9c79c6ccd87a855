//! Keeping a replica private to its user and refusing to mistake a damaged one for a new one.
//!
//! A replica holds clients' ticket notes, pasted command output and attachments, so on Unix its
//! data directory is 0700 and its database files (with SQLite's `-wal` and `-shm`) and
//! attachment files 0600. A new database file is created 0600 before SQLite writes to it (SQLite
//! gives its `-wal` and `-shm` files the database file's mode). Replicas made by earlier builds
//! are corrected when opened.
//!
//! A database file that exists but is empty (0 bytes: truncated, or copied while it was
//! being written) is refused with what to do, because SQLite would silently start a new
//! replica in it and the engineer would believe their work gone.

use std::path::Path;

use crate::error::{ReplicaError, Result};

/// Creates the data directory (0700) and, when missing, the database file (0600); refuses an
/// empty existing database file; corrects the modes of a replica made before they were set.
pub(crate) fn prepare(data_dir: &Path, database: &Path) -> Result<()> {
    std::fs::create_dir_all(data_dir).map_err(ReplicaError::io(
        "cannot create the data directory",
        data_dir,
    ))?;
    let directory_was_open = restrict(data_dir, 0o700)?;
    match std::fs::metadata(database) {
        Ok(metadata) if metadata.len() == 0 && !wal_has_content(database) => {
            return Err(ReplicaError::Invalid(format!(
                "the replica database {} is empty (0 bytes): it was cut short, or copied while it was being written. \
                 Restore it from a backup, or move it away to start a new replica here (work only in it is then lost); \
                 nothing was changed",
                database.display()
            )));
        }
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => create_private(database)?,
        Err(error) => {
            return Err(ReplicaError::Io {
                action: "cannot read",
                path: database.to_owned(),
                source: error,
            });
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        restrict(Path::new(&name), 0o600)?;
    }
    if directory_was_open {
        // Attachment files are written 0600; a replica from before may have open ones.
        restrict_tree(&data_dir.join(crate::ATTACHMENTS_DIR))?;
    }
    Ok(())
}

/// A `-wal` file with content beside an empty database holds the database's first commits.
fn wal_has_content(database: &Path) -> bool {
    let mut name = database.as_os_str().to_owned();
    name.push("-wal");
    std::fs::metadata(Path::new(&name)).is_ok_and(|metadata| metadata.len() > 0)
}

#[cfg(unix)]
fn create_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        // Another process created it first: it sets the mode the same way.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(ReplicaError::Io {
            action: "cannot create",
            path: path.to_owned(),
            source: error,
        }),
    }
}

#[cfg(not(unix))]
fn create_private(_path: &Path) -> Result<()> {
    // SQLite creates the file; on Windows the user's profile directory is already private.
    Ok(())
}

/// Sets `mode` on `path` if it exists and has any bit beyond it. Returns whether it changed.
#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => {
            return Err(ReplicaError::Io {
                action: "cannot read",
                path: path.to_owned(),
                source: error,
            });
        }
    };
    if metadata.file_type().is_symlink() || metadata.permissions().mode() & 0o777 & !mode == 0 {
        return Ok(false);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(ReplicaError::io("cannot make private", path))?;
    Ok(true)
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> Result<bool> {
    Ok(false)
}

/// Directories 0700 and files 0600 under `root` (the attachment store: two levels deep).
fn restrict_tree(root: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(ReplicaError::Io {
                action: "cannot read",
                path: root.to_owned(),
                source: error,
            });
        }
    };
    restrict(root, 0o700)?;
    for entry in entries {
        let entry = entry.map_err(ReplicaError::io("cannot read", root))?;
        let path = entry.path();
        let file_type = entry
            .file_type()
            .map_err(ReplicaError::io("cannot read", &path))?;
        if file_type.is_dir() {
            restrict_tree(&path)?;
        } else if file_type.is_file() {
            restrict(&path, 0o600)?;
        }
    }
    Ok(())
}
