//! Real replicas syncing through a real sync server over HTTP with `rf_replica::client`: flows
//! and sessions converge on every replica; work recorded while the server is down arrives
//! later, whole; concurrent offline edits of one field converge with the other value kept as a
//! conflict, which an author resolves.

use std::time::Duration;

use rf_core::sync::Keep;
use rf_replica::client::{self, SyncReport};
use rf_replica::tokens::FileTokenStore;
use rf_replica::{Replica, ReplicaError};
use rf_tests::device::{Device, FLOW_ID, converged, fast, flow};
use rf_tests::{Backend, TestServer, on_every_backend};
use uuid::Uuid;

async fn flows_and_sessions_converge_across_three_replicas(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (ada, bob, vic) = (Device::new(), Device::new(), Device::new());
    ada.login(&server, "ada@contoso.example").await;
    bob.login(&server, "bob@contoso.example").await;
    vic.login(&server, "vic@contoso.example").await;

    ada.import(flow()).await;
    ada.run_session("T-1").await;
    let report = ada.sync().await.unwrap();
    assert_eq!((report.mutations_applied, report.pending), (1, 0));

    // Bob gets the flow, runs his own session on it; the viewer only reads.
    let report = bob.sync().await.unwrap();
    assert_eq!(report.pulled.versions, 1);
    assert_eq!(report.pulled.events, 12);
    bob.run_session("T-2").await;
    bob.sync().await.unwrap();
    for device in [&ada, &bob, &vic] {
        device.sync().await.unwrap();
    }
    let state = converged(&[&ada, &bob, &vic]).await;
    assert_eq!(state.sessions.len(), 2);
    assert_eq!(state.events.len(), 24);
    assert!(
        state
            .sessions
            .iter()
            .all(|row| row.contains("finished resolved 12"))
    );
    // Path statistics include the team's sessions, not only this device's.
    let stats = vic
        .with(|replica| {
            replica
                .path_statistics(Uuid::parse_str(FLOW_ID).unwrap())
                .unwrap()
                .sessions
        })
        .await;
    assert_eq!(stats, 2);
    // Syncing again changes nothing anywhere.
    let again = ada.sync().await.unwrap();
    assert_eq!(again.pulled.events + again.pulled.versions, 0);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM session_events").await,
        24
    );
    server.stop().await;
}

async fn a_session_recorded_while_the_server_is_down_arrives_later(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let (ada, bob) = (Device::new(), Device::new());
    ada.login(&server, "ada@contoso.example").await;
    bob.login(&server, "bob@contoso.example").await;
    ada.import(flow()).await;
    ada.sync().await.unwrap();

    server.pause().await;
    let session = ada.run_session("T-OFFLINE").await;
    let error = ada.sync().await.unwrap_err();
    assert!(matches!(error, ReplicaError::Offline(_)), "{error}");
    assert!(error.to_string().contains("saved here"), "{error}");
    let waiting = ada.fingerprint().await.pending;
    assert_eq!(waiting, 12);
    let status = ada
        .with(|replica| replica.sync_account().unwrap().unwrap())
        .await;
    assert!(status.last_error.unwrap().contains("cannot reach"));

    server.resume().await;
    let report = ada.sync().await.unwrap();
    assert_eq!((report.events_acknowledged, report.pending), (12, 0));
    bob.sync().await.unwrap();
    let state = converged(&[&ada, &bob]).await;
    assert!(
        state
            .sessions
            .iter()
            .any(|row| row.starts_with(&session.to_string()))
    );
    server.stop().await;
}

