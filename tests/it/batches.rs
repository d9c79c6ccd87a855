//! Maintenance batches, target lists and schedules between real replicas through a real sync
//! server on each back end: a five-target batch worked from two replicas converges to the same
//! progress everywhere; a target started on two offline devices is shown as started twice;
//! a saved list edited later changes no started batch; a due run started on one replica is no
//! longer due on the other; a malformed record is refused with its reason.

use rf_core::batch::TargetStatus;
use rf_core::export::ExportFormat;
use rf_core::schedule::DueState;
use rf_core::session::Command;
use rf_core::{Flow, Outcome};
use rf_replica::Replica;
use rf_replica::work::{NewBatch, NewSchedule, Targets};
use rf_tests::device::{Device, converged};
use rf_tests::{Backend, TestServer, on_every_backend};
use uuid::Uuid;

const PATCHING: &str = include_str!("../../samples/flows/monthly-server-patching.flow.json");
const TARGETS: [&str; 5] = ["SRV-01", "SRV-02", "SRV-03", "DC01", "FS01"];

fn patching() -> Flow {
    Flow::parse(PATCHING).unwrap()
}

fn flow_id() -> Uuid {
    patching().id.unwrap()
}

/// Ticks the first steps of a batch session's checklist, notes and finishes it with `outcome`.
fn work_target(
    replica: &mut Replica,
    batch: Uuid,
    target: &str,
    engineer: &str,
    outcome: Outcome,
) -> Uuid {
    let run = replica
        .run_target(&batch.to_string(), target, engineer)
        .unwrap();
    let id = run.session.id;
    let flow = patching();
    let mut commands: Vec<Command> = flow
        .nodes
        .iter()
        .filter(|node| node.kind == rf_core::NodeKind::Step)
        .take(3)
        .map(|node| Command::Tick {
            node: node.id.clone(),
            value: node.verify.as_ref().map(|_| "checked".to_owned()),
        })
        .collect();
    commands.push(Command::Note {
        text: format!("{target} done by {engineer}"),
    });
    commands.push(Command::Finish {
        outcome,
        summary: Some(format!("{target}: patched")),
        next_steps: None,
    });
    replica.run_commands(id, commands).unwrap();
    id
}

async fn start_batch(device: &Device) -> Uuid {
    device
        .with(|replica| {
            replica
                .set_target_list(
                    "Contoso",
                    "Servers",
                    TARGETS.iter().map(|target| (*target).to_owned()).collect(),
                )
                .unwrap();
            let (id, _) = replica
                .start_batch(NewBatch {
                    flow_id: flow_id(),
                    targets: Targets::List {
                        name: "servers".into(),
                        client: None,
                    },
                    ticket: "T-900".into(),
                    client: String::new(),
                    variables: [("patch_window".to_owned(), "Sat 22:00-02:00".to_owned())]
                        .into_iter()
                        .collect(),
                    scheduled: None,
                    engineer: "ada@contoso.example".into(),
                })
                .unwrap();
            id
        })
        .await
}

