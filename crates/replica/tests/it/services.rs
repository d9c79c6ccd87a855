//! The services the app's screens and the CLI share, against a real SQLite file: the home
//! screen, the library under filters, a flow's detail page, the runner's view of a session,
//! and notes typed as drafts (durable across a restart, recorded exactly once when the
//! engineer acts, never lost when the step moved on elsewhere).

use std::collections::BTreeMap;

use rf_core::session::{Choice, Command, StartRequest};
use rf_core::{Flow, FlowKind, Outcome};
use rf_replica::tokens::{Credentials, FileTokenStore, TokenStore};
use rf_replica::{FLOWS_DIR, LibraryFilter, Replica, ReplicaError, THEME, Theme, WriteSource};
use uuid::Uuid;

const PRINTER: &str =
    include_str!("../../../../samples/flows/printer-offline-queue-stuck.flow.json");
const SHARE: &str =
    include_str!("../../../../samples/flows/user-cannot-access-file-share.flow.json");
const FSLOGIX: &str =
    include_str!("../../../../samples/flows/fslogix-profile-not-loading.flow.json");
const PATCHING: &str = include_str!("../../../../samples/flows/monthly-server-patching.flow.json");

fn library(replica: &mut Replica, files: &[&str]) -> Vec<Uuid> {
    files
        .iter()
        .map(|text| {
            replica
                .import_flow(Flow::parse(text).unwrap(), WriteSource::Import)
                .unwrap()
                .flow_id
        })
        .collect()
}

fn start(replica: &mut Replica, flow_id: Uuid, ticket: &str) -> Uuid {
    let variables: BTreeMap<String, String> = [
        ("print_server", "PRN01"),
        ("printer_name", "HR-Laser"),
        ("printer_ip", "10.0.4.20"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    replica
        .start_session(
            flow_id,
            StartRequest {
                ticket: ticket.into(),
                client: "Contoso".into(),
                engineer: "ada".into(),
                variables,
            },
        )
        .unwrap()
        .id
}

fn answer(index: usize) -> Command {
    Command::Answer {
        choice: Choice::Index(index),
    }
}

/// The notes of a session, in order, with the title of the step each was written at.
fn notes(replica: &Replica, id: Uuid) -> Vec<(String, String)> {
    let state = replica.session(id).unwrap().state;
    state
        .path
        .iter()
        .flat_map(|entry| {
            entry
                .notes
                .iter()
                .map(|note| (entry.title.clone(), note.text.clone()))
        })
        .collect()
}

#[test]
fn home_shows_pins_recent_flows_and_sessions_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let ids = library(&mut replica, &[PRINTER, SHARE, PATCHING]);
    let home = replica.home().unwrap();
    assert!(home.pinned.is_empty() && home.recent.is_empty() && home.in_progress.is_empty());

    replica.pin_flow(ids[2]).unwrap();
    let first = start(&mut replica, ids[0], "T-1");
    let second = start(&mut replica, ids[0], "T-2");
    replica
        .run_commands(
            first,
            vec![Command::Finish {
                outcome: Outcome::Resolved,
                summary: None,
                next_steps: None,
            }],
        )
        .unwrap();
    let home = replica.home().unwrap();
    assert_eq!(
        home.pinned.iter().map(|flow| flow.id).collect::<Vec<_>>(),
        [ids[2]]
    );
    assert!(home.pinned[0].pinned);
    assert_eq!(
        home.recent.iter().map(|flow| flow.id).collect::<Vec<_>>(),
        [ids[0]]
    );
    assert_eq!(
        home.in_progress
            .iter()
            .map(|session| session.id)
            .collect::<Vec<_>>(),
        [second],
        "only sessions not finished"
    );
}

#[test]
fn the_library_filters_by_kind_category_tag_and_words_as_typed() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let ids = library(&mut replica, &[PRINTER, SHARE, FSLOGIX, PATCHING]);
    let ids_of = |filter: LibraryFilter| -> Vec<Uuid> {
        let mut found: Vec<Uuid> = replica
            .library(&filter)
            .unwrap()
            .flows
            .into_iter()
            .map(|entry| entry.flow.id)
            .collect();
        found.sort();
        found
    };
    let sorted = |mut wanted: Vec<Uuid>| {
        wanted.sort();
        wanted
    };

    let everything = replica.library(&LibraryFilter::default()).unwrap();
    assert_eq!((everything.flows.len(), everything.total), (4, 4));
    assert!(everything.categories.contains(&"Printing".to_owned()));
    assert!(everything.tags.contains(&"fslogix".to_owned()));
    assert!(
        everything
            .categories
            .windows(2)
            .all(|pair| pair[0] < pair[1])
    );

    assert_eq!(
        ids_of(LibraryFilter {
            kind: Some(FlowKind::Maintenance),
            ..LibraryFilter::default()
        }),
        [ids[3]]
    );
    assert_eq!(
        ids_of(LibraryFilter {
            category: Some("Printing".into()),
            ..LibraryFilter::default()
        }),
        [ids[0]]
    );
    assert_eq!(
        ids_of(LibraryFilter {
            tag: Some("fslogix".into()),
            ..LibraryFilter::default()
        }),
        [ids[2]]
    );
    // Words as typed, a key at a time: a prefix matches, matches say where.
    let found = replica
        .library(&LibraryFilter {
            text: "spool".into(),
            ..LibraryFilter::default()
        })
        .unwrap();
    assert_eq!(found.flows[0].flow.id, ids[0]);
    assert!(found.flows[0].snippet.contains('['), "{:?}", found.flows[0]);
    // Words and a filter together.
    assert_eq!(
        ids_of(LibraryFilter {
            text: "ntfs".into(),
            kind: Some(FlowKind::Troubleshooting),
            ..LibraryFilter::default()
        }),
        sorted(vec![ids[1], ids[2]])
    );
    // Text with no words in it (a lone quote, a dash) shows everything instead of failing.
    for wordless in ["", "\"", " - ", "**"] {
        assert_eq!(
            ids_of(LibraryFilter {
                text: wordless.into(),
                ..LibraryFilter::default()
            })
            .len(),
            4,
            "{wordless:?}"
        );
    }
    assert!(
        ids_of(LibraryFilter {
            text: "zzzqqq".into(),
            ..LibraryFilter::default()
        })
        .is_empty()
    );
}