async fn an_edit_of_someone_elses_flow_is_refused_and_the_team_head_restored(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (ada, bob, vic) = (Device::new(), Device::new(), Device::new());
    ada.login(&server, "ada@contoso.example").await;
    bob.login(&server, "bob@contoso.example").await;
    vic.login(&server, "vic@contoso.example").await;
    ada.import(flow()).await;
    ada.sync().await.unwrap();
    bob.sync().await.unwrap();

    // Both edit the title offline; ada also edits a node, which does not clash.
    let mut mine = flow();
    mine.title = "VPN will not connect (Ada)".into();
    mine.nodes[2].title = "Reinstall the VPN client from the portal".into();
    ada.import(mine).await;
    let mut theirs = flow();
    theirs.title = "VPN will not connect (Bob)".into();
    bob.import(theirs).await;

    ada.sync().await.unwrap();
    // Ada authored the flow and bob is an engineer, so his edit is refused for good...
    let report = bob.sync().await.unwrap();
    assert_eq!(
        report.mutations_rejected, 1,
        "engineers change only flows they author"
    );
    // ...and his local head follows the team's again once nothing of his is queued.
    assert_eq!(bob.title().await, "VPN will not connect (Ada)");
    server.stop().await;
}

async fn an_authors_stale_edit_is_merged_and_the_clash_resolved(backend: Backend) {
    let server = TestServer::start(backend).await;
    // Two devices of the same author, and a reader.
    let (laptop, desktop, vic) = (Device::new(), Device::new(), Device::new());
    laptop.login(&server, "ada@contoso.example").await;
    desktop.login(&server, "ada@contoso.example").await;
    vic.login(&server, "vic@contoso.example").await;
    laptop.import(flow()).await;
    laptop.sync().await.unwrap();
    desktop.sync().await.unwrap();

    let mut first = flow();
    first.title = "VPN will not connect (laptop)".into();
    first.nodes[2].title = "Reinstall the VPN client from the portal".into();
    laptop.import(first).await;
    let mut second = flow();
    second.title = "VPN will not connect (desktop)".into();
    second.nodes[1].title = "Fix Wi-Fi or cable first".into();
    desktop.import(second).await;

    laptop.sync().await.unwrap();
    let report = desktop.sync().await.unwrap();
    assert_eq!(report.mutations_rejected, 0);
    assert_eq!(report.conflicts, 1);
    for device in [&laptop, &desktop, &vic] {
        device.sync().await.unwrap();
    }
    let state = converged(&[&laptop, &desktop, &vic]).await;
    assert_eq!(state.conflicts.len(), 1);
    // The merged head keeps the laptop's title (first to reach the team) and both node edits.
    let document = vic
        .with(|replica| {
            replica
                .flow(Uuid::parse_str(FLOW_ID).unwrap())
                .unwrap()
                .document
        })
        .await;
    assert_eq!(document.title, "VPN will not connect (laptop)");
    assert_eq!(document.nodes[1].title, "Fix Wi-Fi or cable first");
    assert_eq!(
        document.nodes[2].title,
        "Reinstall the VPN client from the portal"
    );
    let conflict = vic
        .with(|replica| replica.conflicts(false).unwrap().remove(0))
        .await;
    assert_eq!(conflict.conflict.path, "/title");
    assert_eq!(
        conflict.conflict.other,
        Some("VPN will not connect (desktop)".into())
    );

    let id = conflict.id;

    // The author keeps the desktop's value: a new version, and the conflict closed everywhere.
    desktop
        .with(move |replica| replica.resolve_conflict(id, Keep::Mine).unwrap())
        .await;
    desktop.sync().await.unwrap();
    laptop.sync().await.unwrap();
    assert_eq!(laptop.title().await, "VPN will not connect (desktop)");
    let open = laptop
        .with(|replica| replica.conflicts(false).unwrap().len())
        .await;
    assert_eq!(open, 0);
    server.stop().await;
}

/// A replica in background sync hears of a teammate's change by poke, long before its period.
async fn a_change_reaches_a_watching_replica_by_poke(backend: Backend) {
    let server = TestServer::start(backend).await;
    a_change_reaches_a_watcher(&server, &server).await;
    // Shutdown ends open poke streams instead of waiting for them.
    server.stop().await;
}