async fn a_five_target_batch_is_worked_from_two_replicas(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (ada, bob) = (Device::new(), Device::new());
    ada.login(&server, "ada@contoso.example").await;
    bob.login(&server, "bob@contoso.example").await;
    ada.import(patching()).await;
    let batch = start_batch(&ada).await;
    ada.sync().await.unwrap();
    let report = bob.sync().await.unwrap();
    assert_eq!(report.pulled.records, 2, "the list and the batch");

    // Both work their own targets while neither can see the other's.
    ada.with(move |replica| {
        work_target(replica, batch, "SRV-01", "ada", Outcome::Resolved);
        work_target(replica, batch, "srv-02", "ada", Outcome::Resolved);
        // The fifth is started here and on bob's laptop before either syncs.
        replica
            .run_target(&batch.to_string(), "FS01", "ada")
            .unwrap();
    })
    .await;
    bob.with(move |replica| {
        work_target(replica, batch, "SRV-03", "bob", Outcome::Resolved);
        work_target(replica, batch, "DC01", "bob", Outcome::Escalated);
        replica
            .run_target(&batch.to_string(), "FS01", "bob")
            .unwrap();
    })
    .await;
    for device in [&ada, &bob, &ada] {
        device.sync().await.unwrap();
    }
    converged(&[&ada, &bob]).await;

    let views = [
        ada.with(move |replica| replica.batch_view(&batch.to_string()).unwrap())
            .await,
        bob.with(move |replica| replica.batch_view(&batch.to_string()).unwrap())
            .await,
    ];
    assert_eq!(
        views[0].progress, views[1].progress,
        "one progress everywhere"
    );
    let progress = &views[0].progress;
    assert_eq!(
        (
            progress.counts.finished,
            progress.counts.started_twice,
            progress.counts.not_started
        ),
        (4, 1, 0)
    );
    assert_eq!(progress.counts.outcomes[&Outcome::Escalated], 1);
    let fs01 = progress
        .targets
        .iter()
        .find(|target| target.target == "FS01")
        .unwrap();
    assert_eq!(fs01.status, TargetStatus::StartedTwice);
    assert_eq!(fs01.sessions.len(), 2, "both sessions kept, none merged");
    // Each device owns the sessions it started, and only those.
    assert_eq!(views[0].own_sessions.len(), 3);
    assert_eq!(views[1].own_sessions.len(), 3);

    // A target worked on the other laptop is theirs: nothing is written here.
    let refused = bob
        .with(move |replica| {
            let before = rf_tests::fingerprint(replica);
            let error = replica
                .run_target(&batch.to_string(), "SRV-01", "bob")
                .unwrap_err()
                .to_string();
            assert_eq!(before, rf_tests::fingerprint(replica));
            error
        })
        .await;
    assert!(
        refused.contains("finished by ada on another device"),
        "{refused}"
    );
    let twice = ada
        .with(move |replica| {
            replica
                .run_target(&batch.to_string(), "fs01", "ada")
                .unwrap_err()
                .to_string()
        })
        .await;
    assert!(twice.contains("started 2 times"), "{twice}");

    // The batch note is the same on both laptops and explains the exceptions.
    let notes = [
        ada.with(move |replica| {
            replica
                .batch_note(&batch.to_string(), ExportFormat::Markdown, true)
                .unwrap()
        })
        .await,
        bob.with(move |replica| {
            replica
                .batch_note(&batch.to_string(), ExportFormat::Markdown, true)
                .unwrap()
        })
        .await,
    ];
    assert_eq!(notes[0], notes[1]);
    assert!(
        notes[0].contains("| DC01 | escalated | bob |"),
        "{}",
        notes[0]
    );
    assert!(
        notes[0].contains("#### FS01 — started twice (2 sessions)"),
        "{}",
        notes[0]
    );
    assert!(notes[0].contains("DC01 done by bob"), "{}", notes[0]);
    server.stop().await;
}

async fn a_saved_list_edited_later_changes_no_started_batch(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (ada, bob) = (Device::new(), Device::new());
    ada.login(&server, "ada@contoso.example").await;
    bob.login(&server, "bob@contoso.example").await;
    ada.import(patching()).await;
    let batch = start_batch(&ada).await;
    ada.sync().await.unwrap();
    bob.sync().await.unwrap();
    // Bob edits the list: one server retired, one added.
    bob.with(|replica| {
        replica
            .set_target_list("contoso", "SERVERS", vec!["SRV-01".into(), "SRV-04".into()])
            .unwrap();
    })
    .await;
    bob.sync().await.unwrap();
    ada.sync().await.unwrap();
    converged(&[&ada, &bob]).await;
    let (lists, view) = ada
        .with(move |replica| {
            (
                replica.target_lists().unwrap(),
                replica.batch_view(&batch.to_string()).unwrap(),
            )
        })
        .await;
    assert_eq!(
        lists.len(),
        1,
        "one list, whatever the case it was named in"
    );
    assert_eq!(lists[0].targets, ["SRV-01", "SRV-04"]);
    assert_eq!(view.batch.targets, TARGETS);
    server.stop().await;
}