#[test]
fn a_flow_detail_names_its_intake_its_missing_subflows_and_its_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let ids = library(&mut replica, &[FSLOGIX]);
    let detail = replica.flow_detail(ids[0]).unwrap();
    assert_eq!(detail.flow.summary.id, ids[0]);
    assert_eq!(
        detail.missing_subflows,
        ["94de40a8-7dfc-4c39-8c4c-450b25f4d32c"]
    );
    assert!(detail.intake.iter().any(|field| field.name == "share_path"));
    assert_eq!(detail.stats.sessions, 0);
    // With the subflow here, its intake is asked for too and nothing is missing.
    library(&mut replica, &[SHARE]);
    let detail = replica.flow_detail(ids[0]).unwrap();
    assert!(detail.missing_subflows.is_empty());
    assert!(
        replica
            .flow_detail(Uuid::new_v4())
            .is_err_and(|error| matches!(error, ReplicaError::NotFound { .. }))
    );
}

#[test]
fn the_runner_view_shows_the_step_its_breadcrumb_and_the_teams_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let ids = library(&mut replica, &[PRINTER]);
    // One finished session gives the statistics something to count.
    let done = start(&mut replica, ids[0], "T-0");
    replica
        .run_commands(
            done,
            vec![
                answer(0),
                Command::Finish {
                    outcome: Outcome::Resolved,
                    summary: None,
                    next_steps: None,
                },
            ],
        )
        .unwrap();
    let id = start(&mut replica, ids[0], "T-1");
    let view = replica.session_view(id).unwrap();
    assert_eq!(view.breadcrumb, ["Printer offline or print queue stuck"]);
    let current = view.current.unwrap();
    assert_eq!(current.node.unwrap().id, "scope");
    assert_eq!(current.choices.len(), 2);
    let stats = view.stats.unwrap();
    assert_eq!((stats.sessions, stats.resolved), (1, 1));
    assert!(
        stats.nodes["scope"]
            .shares("Everyone who uses it")
            .is_some()
    );
    assert_eq!((view.problem, view.draft), (None, None));

    let finished = replica.session_view(done).unwrap();
    assert!(finished.current.is_none() && finished.problem.is_none());
}

