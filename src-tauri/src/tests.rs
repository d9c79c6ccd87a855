//! The shell's commands through Tauri's mock runtime: the real IPC path (argument decoding,
//! the handler table, the blocking pool, answers and errors as the page receives them) over
//! a real replica in a temporary directory.

use std::sync::{Arc, Mutex};

use rf_app_api::commands::{ALL, ActArgs, AttachFileArgs, LogInArgs, SaveDraftArgs, SetPinArgs};
use rf_app_api::events::{Changed, SyncStatus};
use rf_app_api::links::Link;
use rf_app_api::{
    CommandError, ErrorKind, Home, Library, LibraryFilter, SessionView, StartSession, Theme,
};
use rf_core::session::{Choice, Command};
use rf_replica::environment::TokenStoreKind;
use rf_replica::{Replica, WriteSource};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tauri::test::{INVOKE_KEY, MockRuntime, mock_builder, mock_context, noop_assets};
use tauri::webview::{InvokeRequest, WebviewWindow};
use tauri::{Manager, WebviewWindowBuilder};

use crate::shell::{Effects, Shell};

/// Records what the shell did to the desktop.
#[derive(Default)]
struct Recorded {
    statuses: Mutex<Vec<SyncStatus>>,
    navigated: Mutex<Vec<Link>>,
    copied: Mutex<Vec<String>>,
    opened: Mutex<Vec<String>>,
    painted: Mutex<u32>,
    watched: Mutex<Vec<Option<String>>>,
    /// What the file dialog answers.
    picked: Mutex<Vec<std::path::PathBuf>>,
    autostart: Mutex<bool>,
    shortcuts: Mutex<Vec<String>>,
}

impl Effects for Recorded {
    fn watch_folder(&self, dir: Option<&std::path::Path>) {
        self.watched
            .lock()
            .unwrap()
            .push(dir.map(|dir| dir.display().to_string()));
    }
    fn status_changed(&self, status: &SyncStatus) {
        self.statuses.lock().unwrap().push(status.clone());
    }
    fn data_changed(&self, _changed: Changed) {}
    fn navigate(&self, link: &Link) {
        self.navigated.lock().unwrap().push(link.clone());
    }
    fn notice(&self, _text: &str) {}
    fn painted(&self) {
        *self.painted.lock().unwrap() += 1;
    }
    fn start_at_login(&self) -> Option<bool> {
        Some(*self.autostart.lock().unwrap())
    }
    fn set_start_at_login(&self, on: bool) -> Result<(), String> {
        *self.autostart.lock().unwrap() = on;
        Ok(())
    }
    fn set_shortcut(&self, shortcut: &str) -> Result<(), String> {
        self.shortcuts.lock().unwrap().push(shortcut.to_string());
        Ok(())
    }
    fn shortcut_problem(&self) -> Option<String> {
        None
    }
    fn pick_files(&self, _title: &str) -> Vec<std::path::PathBuf> {
        self.picked.lock().unwrap().clone()
    }
    fn copy_text(&self, text: &str) -> Result<(), String> {
        self.copied.lock().unwrap().push(text.to_string());
        Ok(())
    }
    fn open_link(&self, url: &str) -> Result<(), String> {
        self.opened.lock().unwrap().push(url.to_string());
        Ok(())
    }
    fn pilot_text(&self, _session: uuid::Uuid, _text: &str) {}
}

struct Harness {
    _dir: tempfile::TempDir,
    _app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    effects: Arc<Recorded>,
    flow_id: uuid::Uuid,
}

fn harness() -> Harness {
    harness_of("dns-resolution-failure")
}

