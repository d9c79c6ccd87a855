//! The watched flows folder: real files, real inotify, a real replica.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rf_replica::flow_files::FolderImport;
use rf_replica::folder::FolderWatch;
use rf_replica::{ImportStatus, Replica};

/// Long enough for a busy machine; a pass normally arrives within SETTLE plus a few ms.
const PATIENCE: Duration = Duration::from_secs(20);

fn sample_text() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../samples/flows/printer-offline-queue-stuck.flow.json"
    ))
    .unwrap()
}

fn next(passes: &mpsc::Receiver<FolderImport>) -> FolderImport {
    passes
        .recv_timeout(PATIENCE)
        .expect("the folder was not read again after a change")
}

fn write(path: &Path, text: &str) {
    // As editors do: a temporary file renamed over the old one.
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

#[test]
fn files_created_or_changed_are_imported_and_invalid_ones_listed_with_nothing_imported() {
    let data = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let replica = Replica::open(data.path()).unwrap();
    let (sender, passes) = mpsc::channel();
    let _watch = FolderWatch::spawn(data.path(), folder.path(), move |pass| {
        let _ = sender.send(pass.unwrap());
    })
    .unwrap();
    // The first pass reads the folder as it is: empty.
    let first = next(&passes);
    assert!(first.imported.is_empty() && first.invalid.is_empty());

    let file = folder.path().join("printer.flow.json");
    write(&file, &sample_text());
    let pass = next(&passes);
    assert_eq!(pass.imported.len(), 1);
    assert_eq!(pass.imported[0].status, ImportStatus::Created);
    assert_eq!(replica.flows().unwrap().len(), 1);

    // A broken file in a subfolder: every problem listed, nothing of it imported, the good
    // file untouched.
    std::fs::create_dir(folder.path().join("drafts")).unwrap();
    let broken = sample_text().replacen("\"start\":", "\"start_node\":", 1);
    write(&folder.path().join("drafts/broken.flow.json"), &broken);
    let pass = loop {
        let pass = next(&passes);
        if !pass.invalid.is_empty() {
            break pass;
        }
    };
    assert_eq!(pass.invalid.len(), 1, "{:?}", pass.invalid);
    assert!(pass.invalid[0].path.ends_with("drafts/broken.flow.json"));
    assert!(!pass.invalid[0].problems.is_empty());
    assert!(!pass.changed_anything());
    assert_eq!(replica.flows().unwrap().len(), 1);

    // An edit is a new version; other files are not touched; files of other names ignored.
    std::fs::write(folder.path().join("notes.txt"), "not a flow").unwrap();
    let edited = sample_text().replacen("\"title\": \"", "\"title\": \"Edited: ", 1);
    write(&file, &edited);
    let pass = loop {
        let pass = next(&passes);
        if pass.changed_anything() {
            break pass;
        }
    };
    assert_eq!(
        pass.imported
            .iter()
            .filter(|o| o.status == ImportStatus::NewVersion)
            .count(),
        1
    );
    let flows = replica.flows().unwrap();
    assert_eq!(flows.len(), 1);
    assert!(flows[0].title.starts_with("Edited: "), "{}", flows[0].title);
}

#[test]
fn a_folder_that_is_not_there_is_said_plainly() {
    let data = tempfile::tempdir().unwrap();
    let error = FolderWatch::spawn(data.path(), &data.path().join("nope"), |_| {}).unwrap_err();
    assert!(error.to_string().contains("does not exist"), "{error}");
}