/// A checklist shows the items of the version the session runs, even after the team changed
/// the flow: the engineer ticks what the run was planned with.
#[test]
fn a_checklist_shows_the_version_the_session_runs_not_the_latest() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let ids = library(&mut replica, &[PATCHING]);
    let variables = [("server_name", "FS01"), ("patch_window", "Sat 22:00")]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let id = replica
        .start_session(
            ids[0],
            StartRequest {
                ticket: "T-9".into(),
                client: "Contoso".into(),
                engineer: "ada".into(),
                variables,
            },
        )
        .unwrap()
        .id;
    let mut edited = Flow::parse(PATCHING).unwrap();
    edited.title = "Monthly Windows Server patching (revised)".into();
    replica.import_flow(edited, WriteSource::Import).unwrap();

    // The runner lists the items of the flow version its step names.
    let step = replica.session_view(id).unwrap().current.unwrap();
    assert!(step.flow_kind.is_checklist());
    let checklist = replica.flow_version(step.flow).unwrap();
    assert_eq!(checklist.title, "Monthly Windows Server patching");
    assert_eq!(checklist, Flow::parse(PATCHING).unwrap());
    // The library moved on.
    let latest = replica.flow(ids[0]).unwrap().document.title;
    assert_eq!(latest, "Monthly Windows Server patching (revised)");
}

#[test]
fn a_draft_survives_a_restart_and_is_recorded_once_when_the_engineer_acts() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, id) = {
        let mut replica = Replica::open(dir.path()).unwrap();
        let ids = library(&mut replica, &[PRINTER]);
        let id = start(&mut replica, ids[0], "T-1");
        for typed in ["Whole", "Whole floor 3", "Whole floor 3 cannot print"] {
            replica.save_draft(id, typed).unwrap();
        }
        (ids, id)
        // Dropped without acting: the app killed while the note was typed.
    };
    let mut replica = Replica::open(dir.path()).unwrap();
    let view = replica.session_view(id).unwrap();
    assert_eq!(view.draft.as_deref(), Some("Whole floor 3 cannot print"));
    let step_title = view.current.unwrap().node.unwrap().title;
    assert!(notes(&replica, id).is_empty(), "a draft is not yet a note");

    let view = replica.act(id, vec![answer(0)]).unwrap();
    assert_eq!(view.draft, None);
    assert_eq!(
        notes(&replica, id),
        [(step_title, "Whole floor 3 cannot print".to_owned())]
    );
    // Acting again records nothing twice.
    replica.act(id, vec![Command::Back]).unwrap();
    assert_eq!(notes(&replica, id).len(), 1);
    assert_eq!(replica.flows().unwrap()[0].id, ids[0]);
}

#[test]
fn a_note_sent_with_the_act_stands_for_the_draft() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let ids = library(&mut replica, &[PRINTER]);
    let id = start(&mut replica, ids[0], "T-1");
    replica.save_draft(id, "half a thou").unwrap();
    replica
        .act(
            id,
            vec![
                Command::Note {
                    text: "half a thought, finished".into(),
                },
                answer(0),
            ],
        )
        .unwrap();
    let texts: Vec<String> = notes(&replica, id).into_iter().map(|note| note.1).collect();
    assert_eq!(texts, ["half a thought, finished"]);
    assert_eq!(replica.session_view(id).unwrap().draft, None);
}