/// The app over a replica holding one sample flow (`samples/flows/<name>.flow.json`).
fn harness_of(sample: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let text = std::fs::read_to_string(format!(
        "{}/../samples/flows/{sample}.flow.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let flow = rf_core::Flow::parse(&text).unwrap();
    let flow_id = replica
        .import_flow(flow, WriteSource::Import)
        .unwrap()
        .flow_id;
    let effects = Arc::new(Recorded::default());
    let shell = Shell::new(
        Ok(Arc::new(Mutex::new(replica))),
        TokenStoreKind::File,
        effects.clone(),
    );
    let app = mock_builder()
        .invoke_handler(crate::handler())
        .manage(shell)
        .build(mock_context(noop_assets()))
        .unwrap();
    let window = WebviewWindowBuilder::new(&app, crate::MAIN_WINDOW, Default::default())
        .build()
        .unwrap();
    Harness {
        _dir: dir,
        _app: app,
        window,
        effects,
        flow_id,
    }
}

impl Harness {
    fn invoke_raw(&self, command: &str, args: Value) -> Result<Value, Value> {
        tauri::test::get_ipc_response(
            &self.window,
            InvokeRequest {
                cmd: command.into(),
                callback: tauri::ipc::CallbackFn(0),
                error: tauri::ipc::CallbackFn(1),
                url: "tauri://localhost".parse().unwrap(),
                body: tauri::ipc::InvokeBody::Json(json!({ "args": args })),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|body| body.deserialize::<Value>().unwrap())
    }

    fn call<C: rf_app_api::Command>(&self, args: &C::Args) -> Result<C::Output, CommandError> {
        self.invoke_raw(C::NAME, serde_json::to_value(args).unwrap())
            .map(decode)
            .map_err(|error| {
                serde_json::from_value(error.clone()).unwrap_or_else(|_| {
                    panic!("{} failed without a CommandError: {error}", C::NAME)
                })
            })
    }
}

fn decode<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap()
}

use rf_app_api::commands as c;

#[test]
fn every_command_the_contract_declares_is_registered() {
    let harness = harness();
    for name in ALL {
        // Arguments of the wrong shape: a registered command refuses them, an unregistered
        // one is "not found".
        let answer = harness.invoke_raw(name, json!({"not": "an argument"}));
        if let Err(error) = answer {
            let text = error.to_string();
            assert!(
                !text.contains("not found"),
                "{name} is not registered: {text}"
            );
        }
    }
    let unknown = harness
        .invoke_raw("no_such_command", json!(null))
        .unwrap_err();
    assert!(unknown.to_string().contains("not found"), "{unknown}");
}

#[test]
fn a_session_from_start_to_finish_through_the_commands() {
    let harness = harness();
    let home: Home = harness.call::<c::LoadHome>(&()).unwrap();
    assert!(home.pinned.is_empty() && home.in_progress.is_empty());

    let library: Library = harness
        .call::<c::LoadLibrary>(&LibraryFilter {
            text: "resolve".into(),
            ..LibraryFilter::default()
        })
        .unwrap();
    assert_eq!(library.flows.len(), 1);
    assert!(
        library.flows[0].snippet.contains('['),
        "{:?}",
        library.flows[0]
    );

    assert!(
        harness
            .call::<c::SetPin>(&SetPinArgs {
                flow_id: harness.flow_id,
                pinned: true
            })
            .unwrap()
    );
    let home = harness.call::<c::LoadHome>(&()).unwrap();
    assert_eq!(home.pinned[0].id, harness.flow_id);

    // Required intake is enforced by the replica, and said in words.
    let missing = harness
        .call::<c::StartSession>(&StartSession {
            flow_id: harness.flow_id,
            ticket: "T-1".into(),
            ..StartSession::default()
        })
        .unwrap_err();
    assert_eq!(missing.kind, ErrorKind::Invalid, "{missing:?}");

    let statuses_before = harness.effects.statuses.lock().unwrap().len();
    let view: SessionView = harness
        .call::<c::StartSession>(&StartSession {
            flow_id: harness.flow_id,
            ticket: "T-1042".into(),
            client: "Acme Dental".into(),
            variables: [
                ("lookup_name".to_string(), "intranet.acme.local".to_string()),
                ("dns_server".to_string(), "10.0.0.10".to_string()),
            ]
            .into(),
        })
        .unwrap();
    let first = view.current.clone().unwrap().node.unwrap();
    assert_eq!(first.id, "scope");
    // The status bar hears of the pending change at once.
    let statuses = harness.effects.statuses.lock().unwrap().clone();
    assert!(statuses.len() > statuses_before);
    assert!(statuses.last().unwrap().report.pending.pending() > 0);

    // A note typed and saved as a draft comes back with the session, then becomes part of
    // the record when the engineer answers.
    harness
        .call::<c::SaveDraft>(&SaveDraftArgs {
            session_id: view.id,
            text: "Only the accounting PC fails".into(),
        })
        .unwrap();
    let reopened = harness.call::<c::LoadSession>(&view.id).unwrap();
    assert_eq!(
        reopened.draft.as_deref(),
        Some("Only the accounting PC fails")
    );
    let after = harness
        .call::<c::Act>(&ActArgs {
            session_id: view.id,
            commands: vec![Command::Answer {
                choice: Choice::Index(0),
            }],
        })
        .unwrap();
    assert_eq!(after.draft, None);
    assert_ne!(after.current.unwrap().node.unwrap().id, "scope");
    let notes: Vec<_> = after
        .state
        .path
        .iter()
        .flat_map(|entry| entry.notes.iter().map(|note| note.text.clone()))
        .collect();
    assert_eq!(notes, ["Only the accounting PC fails"]);

    // An answer that does not exist is refused and nothing is recorded.
    let refused = harness
        .call::<c::Act>(&ActArgs {
            session_id: view.id,
            commands: vec![Command::Answer {
                choice: Choice::Index(40),
            }],
        })
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Invalid, "{refused:?}");
    let again = harness.call::<c::LoadSession>(&view.id).unwrap();
    assert_eq!(again.state.path.len(), after.state.path.len());

    let sessions = harness.call::<c::ListSessions>(&()).unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].ticket, "T-1042");
    let unknown = harness
        .call::<c::LoadSession>(&uuid::Uuid::nil())
        .unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::NotFound, "{unknown:?}");
}