/// Several servers share one PostgreSQL database: a change pushed through one wakes a replica
/// watching another, by `NOTIFY` (each server has its own store and poke listener).
#[tokio::test]
async fn a_poke_crosses_servers_sharing_one_postgresql_database() {
    let first = TestServer::start(Backend::Postgres).await;
    let second = first.beside().await;
    a_change_reaches_a_watcher(&first, &second).await;
    second.stop().await;
    first.stop().await;
}

/// Ada's changes, pushed to `writer`, reach Bob's replica watching `watched` long before its
/// period: only a poke can wake it.
async fn a_change_reaches_a_watcher(writer: &TestServer, watched: &TestServer) {
    let (ada, bob) = (Device::new(), Device::new());
    ada.login(writer, "ada@contoso.example").await;
    bob.login(watched, "bob@contoso.example").await;
    ada.import(flow()).await;
    ada.sync().await.unwrap();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rounds = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let watcher = {
        let (dir, stop, rounds) = (bob.path(), stop.clone(), rounds.clone());
        let base = watched.base.clone();
        tokio::task::spawn_blocking(move || {
            let mut replica = Replica::open(&dir).unwrap();
            let store = FileTokenStore::in_data_dir(&dir);
            let syncer = client::Syncer::new(&base, fast()).unwrap();
            let stopped = || stop.load(std::sync::atomic::Ordering::SeqCst);
            let mut report = |result: &Result<SyncReport, ReplicaError>| {
                assert!(result.is_ok(), "{result:?}");
                rounds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            };
            // A period far longer than the test: only a poke can wake it in time.
            syncer.watch(
                &mut replica,
                &store,
                Duration::from_secs(600),
                &stopped,
                &mut report,
            );
        })
    };
    // Wait for the watcher's first round (it pulls the flow), then record a session.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while rounds.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the watcher never synced"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let session = ada.run_session("T-POKE").await;
    ada.sync().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let arrived = bob
            .with(move |replica| replica.session(session).is_ok())
            .await;
        if arrived {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no poke woke the watcher"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Stop it: the flag, then a change to wake it one last time.
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    ada.run_session("T-WAKE").await;
    ada.sync().await.unwrap();
    watcher.await.unwrap();
}

/// The client says clearly when it is not logged in, and loses nothing.
#[tokio::test]
async fn syncing_without_a_login_says_what_to_do() {
    let device = Device::new();
    device.import(flow()).await;
    let error = device.sync().await.unwrap_err();
    assert!(error.to_string().contains("rf login"), "{error}");
}

/// The sessions that are this replica's part of one another copy of it also went on with:
/// ticket and the shared session's id.
async fn forks(device: &Device) -> Vec<(String, Uuid)> {
    device
        .with(|replica| {
            replica
                .sessions()
                .unwrap()
                .into_iter()
                .filter_map(|session| session.forked_from.map(|shared| (session.ticket, shared)))
                .collect()
        })
        .await
}

async fn pinned(device: &Device) -> Vec<Uuid> {
    device
        .with(|replica| {
            replica
                .pinned_flows()
                .unwrap()
                .into_iter()
                .map(|flow| flow.id)
                .collect()
        })
        .await
}

/// Pins are the user's own: one pinned on a laptop appears on the same user's other devices,
/// never on a teammate's; an unpin travels the same way; a viewer's pins sync too (and nothing
/// else of theirs is accepted). `rf flow pin` used to be refused by the server every time.
async fn pins_follow_the_user_across_their_devices_only(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (laptop, desktop, bob, vic) = (Device::new(), Device::new(), Device::new(), Device::new());
    laptop.login(&server, "ada@contoso.example").await;
    desktop.login(&server, "ada@contoso.example").await;
    bob.login(&server, "bob@contoso.example").await;
    vic.login(&server, "vic@contoso.example").await;
    laptop.import(flow()).await;
    laptop.sync().await.unwrap();
    let flow_id = Uuid::parse_str(FLOW_ID).unwrap();
    for device in [&desktop, &bob, &vic] {
        device.sync().await.unwrap();
    }
    laptop
        .with(move |replica| assert!(replica.pin_flow(flow_id).unwrap()))
        .await;
    vic.with(move |replica| assert!(replica.pin_flow(flow_id).unwrap()))
        .await;
    for device in [&laptop, &vic, &desktop, &bob] {
        let report = device.sync().await.unwrap();
        assert_eq!(
            (report.pending, report.mutations_rejected),
            (0, 0),
            "{report:?}"
        );
    }
    assert_eq!(pinned(&desktop).await, vec![flow_id]);
    assert!(
        pinned(&bob).await.is_empty(),
        "a teammate's pins stay theirs"
    );
    assert_eq!(pinned(&vic).await, vec![flow_id]);
    desktop
        .with(move |replica| assert!(replica.unpin_flow(flow_id).unwrap()))
        .await;
    desktop.sync().await.unwrap();
    let report = laptop.sync().await.unwrap();
    assert_eq!(report.pulled.pins, 1);
    assert!(pinned(&laptop).await.is_empty());
    assert_eq!(
        pinned(&vic).await,
        vec![flow_id],
        "the viewer's own pin stays"
    );
    server.stop().await;
}

/// Counts of the server's events that share a session and a place in it (two different
/// events at one place would break every replica's log).
async fn doubled_places(server: &TestServer) -> i64 {
    server
        .count(
            "SELECT COUNT(*) FROM (SELECT session_id, session_seq FROM session_events
             GROUP BY session_id, session_seq HAVING COUNT(*) > 1) AS doubled",
        )
        .await
}