#[test]
fn a_refused_act_keeps_the_draft_and_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let ids = library(&mut replica, &[PRINTER]);
    let id = start(&mut replica, ids[0], "T-1");
    replica.save_draft(id, "keep me").unwrap();
    let before = replica.session(id).unwrap().state.event_count;
    assert!(replica.act(id, vec![answer(40)]).is_err());
    assert_eq!(replica.session(id).unwrap().state.event_count, before);
    assert_eq!(
        replica.session_view(id).unwrap().draft.as_deref(),
        Some("keep me")
    );
}

#[test]
fn a_draft_outlived_by_its_step_is_recorded_saying_where_it_was_typed() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let ids = library(&mut replica, &[PRINTER]);
    let id = start(&mut replica, ids[0], "T-1");
    let first_title = replica
        .session_view(id)
        .unwrap()
        .current
        .unwrap()
        .node
        .unwrap()
        .title;
    replica.save_draft(id, "typed in the app").unwrap();
    // Another window (the CLI, say) moves the session on without the draft.
    replica.run_commands(id, vec![answer(0)]).unwrap();
    replica.act(id, vec![answer(0)]).unwrap();
    let texts: Vec<String> = notes(&replica, id).into_iter().map(|note| note.1).collect();
    assert_eq!(
        texts,
        [format!("(typed at “{first_title}”) typed in the app")]
    );
}

#[test]
fn drafts_refuse_what_a_note_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let ids = library(&mut replica, &[PRINTER]);
    let id = start(&mut replica, ids[0], "T-1");
    let huge = "x".repeat(rf_core::session::MAX_TEXT_BYTES + 1);
    assert!(matches!(
        replica.save_draft(id, &huge),
        Err(ReplicaError::Invalid(_))
    ));
    replica.save_draft(id, "something").unwrap();
    replica.save_draft(id, "").unwrap();
    assert_eq!(
        replica.session_view(id).unwrap().draft,
        None,
        "empty deletes"
    );
    replica
        .act(
            id,
            vec![Command::Finish {
                outcome: Outcome::Unresolved,
                summary: None,
                next_steps: None,
            }],
        )
        .unwrap();
    assert!(matches!(
        replica.save_draft(id, "too late"),
        Err(ReplicaError::Invalid(_))
    ));
    assert!(matches!(
        replica.save_draft(Uuid::new_v4(), "nobody's"),
        Err(ReplicaError::NotFound { .. })
    ));
}

#[test]
fn the_engineer_is_the_name_given_else_someone_never_blank() {
    let dir = tempfile::tempdir().unwrap();
    let replica = Replica::open(dir.path()).unwrap();
    assert_eq!(replica.engineer(Some("bob".into())).unwrap(), "bob");
    let unnamed = replica.engineer(Some("  ".into())).unwrap();
    assert!(!unnamed.trim().is_empty(), "{unnamed:?}");
    assert_eq!(unnamed, replica.engineer(None).unwrap());
}

#[test]
fn the_status_report_says_online_only_for_a_logged_in_replica() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    library(&mut replica, &[PRINTER]);
    let report = replica.status_report(Some(true)).unwrap();
    assert_eq!(
        report.online, None,
        "not logged in: neither online nor offline"
    );
    assert_eq!(report.sync, None);
    assert_eq!(
        report.pending.mutations, 1,
        "the imported flow waits to go up"
    );
    assert_eq!(report.device_id, replica.device_id());
}