#[test]
fn a_batch_through_the_commands() {
    let harness = harness_of("monthly-server-patching");
    let list = harness
        .call::<c::SaveTargetList>(&c::SaveTargetListArgs {
            client: "Acme Dental".into(),
            name: "Servers".into(),
            targets: vec!["SRV-01".into(), "SRV-02".into(), "DC01".into()],
        })
        .unwrap();
    assert_eq!(list.targets.len(), 3);
    assert_eq!(harness.call::<c::ListTargetLists>(&()).unwrap(), [list]);
    // A value the batch needs is missing: said, and nothing is written.
    let refused = harness
        .call::<c::StartBatch>(&c::StartBatchArgs {
            flow_id: harness.flow_id,
            targets: c::BatchTargets::List {
                name: "servers".into(),
                client: None,
            },
            ticket: "CHG-7".into(),
            client: String::new(),
            variables: Default::default(),
        })
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Invalid, "{refused:?}");
    assert!(harness.call::<c::ListBatches>(&()).unwrap().is_empty());

    let hub = harness
        .call::<c::StartBatch>(&c::StartBatchArgs {
            flow_id: harness.flow_id,
            targets: c::BatchTargets::List {
                name: "servers".into(),
                client: None,
            },
            ticket: "CHG-7".into(),
            client: String::new(),
            variables: [("patch_window".to_string(), "Sat 22:00".to_string())].into(),
        })
        .unwrap();
    assert_eq!(hub.batch.client, "Acme Dental");
    assert_eq!(hub.progress.counts.not_started, 3);
    let session = harness
        .call::<c::RunTarget>(&c::RunTargetArgs {
            batch_id: hub.id,
            target: "dc01".into(),
        })
        .unwrap();
    assert_eq!(session.state.variables["server_name"], "DC01");
    // Run again: the same session resumes.
    let again = harness
        .call::<c::RunTarget>(&c::RunTargetArgs {
            batch_id: hub.id,
            target: "DC01".into(),
        })
        .unwrap();
    assert_eq!(again.id, session.id);
    let hub = harness.call::<c::LoadBatch>(&hub.id).unwrap();
    assert_eq!(hub.progress.counts.in_progress, 1);
    assert_eq!(hub.own_sessions, [session.id]);
    let batches = harness.call::<c::ListBatches>(&()).unwrap();
    assert_eq!(
        batches[0].headline,
        "0 of 3 finished, 1 in progress, 2 not started"
    );
    // Nothing is due without schedules; nobody was handed anything; a hand-off needs the
    // team's members, which only a sync brings.
    assert!(
        harness
            .call::<c::LoadDueWork>(&())
            .unwrap()
            .items
            .is_empty()
    );
    assert!(harness.call::<c::HandedToMe>(&()).unwrap().is_empty());
    assert!(harness.call::<c::ListTeamMembers>(&()).unwrap().is_empty());
    let offline = harness
        .call::<c::HandOff>(&c::HandOffArgs {
            session_id: session.id,
            to_email: "sam@acme.example".into(),
            note: None,
        })
        .unwrap_err();
    assert!(offline.message.contains("sync once"), "{offline:?}");
}

