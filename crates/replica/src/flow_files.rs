//! Flow files on disk: finding `*.flow.json` under folders, reading one within the size limit
//! with every problem it has, and bringing a folder's valid files into the replica. Shared by
//! `rf flow import` / `rf flow validate` and the desktop app's watched flows folder.

use std::path::{Path, PathBuf};

use rf_core::Flow;
use rf_core::flow::MAX_FLOW_FILE_BYTES;
use serde::Serialize;

use crate::{ImportOutcome, Replica, Result, WriteSource};

/// The name every flow file ends with.
pub const FLOW_FILE_SUFFIX: &str = ".flow.json";

pub fn is_flow_file(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name.to_string_lossy().ends_with(FLOW_FILE_SUFFIX))
}

/// Every `*.flow.json` under the given paths (folders recursively, sorted for repeatable
/// order); a path that cannot be read is an `Err` with the reason.
pub fn collect(paths: &[PathBuf]) -> Vec<std::result::Result<PathBuf, (PathBuf, String)>> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut stack = vec![path.clone()];
            let mut files = Vec::new();
            while let Some(dir) = stack.pop() {
                match std::fs::read_dir(&dir) {
                    Ok(entries) => {
                        for entry in entries.flatten() {
                            let entry_path = entry.path();
                            if entry_path.is_dir() {
                                stack.push(entry_path);
                            } else if is_flow_file(&entry_path) {
                                files.push(entry_path);
                            }
                        }
                    }
                    Err(error) => found.push(Err((
                        dir.clone(),
                        format!("cannot read the folder: {error}"),
                    ))),
                }
            }
            files.sort();
            found.extend(files.into_iter().map(Ok));
        } else if path.exists() {
            found.push(Ok(path.clone()));
        } else {
            found.push(Err((path.clone(), "no such file or folder".into())));
        }
    }
    found
}

/// Reads and validates one flow file: the flow, or every problem it has
/// (`<node id>: <problem>`, or `(flow): …` for the file as a whole).
pub fn read(path: &Path) -> std::result::Result<Flow, Vec<String>> {
    let size = std::fs::metadata(path)
        .map_err(|error| vec![format!("(flow): cannot read the file: {error}")])?
        .len();
    if size > MAX_FLOW_FILE_BYTES as u64 {
        return Err(vec![format!(
            "(flow): the file is {size} bytes, over the {MAX_FLOW_FILE_BYTES} byte limit for a flow"
        )]);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|error| vec![format!("(flow): cannot read the file: {error}")])?;
    Flow::parse(&text).map_err(|error| error.problems.iter().map(ToString::to_string).collect())
}

/// A file of a folder that could not be imported, with every problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidFile {
    pub path: PathBuf,
    pub problems: Vec<String>,
}

/// What bringing a folder in did.
#[derive(Debug, Default, Serialize)]
pub struct FolderImport {
    /// Valid files, each imported in its own transaction (unchanged ones included, as
    /// `Unchanged`).
    pub imported: Vec<ImportOutcome>,
    /// Files with problems: nothing of them was imported.
    pub invalid: Vec<InvalidFile>,
}

impl FolderImport {
    /// Whether any flow is new or has a new version.
    pub fn changed_anything(&self) -> bool {
        self.imported
            .iter()
            .any(|outcome| outcome.status != crate::ImportStatus::Unchanged)
    }
}

/// A file name for a flow: its title in lower case, words joined by `-`, then the suffix;
/// `flow` when the title has no letters or digits.
pub fn file_name_for(title: &str) -> String {
    let mut name = String::new();
    for word in title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
    {
        if name.len() > 80 {
            break;
        }
        if !name.is_empty() {
            name.push('-');
        }
        name.extend(word.chars().flat_map(char::to_lowercase));
    }
    if name.is_empty() {
        name.push_str("flow");
    }
    name + FLOW_FILE_SUFFIX
}

impl Replica {
    /// Writes a flow's latest version into `dir` as a flow file, and answers its path. The
    /// file is written aside and renamed into place, so a folder watcher never reads half of
    /// it. A file of that name holding another flow is left alone: the name then carries the
    /// flow's id.
    pub fn export_flow_to(&self, flow_id: uuid::Uuid, dir: &Path) -> Result<PathBuf> {
        let document = self.flow(flow_id)?.document;
        let mut path = dir.join(file_name_for(&document.title));
        let holds_another =
            |path: &Path| path.exists() && read(path).map_or(true, |flow| flow.id != document.id);
        if holds_another(&path) {
            let short = &flow_id.to_string()[..8];
            let named = file_name_for(&format!("{} {short}", document.title));
            path = dir.join(named);
        }
        let text = document.to_json_pretty();
        let aside = dir.join(format!(".{}.partial", flow_id));
        std::fs::write(&aside, text.as_bytes())
            .map_err(crate::ReplicaError::io("cannot write", &aside))?;
        std::fs::rename(&aside, &path).map_err(|error| {
            let _ = std::fs::remove_file(&aside);
            crate::ReplicaError::io("cannot write", &path)(error)
        })?;
        Ok(path)
    }

    /// Imports every valid flow file under `dir`; an invalid file is reported with its
    /// problems and changes nothing, and does not stop the others. A file unchanged since its
    /// last import changes nothing either (versions are content-addressed).
    pub fn import_folder(&mut self, dir: &Path) -> Result<FolderImport> {
        let mut report = FolderImport::default();
        for file in collect(&[dir.to_path_buf()]) {
            match file {
                Ok(path) => match read(&path) {
                    Ok(flow) => report
                        .imported
                        .push(self.import_flow(flow, WriteSource::Import)?),
                    Err(problems) => report.invalid.push(InvalidFile { path, problems }),
                },
                Err((path, problem)) => report.invalid.push(InvalidFile {
                    path,
                    problems: vec![format!("(flow): {problem}")],
                }),
            }
        }
        Ok(report)
    }
}
