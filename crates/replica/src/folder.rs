//! The desktop's watched flows folder: every `*.flow.json` created or changed under it is
//! validated and imported within moments; a file with problems is reported with every problem
//! and nothing of it is imported. The folder is brought in whole after each burst of changes
//! (editors write a file in several steps): versions are content-addressed, so files that did
//! not change change nothing.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use crate::flow_files::{FolderImport, is_flow_file};
use crate::{Replica, ReplicaError, Result};

/// Quiet time after the last change before the folder is read.
pub const SETTLE: Duration = Duration::from_millis(300);

/// A watched folder; dropping it stops watching.
pub struct FolderWatch {
    _watcher: notify::RecommendedWatcher,
    dir: PathBuf,
}

impl std::fmt::Debug for FolderWatch {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("FolderWatch")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl FolderWatch {
    /// Brings `dir` in now, then again after every burst of changes to flow files under it,
    /// on a thread of its own with its own connection to the replica in `data_dir`. `report`
    /// hears of every pass (or of why one failed).
    pub fn spawn(
        data_dir: &Path,
        dir: &Path,
        mut report: impl FnMut(Result<FolderImport>) + Send + 'static,
    ) -> Result<FolderWatch> {
        if !dir.is_dir() {
            return Err(ReplicaError::Invalid(format!(
                "the flows folder {} does not exist or is not a folder; create it or choose another",
                dir.display()
            )));
        }
        let mut replica = Replica::open(data_dir)?;
        let (changes, arrived) = mpsc::channel::<()>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let relevant = match &event {
                    Ok(event) => event
                        .paths
                        .iter()
                        .any(|path| is_flow_file(path) || path.is_dir()),
                    // An overflowed queue may have lost a change: read the folder again.
                    Err(_) => true,
                };
                if relevant {
                    let _ = changes.send(());
                }
            })
            .map_err(|error| watch_failed(dir, &error))?;
        watcher
            .watch(dir, RecursiveMode::Recursive)
            .map_err(|error| watch_failed(dir, &error))?;
        let folder = dir.to_path_buf();
        std::thread::Builder::new()
            .name("rf-flows-folder".into())
            .spawn(move || {
                report(replica.import_folder(&folder));
                // Each burst: wait for the first change, then for SETTLE of quiet.
                while arrived.recv().is_ok() {
                    loop {
                        match arrived.recv_timeout(SETTLE) {
                            Ok(()) => {}
                            Err(RecvTimeoutError::Timeout) => break,
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                    }
                    report(replica.import_folder(&folder));
                }
            })
            .map_err(ReplicaError::io("start watching the flows folder", dir))?;
        Ok(FolderWatch {
            _watcher: watcher,
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn watch_failed(dir: &Path, error: &notify::Error) -> ReplicaError {
    ReplicaError::Invalid(format!(
        "cannot watch the flows folder {}: {error}; on Linux, raise fs.inotify.max_user_watches if it is the limit",
        dir.display()
    ))
}