#[test]
fn the_window_is_shown_once_when_the_page_first_renders() {
    let harness = harness();
    let shell = harness.window.state::<Shell>();
    assert!(!shell.has_painted());
    harness.call::<c::Painted>(&()).unwrap();
    // A reload renders again; the window is not shown (and focus not stolen) twice.
    harness.call::<c::Painted>(&()).unwrap();
    assert!(shell.has_painted());
    assert_eq!(*harness.effects.painted.lock().unwrap(), 1);
}

#[test]
fn files_are_attached_to_the_step_and_one_too_large_says_so_in_megabytes() {
    let harness = harness();
    let view: SessionView = harness
        .call::<c::StartSession>(&StartSession {
            flow_id: harness.flow_id,
            ticket: "T-7".into(),
            client: String::new(),
            variables: [
                ("lookup_name".to_string(), "intranet.acme.local".to_string()),
                ("dns_server".to_string(), "10.0.0.10".to_string()),
            ]
            .into(),
        })
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let log = files.path().join("ipconfig-all.txt");
    std::fs::write(&log, "Windows IP Configuration\n").unwrap();
    // The dialog's answer comes back as paths for the page to attach.
    harness.effects.picked.lock().unwrap().push(log.clone());
    let picked = harness.call::<c::PickFiles>(&()).unwrap();
    assert_eq!(picked, [log.display().to_string()]);

    let attached = harness
        .call::<c::AttachFile>(&AttachFileArgs {
            session_id: view.id,
            path: picked[0].clone(),
        })
        .unwrap();
    let shown = serde_json::to_string(&attached.state).unwrap();
    assert!(shown.contains("ipconfig-all.txt"), "{shown}");

    let big = files.path().join("memory.dmp");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(30 * 1024 * 1024)
        .unwrap();
    let refused = harness
        .call::<c::AttachFile>(&AttachFileArgs {
            session_id: view.id,
            path: big.display().to_string(),
        })
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Invalid, "{refused:?}");
    assert!(
        refused.message.contains("memory.dmp is 30.0 MB")
            && refused.message.contains("compress it"),
        "{}",
        refused.message
    );
    let missing = harness
        .call::<c::AttachFile>(&AttachFileArgs {
            session_id: view.id,
            path: files.path().join("gone.txt").display().to_string(),
        })
        .unwrap_err();
    assert!(missing.message.contains("gone.txt"), "{missing:?}");
    // Nothing of the refused files went in.
    let after = harness.call::<c::LoadSession>(&view.id).unwrap();
    assert_eq!(
        serde_json::to_value(&after.state).unwrap(),
        serde_json::to_value(&attached.state).unwrap()
    );
}