async fn sessions_of(device: &Device) -> Vec<(String, i64, String)> {
    device
        .with(|replica| {
            let mut rows: Vec<(String, i64, String)> = replica
                .sessions()
                .unwrap()
                .into_iter()
                .map(|session| {
                    (
                        session.ticket.clone(),
                        session.event_count as i64,
                        session.status.clone(),
                    )
                })
                .collect();
            rows.sort();
            rows
        })
        .await
}

/// A replica's data copied to a second laptop: both go on with the same session and each
/// records more, under the same device id and numbers. The second to sync is told of the
/// clash, takes a new device id and sends its work under it; the session both continued
/// becomes two sessions (one per copy), and every replica ends with all of it, once.
async fn a_copied_replica_takes_a_new_identity_and_nothing_is_lost_or_doubled(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (ada, bob) = (Device::new(), Device::new());
    ada.login(&server, "ada@contoso.example").await;
    bob.login(&server, "bob@contoso.example").await;
    ada.import(flow()).await;
    let shared = ada
        .with(|replica| {
            let request = rf_core::session::StartRequest {
                ticket: "T-SHARED".into(),
                client: "Contoso".into(),
                engineer: "ada".into(),
                ..Default::default()
            };
            let id = replica
                .start_session(Uuid::parse_str(FLOW_ID).unwrap(), request)
                .unwrap()
                .id;
            replica
                .run_command(
                    id,
                    rf_core::session::Command::Answer {
                        choice: rf_core::session::Choice::parse("no"),
                    },
                )
                .unwrap();
            id
        })
        .await;
    ada.sync().await.unwrap();
    let copy = Device::copy_of(&ada);
    let finish = |text: &'static str| {
        move |replica: &mut Replica| {
            replica
                .run_command(
                    shared,
                    rf_core::session::Command::Note { text: text.into() },
                )
                .unwrap();
            replica
                .run_command(
                    shared,
                    rf_core::session::Command::Finish {
                        outcome: rf_core::Outcome::Resolved,
                        summary: Some(text.into()),
                        next_steps: None,
                    },
                )
                .unwrap();
        }
    };
    // Both go on under the same numbers: a note and the finish in the shared session, a whole
    // session each, and one change each (a pin here, a flow edit there).
    ada.with(finish("done on the first laptop")).await;
    ada.run_session("T-FIRST").await;
    let flow_id = Uuid::parse_str(FLOW_ID).unwrap();
    ada.with(move |replica| assert!(replica.pin_flow(flow_id).unwrap()))
        .await;
    copy.with(finish("done on the copy")).await;
    copy.run_session("T-COPY").await;
    let mut edited = flow();
    edited.title = "Printer offline (edited on the copy)".into();
    copy.import(edited).await;

    let report = ada.sync().await.unwrap();
    assert_eq!((report.pending, report.new_identity), (0, None));
    let report = copy.sync().await.unwrap();
    let identity = report.new_identity.expect("the copy takes a new identity");
    assert_eq!(identity.forked_sessions, 1, "{report:?}");
    assert_eq!(identity.mutations, 1);
    assert_eq!(report.pending, 0, "{report:?}");
    for device in [&ada, &copy, &bob] {
        let report = device.sync().await.unwrap();
        assert_eq!(report.pending, 0);
        assert_eq!(report.new_identity, None, "one new identity is enough");
    }
    converged(&[&ada, &copy, &bob]).await;
    assert_eq!(doubled_places(&server).await, 0);
    // The shared session twice (each copy's continuation, each with the shared start), and
    // each laptop's own session.
    let sessions = sessions_of(&bob).await;
    assert_eq!(
        sessions
            .iter()
            .map(|row| row.0.as_str())
            .collect::<Vec<_>>(),
        vec!["T-COPY", "T-FIRST", "T-SHARED", "T-SHARED"],
        "{sessions:?}"
    );
    assert!(
        sessions.iter().all(|row| row.2 == "finished"),
        "{sessions:?}"
    );
    let notes = server
        .count("SELECT COUNT(*) FROM session_events WHERE payload LIKE '%done on the%' AND payload LIKE '%note_added%'")
        .await;
    assert_eq!(notes, 2);
    // The copy's flow edit reached the team; the first laptop's pin stayed the user's.
    assert_eq!(bob.title().await, "Printer offline (edited on the copy)");
    assert_eq!(ada.title().await, "Printer offline (edited on the copy)");
    assert_eq!(pinned(&copy).await, vec![flow_id]);
    // The copy shows which session is its part of the shared one; the first laptop has none.
    let on_copy = forks(&copy).await;
    assert_eq!(on_copy.len(), 1, "{on_copy:?}");
    assert_eq!(on_copy[0].0, "T-SHARED");
    assert!(forks(&ada).await.is_empty());
    server.stop().await;
}