async fn a_due_run_started_on_one_replica_is_no_longer_due_on_the_other(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (ada, bob) = (Device::new(), Device::new());
    ada.login(&server, "ada@contoso.example").await;
    bob.login(&server, "bob@contoso.example").await;
    ada.import(patching()).await;
    let first_day = time::OffsetDateTime::now_utc().date() - time::Duration::days(3);
    let schedule = ada
        .with(move |replica| {
            replica
                .set_target_list("Contoso", "Servers", vec!["SRV-01".into(), "SRV-02".into()])
                .unwrap();
            replica
                .add_schedule(NewSchedule {
                    flow_id: flow_id(),
                    client: "Contoso".into(),
                    rule: "FREQ=DAILY".into(),
                    time_zone: "UTC".into(),
                    first_day: Some(first_day),
                    target_list: Some("servers".into()),
                    engineer: "ada".into(),
                })
                .unwrap()
                .id
        })
        .await;
    ada.sync().await.unwrap();
    bob.sync().await.unwrap();
    let due = bob
        .with(|replica| replica.due_work(time::OffsetDateTime::now_utc()).unwrap())
        .await;
    let states: Vec<DueState> = due.items.iter().map(|item| item.state).collect();
    assert_eq!(
        states,
        [
            DueState::Overdue,
            DueState::Overdue,
            DueState::Overdue,
            DueState::Due,
            DueState::Upcoming
        ]
    );
    // Bob starts the oldest waiting run: its batch covers the schedule's list.
    let (batch, started) = bob
        .with(move |replica| {
            replica
                .start_due(
                    &schedule.to_string(),
                    None,
                    None,
                    "T-1",
                    [("patch_window".to_owned(), "now".to_owned())]
                        .into_iter()
                        .collect(),
                    "bob",
                )
                .unwrap()
        })
        .await;
    assert_eq!(started.targets, ["SRV-01", "SRV-02"]);
    assert_eq!(started.scheduled.unwrap().occurrence, first_day);
    bob.sync().await.unwrap();
    ada.sync().await.unwrap();
    let due = ada
        .with(|replica| replica.due_work(time::OffsetDateTime::now_utc()).unwrap())
        .await;
    assert_eq!(due.items.len(), 4, "the started run is no longer due");
    assert!(
        due.items
            .iter()
            .all(|item| item.occurrence != rf_core::batch::format_date(first_day))
    );
    let batches = ada.with(|replica| replica.batches().unwrap()).await;
    assert_eq!(batches[0].id, batch);
    // A run nobody waits for cannot be started twice.
    let again = bob
        .with(move |replica| {
            replica
                .start_due(
                    &schedule.to_string(),
                    Some(first_day),
                    None,
                    "",
                    Default::default(),
                    "bob",
                )
                .unwrap_err()
                .to_string()
        })
        .await;
    assert!(
        again.contains("is not a run of this schedule waiting to start"),
        "{again}"
    );
    server.stop().await;
}