#[test]
fn settings_keep_the_theme_and_the_flows_folder_on_this_device() {
    let harness = harness();
    let settings = harness.call::<c::LoadSettings>(&()).unwrap();
    assert_eq!(settings.theme, Theme::System);
    assert!(!settings.logged_in && settings.account.is_none());
    assert!(
        settings.token_store.contains("file"),
        "{}",
        settings.token_store
    );

    let dark = harness.call::<c::SetTheme>(&Theme::Dark).unwrap();
    assert_eq!(dark.theme, Theme::Dark);
    assert_eq!(harness.call::<c::LoadTheme>(&()).unwrap(), Theme::Dark);

    // A folder must be a whole path to a folder that exists; refusals change nothing.
    for bad in ["flows", "/no/such/folder/here"] {
        let refused = harness
            .call::<c::SetFlowsDir>(&Some(bad.to_string()))
            .unwrap_err();
        assert_eq!(refused.kind, ErrorKind::Invalid, "{bad}: {refused:?}");
    }
    assert!(harness.effects.watched.lock().unwrap().is_empty());
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().display().to_string();
    let chosen = harness.call::<c::SetFlowsDir>(&Some(path.clone())).unwrap();
    assert_eq!(chosen.flows_dir.as_deref(), Some(path.as_str()));
    // Exporting needs a watched folder, and writes the flow into it.
    let nowhere = harness.call::<c::ExportFlow>(&harness.flow_id).unwrap_err();
    assert!(nowhere.message.contains("Settings"), "{nowhere:?}");
    harness.window.state::<Shell>().folder_is(folder.path());
    let exported = harness.call::<c::ExportFlow>(&harness.flow_id).unwrap();
    assert!(
        exported.ends_with("dns-name-resolution-failure.flow.json"),
        "{exported}"
    );
    assert!(std::path::Path::new(&exported).is_file());
    // Start at login and the global shortcut: a malformed shortcut changes nothing.
    assert_eq!(
        harness.call::<c::LoadSettings>(&()).unwrap().shortcut,
        rf_app_api::DEFAULT_SHORTCUT
    );
    let on = harness.call::<c::SetStartAtLogin>(&true).unwrap();
    assert_eq!(on.start_at_login, Some(true));
    let bad = harness
        .call::<c::SetShortcut>(&"Ctrl+Alt+Nope".to_string())
        .unwrap_err();
    assert_eq!(bad.kind, ErrorKind::Invalid, "{bad:?}");
    let chosen = harness
        .call::<c::SetShortcut>(&" Ctrl+Shift+K ".to_string())
        .unwrap();
    assert_eq!(chosen.shortcut, "Ctrl+Shift+K");
    let none = harness.call::<c::SetShortcut>(&String::new()).unwrap();
    assert_eq!(none.shortcut, "");
    assert_eq!(
        *harness.effects.shortcuts.lock().unwrap(),
        ["Ctrl+Shift+K", ""]
    );
    let stopped = harness.call::<c::SetFlowsDir>(&None).unwrap();
    assert_eq!(stopped.flows_dir, None);
    assert_eq!(
        *harness.effects.watched.lock().unwrap(),
        [Some(path), None],
        "watched at once, then no more"
    );
}

#[test]
fn logging_in_says_what_is_missing_or_unreachable() {
    let harness = harness();
    let missing = harness
        .call::<c::LogIn>(&LogInArgs {
            server_url: " ".into(),
            email: "ada@contoso.example".into(),
            password: "secret".into(),
        })
        .unwrap_err();
    assert_eq!(missing.kind, ErrorKind::Invalid, "{missing:?}");
    // Nothing listens on port 1: an offline answer, not a hang or a crash.
    let unreachable = harness
        .call::<c::LogIn>(&LogInArgs {
            server_url: "http://127.0.0.1:1".into(),
            email: "ada@contoso.example".into(),
            password: "correct horse battery".into(),
        })
        .unwrap_err();
    assert_eq!(unreachable.kind, ErrorKind::Sync, "{unreachable:?}");
    let settings = harness.call::<c::LoadSettings>(&()).unwrap();
    assert!(!settings.logged_in && settings.account.is_none());
}