/// A laptop restored from last night's backup: what it had pushed since the backup comes back
/// to it, what it records after the restore reaches the team under a new device id, and a
/// second restore that records nothing before syncing notices through pull.
async fn a_replica_restored_from_an_older_backup_loses_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (ada, bob) = (Device::new(), Device::new());
    ada.login(&server, "ada@contoso.example").await;
    bob.login(&server, "bob@contoso.example").await;
    ada.import(flow()).await;
    ada.run_session("T-BEFORE").await;
    ada.sync().await.unwrap();
    let (backup, quiet_backup) = (Device::copy_of(&ada), Device::copy_of(&ada));
    ada.run_session("T-AFTER-BACKUP").await;
    let mut edited = flow();
    edited.title = "Printer offline (after the backup)".into();
    ada.import(edited).await;
    ada.sync().await.unwrap();
    drop(ada); // the laptop dies

    // Restored, the engineer works before the first sync.
    backup.run_session("T-AFTER-RESTORE").await;
    let flow_id = Uuid::parse_str(FLOW_ID).unwrap();
    backup
        .with(move |replica| assert!(replica.pin_flow(flow_id).unwrap()))
        .await;
    let report = backup.sync().await.unwrap();
    let identity = report.new_identity.expect("a new identity");
    assert_eq!((identity.forked_sessions, identity.events), (0, 12));
    assert_eq!(report.pending, 0);
    backup.sync().await.unwrap();
    assert_eq!(backup.title().await, "Printer offline (after the backup)");

    // Restored again, and synced at once: the pull shows the device's own events it lacks.
    let report = quiet_backup.sync().await.unwrap();
    assert!(report.new_identity.is_some(), "{report:?}");
    assert_eq!(report.pending, 0);
    quiet_backup.run_session("T-LATER").await;
    for device in [&quiet_backup, &backup, &bob, &quiet_backup] {
        assert_eq!(device.sync().await.unwrap().pending, 0);
    }
    converged(&[&backup, &quiet_backup, &bob]).await;
    assert_eq!(doubled_places(&server).await, 0);
    let sessions = sessions_of(&bob).await;
    assert_eq!(
        sessions
            .iter()
            .map(|row| row.0.as_str())
            .collect::<Vec<_>>(),
        vec!["T-AFTER-BACKUP", "T-AFTER-RESTORE", "T-BEFORE", "T-LATER"],
        "{sessions:?}"
    );
    assert!(
        sessions
            .iter()
            .all(|row| row == &(row.0.clone(), 12, "finished".into()))
    );
    assert_eq!(
        server.count("SELECT COUNT(*) FROM session_events").await,
        48
    );
    server.stop().await;
}