async fn a_malformed_record_is_refused_with_its_reason(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (ada, bob) = (Device::new(), Device::new());
    ada.login(&server, "ada@contoso.example").await;
    bob.login(&server, "bob@contoso.example").await;
    // Hand-written outbox rows, as a damaged or hostile client would send: a list whose id
    // does not follow from its name, a batch without targets, a schedule recurring hourly,
    // a deletion of a batch, a kind the server does not know.
    ada.with(|replica| {
        let list_id = Uuid::new_v4();
        let rows = [
            ("target_list", list_id.to_string(), "put", r#"{"client":"Contoso","name":"Servers","targets":["A"]}"#.to_owned()),
            ("batch", Uuid::new_v4().to_string(), "put", r#"{"targets":[]}"#.to_owned()),
            ("schedule", Uuid::new_v4().to_string(), "put", format!(
                r#"{{"flow_id":"{}","flow_title":"P","client":"C","rule":"FREQ=HOURLY","time_zone":"UTC","first_day":"2026-01-01","created_by":"a"}}"#,
                Uuid::new_v4()
            )),
            ("batch", Uuid::new_v4().to_string(), "delete", "{}".to_owned()),
            ("gadget", Uuid::new_v4().to_string(), "put", "{}".to_owned()),
        ];
        for (entity, id, operation, payload) in rows {
            replica
                .connection()
                .execute(
                    "INSERT INTO outbox (entity, entity_id, operation, base_version, payload, created_at)
                     VALUES (?1, ?2, ?3, NULL, ?4, '2026-01-01T00:00:00Z')",
                    (entity, id, operation, payload),
                )
                .unwrap();
        }
    })
    .await;
    let report = ada.sync().await.unwrap();
    assert_eq!(report.pending, 0, "nothing wedges the queue");
    let rejected = ada.fingerprint().await.rejected;
    assert_eq!(rejected.len(), 5, "{rejected:#?}");
    let reasons: Vec<&String> = rejected.iter().collect();
    for expected in [
        "does not follow from its client and name",
        "not a batch",
        "at most daily",
        "cannot be deleted",
        "does not know the change gadget/put",
    ] {
        assert!(
            reasons.iter().any(|reason| reason.contains(expected)),
            "no rejection says {expected:?}: {reasons:#?}"
        );
    }
    let report = bob.sync().await.unwrap();
    assert_eq!(report.pulled.records, 0);
    assert_eq!(server.count("SELECT COUNT(*) FROM team_records").await, 0);
    server.stop().await;
}

async fn records_a_restored_server_lost_go_up_again(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let (ada, bob) = (Device::new(), Device::new());
    ada.login(&server, "ada@contoso.example").await;
    bob.login(&server, "bob@contoso.example").await;
    ada.import(patching()).await;
    ada.with(|replica| {
        replica
            .set_target_list("Contoso", "Old", vec!["A".into()])
            .unwrap();
    })
    .await;
    ada.sync().await.unwrap();
    let backup = server.backup().await;
    // After the backup: a list, a batch over it, and a target worked; then the server's disk
    // dies and it is restored from the backup.
    let batch = start_batch(&ada).await;
    ada.with(move |replica| {
        work_target(replica, batch, "SRV-01", "ada", Outcome::Resolved);
    })
    .await;
    ada.sync().await.unwrap();
    server.restore(&backup).await;
    let report = ada.sync().await.unwrap();
    assert!(report.pending == 0, "{report:?}");
    // The next round sends what the restored server lacked, once its full pull showed it.
    ada.sync().await.unwrap();
    bob.sync().await.unwrap();
    converged(&[&ada, &bob]).await;
    let view = bob
        .with(move |replica| replica.batch_view(&batch.to_string()).unwrap())
        .await;
    assert_eq!(view.progress.counts.finished, 1);
    let lists = bob.with(|replica| replica.target_lists().unwrap()).await;
    assert_eq!(lists.len(), 2, "{lists:?}");
    assert_eq!(
        server.count("SELECT COUNT(*) FROM team_records").await,
        3,
        "both lists and the batch"
    );
    server.stop().await;
}

on_every_backend!(
    records_a_restored_server_lost_go_up_again,
    a_five_target_batch_is_worked_from_two_replicas,
    a_saved_list_edited_later_changes_no_started_batch,
    a_due_run_started_on_one_replica_is_no_longer_due_on_the_other,
    a_malformed_record_is_refused_with_its_reason,
);