#[test]
fn links_wait_for_the_page_then_go_as_events() {
    let harness = harness();
    let shell = harness.window.state::<Shell>();
    shell.route(Link::QuickLaunch);
    shell.route(Link::Session {
        id: uuid::Uuid::nil(),
    });
    // The page asks once it listens: the last link that waited.
    assert_eq!(
        harness.call::<c::TakeLink>(&()).unwrap(),
        Some(Link::Session {
            id: uuid::Uuid::nil()
        })
    );
    assert_eq!(harness.call::<c::TakeLink>(&()).unwrap(), None);
    shell.route(Link::QuickLaunch);
    assert_eq!(
        *harness.effects.navigated.lock().unwrap(),
        [Link::QuickLaunch]
    );

    let found = harness
        .call::<c::FindFlow>(&"DNS name resolution failure".into())
        .unwrap();
    assert_eq!(found.id, harness.flow_id);
    let prefix = harness.flow_id.to_string()[..8].to_string();
    assert_eq!(
        harness.call::<c::FindFlow>(&prefix).unwrap().id,
        harness.flow_id
    );
    let none = harness.call::<c::FindFlow>(&"printer".into()).unwrap_err();
    assert_eq!(none.kind, ErrorKind::NotFound);
}

#[test]
fn only_web_and_mail_links_are_opened_and_copies_reach_the_clipboard() {
    let harness = harness();
    for bad in [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "resolutionflow://run/x",
        "nothing",
    ] {
        let refused = harness.call::<c::OpenLink>(&bad.into()).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::Invalid, "{bad}");
    }
    harness
        .call::<c::OpenLink>(&"https://learn.microsoft.com/".into())
        .unwrap();
    harness
        .call::<c::CopyText>(&"ipconfig /flushdns".into())
        .unwrap();
    assert_eq!(
        *harness.effects.opened.lock().unwrap(),
        ["https://learn.microsoft.com/"]
    );
    assert_eq!(
        *harness.effects.copied.lock().unwrap(),
        ["ipconfig /flushdns"]
    );
}

#[test]
fn a_replica_that_cannot_be_opened_is_said_by_every_command() {
    let effects = Arc::new(Recorded::default());
    let problem = CommandError::new(
        ErrorKind::NewerSchema,
        "this data was written by a newer ResolutionFlow; update the app",
    );
    let app = mock_builder()
        .invoke_handler(crate::handler())
        .manage(Shell::new(
            Err(problem.clone()),
            TokenStoreKind::File,
            effects,
        ))
        .build(mock_context(noop_assets()))
        .unwrap();
    let window = WebviewWindowBuilder::new(&app, crate::MAIN_WINDOW, Default::default())
        .build()
        .unwrap();
    let harness = Harness {
        _dir: tempfile::tempdir().unwrap(),
        _app: app,
        window,
        effects: Arc::new(Recorded::default()),
        flow_id: uuid::Uuid::nil(),
    };
    assert_eq!(harness.call::<c::LoadHome>(&()).unwrap_err(), problem);
    assert_eq!(harness.call::<c::Status>(&()).unwrap_err(), problem);
}

#[test]
fn launch_arguments_are_read_as_links() {
    let args: Vec<String> = [
        "--quick-launch",
        "resolutionflow://run/DNS?ticket=T-9",
        "resolutionflow://nowhere",
        "/some/file",
        "resolutionflowish://run/x",
    ]
    .map(String::from)
    .to_vec();
    let links = crate::links_in(&args);
    assert_eq!(links.len(), 3);
    assert_eq!(links[0], Ok(Link::QuickLaunch));
    assert!(
        matches!(&links[1], Ok(Link::Run { flow, ticket, .. }) if flow == "DNS" && ticket == "T-9")
    );
    assert!(links[2].is_err());
}