/// The server restored from last night's backup: every replica sends again what the server
/// lost and it still holds (its events; its queued changes numbered again after the server's
/// last), and they all converge with nothing lost or doubled.
async fn a_server_restored_from_an_older_backup_gets_back_what_replicas_hold(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let (ada, bob) = (Device::new(), Device::new());
    ada.login(&server, "ada@contoso.example").await;
    bob.login(&server, "bob@contoso.example").await;
    ada.import(flow()).await;
    ada.run_session("T-1").await;
    ada.sync().await.unwrap();
    bob.sync().await.unwrap();
    let backup = server.backup().await;

    let flow_id = Uuid::parse_str(FLOW_ID).unwrap();
    ada.run_session("T-2").await;
    ada.with(move |replica| assert!(replica.pin_flow(flow_id).unwrap()))
        .await;
    let mut edited = flow();
    edited.title = "Printer offline (edited after the backup)".into();
    ada.import(edited.clone()).await;
    edited.title = "Printer offline (edited twice after the backup)".into();
    ada.import(edited).await;
    ada.sync().await.unwrap();
    bob.run_session("T-3").await;
    bob.sync().await.unwrap();
    ada.sync().await.unwrap();
    server.restore(&backup).await;
    assert_eq!(
        server.count("SELECT COUNT(*) FROM session_events").await,
        12
    );

    // Both go on working before they notice.
    ada.run_session("T-4").await;
    ada.with(move |replica| assert!(replica.unpin_flow(flow_id).unwrap()))
        .await;
    let report = ada.sync().await.unwrap();
    assert!(report.server_went_back, "{report:?}");
    assert_eq!(report.pending, 0, "{report:?}");
    assert_eq!(report.new_identity, None);
    for device in [&bob, &ada, &bob] {
        assert_eq!(device.sync().await.unwrap().pending, 0);
    }
    converged(&[&ada, &bob]).await;
    assert_eq!(doubled_places(&server).await, 0);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM session_events").await,
        48
    );
    let sessions = sessions_of(&bob).await;
    assert_eq!(
        sessions
            .iter()
            .map(|row| row.0.as_str())
            .collect::<Vec<_>>(),
        vec!["T-1", "T-2", "T-3", "T-4"],
        "{sessions:?}"
    );
    // Ada's edits, lost by the server, went up again in order: the team's head is her last.
    for device in [&ada, &bob] {
        assert_eq!(
            device.title().await,
            "Printer offline (edited twice after the backup)"
        );
    }
    assert_eq!(server.count("SELECT COUNT(*) FROM flow_conflicts").await, 0);
    // The unpin made after the restore went up after the server's last number and applied.
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM user_pins WHERE pinned")
            .await,
        0
    );
    assert!(pinned(&ada).await.is_empty());
    server.stop().await;
}