#[test]
fn preferences_stay_on_this_device_and_the_settings_screen_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let tokens = FileTokenStore::in_data_dir(dir.path());

    let fresh = replica.settings(&tokens, None).unwrap();
    assert_eq!(fresh.theme, Theme::System);
    assert_eq!(fresh.flows_dir, None);
    assert!(!fresh.logged_in && fresh.login_problem.is_none());
    assert!(fresh.token_store.contains("file"), "{}", fresh.token_store);

    replica.set_preference(THEME, Some("dark")).unwrap();
    replica
        .set_preference(FLOWS_DIR, Some("/srv/flows"))
        .unwrap();
    replica
        .set_preference(FLOWS_DIR, Some("/srv/runbooks"))
        .unwrap();
    tokens
        .save(&Credentials {
            server_url: "http://127.0.0.1:8787".into(),
            access_token: "a".into(),
            access_expires_at: 0,
            refresh_token: "r".into(),
        })
        .unwrap();
    // Reopened, as after a restart: what was chosen is still chosen.
    drop(replica);
    let mut replica = Replica::open(dir.path()).unwrap();
    let chosen = replica.settings(&tokens, Some("/from/env".into())).unwrap();
    assert_eq!(chosen.theme, Theme::Dark);
    assert_eq!(chosen.flows_dir.as_deref(), Some("/srv/runbooks"));
    assert_eq!(chosen.flows_dir_override.as_deref(), Some("/from/env"));
    assert!(chosen.logged_in);

    // Forgetting, a theme this version does not know, and a value past any sensible size.
    replica.set_preference(FLOWS_DIR, None).unwrap();
    assert_eq!(replica.preference(FLOWS_DIR).unwrap(), None);
    replica.set_preference(THEME, Some("solarized")).unwrap();
    assert_eq!(replica.theme().unwrap(), Theme::System);
    let huge = "x".repeat(10_000);
    assert!(replica.set_preference(FLOWS_DIR, Some(&huge)).is_err());
    assert_eq!(
        replica.preference(FLOWS_DIR).unwrap(),
        None,
        "nothing half-set"
    );
}

#[test]
fn a_flow_exported_into_a_folder_comes_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let mut replica = Replica::open(dir.path()).unwrap();
    let ids = library(&mut replica, &[PRINTER]);
    let versions_before = replica.flow(ids[0]).unwrap().summary.version;

    let path = replica.export_flow_to(ids[0], folder.path()).unwrap();
    assert_eq!(
        path.file_name().unwrap().to_string_lossy(),
        rf_replica::flow_files::file_name_for(&replica.flow(ids[0]).unwrap().document.title)
    );
    // The watched folder's pass over it: the same flow, no new version.
    let pass = replica.import_folder(folder.path()).unwrap();
    assert!(pass.invalid.is_empty(), "{:?}", pass.invalid);
    assert!(!pass.changed_anything(), "{:?}", pass.imported);
    assert_eq!(
        replica.flow(ids[0]).unwrap().summary.version,
        versions_before
    );
    // Exporting again overwrites its own file; nothing is left aside.
    assert_eq!(replica.export_flow_to(ids[0], folder.path()).unwrap(), path);
    let names: Vec<String> = std::fs::read_dir(folder.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");

    // Another flow's file under that name is left alone.
    let mut other: Flow = Flow::parse(PRINTER).unwrap();
    other.id = Some(Uuid::new_v4());
    std::fs::write(&path, other.to_json_pretty()).unwrap();
    let beside = replica.export_flow_to(ids[0], folder.path()).unwrap();
    assert_ne!(beside, path);
    assert!(
        beside
            .file_name()
            .unwrap()
            .to_string_lossy()
            .contains(&ids[0].to_string()[..8])
    );
    assert_eq!(
        Flow::parse(&std::fs::read_to_string(&path).unwrap())
            .unwrap()
            .id,
        other.id
    );
}

#[test]
fn flow_file_names_are_words_of_the_title() {
    use rf_replica::flow_files::file_name_for;
    assert_eq!(
        file_name_for("Printer offline / queue stuck"),
        "printer-offline-queue-stuck.flow.json"
    );
    assert_eq!(file_name_for("../../etc/passwd"), "etc-passwd.flow.json");
    assert_eq!(file_name_for("¿?"), "flow.flow.json");
    assert!(file_name_for(&"word ".repeat(100)).len() < 120);
}