/// A conflict resolved after the server's backup is resolved again once the server is
/// restored: the conflict it held (raised before the backup), and the one it raises afresh as
/// the lost versions go up again (raised after the backup, in the order they first reached it).
async fn resolutions_lost_with_a_restored_server_are_made_again(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let (laptop, desktop, vic) = (Device::new(), Device::new(), Device::new());
    laptop.login(&server, "ada@contoso.example").await;
    desktop.login(&server, "ada@contoso.example").await;
    vic.login(&server, "vic@contoso.example").await;
    laptop.import(flow()).await;
    laptop.sync().await.unwrap();
    desktop.sync().await.unwrap();
    // Two offline edits of the same field: a conflict, `edits` apart.
    let clash = |edits: &'static str| {
        let (laptop, desktop) = (&laptop, &desktop);
        async move {
            let mut first = laptop
                .with(|replica| {
                    replica
                        .flow(Uuid::parse_str(FLOW_ID).unwrap())
                        .unwrap()
                        .document
                })
                .await;
            let mut second = first.clone();
            first.title = format!("VPN will not connect (laptop, {edits})");
            second.title = format!("VPN will not connect (desktop, {edits})");
            laptop.import(first).await;
            desktop.import(second).await;
            laptop.sync().await.unwrap();
            assert_eq!(desktop.sync().await.unwrap().conflicts, 1);
            laptop.sync().await.unwrap();
        }
    };
    clash("before the backup").await;
    let before = desktop
        .with(|replica| replica.conflicts(false).unwrap().remove(0).id)
        .await;
    let backup = server.backup().await;

    desktop
        .with(move |replica| replica.resolve_conflict(before, Keep::Theirs).unwrap())
        .await;
    desktop.sync().await.unwrap();
    laptop.sync().await.unwrap();
    clash("after the backup").await;
    let after = desktop
        .with(|replica| replica.conflicts(false).unwrap().remove(0).id)
        .await;
    desktop
        .with(move |replica| replica.resolve_conflict(after, Keep::Mine).unwrap())
        .await;
    for device in [&desktop, &laptop, &vic] {
        device.sync().await.unwrap();
    }
    let title = vic.title().await;
    assert_eq!(title, "VPN will not connect (desktop, after the backup)");
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM flow_conflicts WHERE resolution IS NULL")
            .await,
        0
    );

    server.restore(&backup).await;
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM flow_conflicts WHERE resolution IS NULL")
            .await,
        1
    );
    // The laptop notices first and its edit goes up first, as it did the first time.
    laptop.sync().await.unwrap();
    let report = desktop.sync().await.unwrap();
    assert!(report.server_went_back, "{report:?}");
    assert_eq!(report.mutations_rejected, 0, "{report:?}");
    for device in [&laptop, &vic, &desktop, &laptop, &vic] {
        device.sync().await.unwrap();
    }
    let state = converged(&[&laptop, &desktop, &vic]).await;
    let unresolved: Vec<&String> = state
        .conflicts
        .iter()
        .filter(|row| row.ends_with("open"))
        .collect();
    assert!(unresolved.is_empty(), "{unresolved:#?}");
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM flow_conflicts WHERE resolution IS NULL")
            .await,
        0
    );
    for device in [&laptop, &desktop, &vic] {
        let open = device
            .with(|replica| replica.conflicts(false).unwrap().len())
            .await;
        assert_eq!(open, 0);
        assert_eq!(device.title().await, title);
    }
    server.stop().await;
}

on_every_backend!(
    resolutions_lost_with_a_restored_server_are_made_again,
    a_server_restored_from_an_older_backup_gets_back_what_replicas_hold,
    a_copied_replica_takes_a_new_identity_and_nothing_is_lost_or_doubled,
    a_replica_restored_from_an_older_backup_loses_nothing,
    a_change_reaches_a_watching_replica_by_poke,
    flows_and_sessions_converge_across_three_replicas,
    a_session_recorded_while_the_server_is_down_arrives_later,
    an_edit_of_someone_elses_flow_is_refused_and_the_team_head_restored,
    an_authors_stale_edit_is_merged_and_the_clash_resolved,
    pins_follow_the_user_across_their_devices_only
);
