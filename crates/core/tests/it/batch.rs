//! Maintenance batches: the target checks (case tables), starting one target of a batch with
//! the sample patching flow, progress derived from target sessions (case table, and the
//! properties that any order of the same sessions converges and no target is counted twice),
//! the batch note in three formats (snapshots, hostile names, redaction), and team records
//! read back or refused with their reason.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use rf_core::batch::{
    Batch, BatchLink, BatchNote, BatchProgress, MAX_TARGET_BYTES, MAX_TARGETS, TargetList,
    TargetSession, TargetStatus, check_targets, progress, start_target, targets_from_lines,
};
use rf_core::export::{ExportFormat, ExportOptions};
use rf_core::schedule::Schedule;
use rf_core::session::{
    Command, EngineError, EventKind, FlowRef, FlowSet, SessionEvent, SessionState, SessionStatus,
    decide,
};
use rf_core::sync::{MAX_RECORD_BYTES, Record, RecordKind, read_record};
use rf_core::{Flow, FlowKind, Outcome};
use time::OffsetDateTime;
use time::macros::{date, datetime};
use uuid::Uuid;

const BATCH_ID: Uuid = Uuid::from_u128(0xb0a7_c400_0000_4000_8000_0000_0000_0001);

// ---------------------------------------------------------------------------------------------
// Targets as typed or pasted.

/// What a case expects: the checked targets, or an error holding every one of these fragments.
enum Checked {
    Targets(&'static [&'static str]),
    Refused(&'static [&'static str]),
}

#[test]
fn target_lines_cases() {
    use Checked::{Refused, Targets};
    let many = |count: usize| {
        (1..=count)
            .map(|number| format!("srv{number:04}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let longest = format!("fs-{}", "a".repeat(MAX_TARGET_BYTES - 3));
    let too_long = format!("fs-{}", "a".repeat(MAX_TARGET_BYTES - 2));
    let cases: Vec<(&str, String, Checked)> = vec![
        (
            "one per line, trimmed",
            "  fs01  \n\tfs02\r\nsql01 ".into(),
            Targets(&["fs01", "fs02", "sql01"]),
        ),
        (
            "blank and comment lines skipped",
            "# Northwind production\n\nfs01\n   \n  # DCs last\ndc01\n".into(),
            Targets(&["fs01", "dc01"]),
        ),
        (
            "a # inside a name is kept",
            "fs01 #primary".into(),
            Targets(&["fs01 #primary"]),
        ),
        (
            "duplicate in the same case",
            "fs01\nfs02\nfs01".into(),
            Refused(&["\"fs01\" is listed twice; list each target once"]),
        ),
        (
            "duplicate in another case names both spellings",
            "FS01.northwind.local\nfs02\n fs01.Northwind.LOCAL ".into(),
            Refused(&[
                "\"fs01.Northwind.LOCAL\" is listed twice",
                "(also as \"FS01.northwind.local\")",
            ]),
        ),
        ("exactly the most targets", many(MAX_TARGETS), Targets(&[])),
        (
            "one target too many",
            many(MAX_TARGETS + 1),
            Refused(&["1001 targets", "at most 1000", "split it in two"]),
        ),
        ("a target at the byte limit", longest.clone(), Targets(&[])),
        (
            "a 201-byte target",
            too_long.clone(),
            Refused(&["a target is 201 bytes long; the limit is 200"]),
        ),
        (
            "a zero-width space",
            "fs\u{200B}01".into(),
            Refused(&["(\"fs01\") holds a control or invisible character"]),
        ),
        (
            "a right-to-left override",
            "exe.\u{202E}txt".into(),
            Refused(&["holds a control or invisible character"]),
        ),
        (
            "a control character",
            "fs\u{7}01".into(),
            Refused(&["(\"fs01\") holds a control or invisible character"]),
        ),
        (
            "a tab inside a name",
            "fs\t01".into(),
            Refused(&["holds a control or invisible character"]),
        ),
        (
            "empty",
            String::new(),
            Refused(&["no targets given; list at least one"]),
        ),
        (
            "only blanks and comments",
            "\n   \n# nothing yet\n".into(),
            Refused(&["no targets given"]),
        ),
    ];
    for (name, text, expected) in cases {
        let result = check_targets(targets_from_lines(&text));
        match (expected, result) {
            (Targets([]), Ok(targets)) => {
                // The long cases: every line comes back as typed.
                assert_eq!(targets, targets_from_lines(&text), "{name}");
            }
            (Targets(expected), Ok(targets)) => assert_eq!(targets, expected, "{name}"),
            (Refused(fragments), Err(message)) => {
                for fragment in fragments {
                    assert!(
                        message.contains(fragment),
                        "{name}: {message:?} lacks {fragment:?}"
                    );
                }
            }
            (Targets(_), Err(message)) => panic!("{name}: refused with {message:?}"),
            (Refused(_), Ok(targets)) => panic!("{name}: accepted {targets:?}"),
        }
    }
}

#[test]
fn check_targets_takes_a_list_lines_could_not_hold() {
    // A list given as a vector (from JSON) may hold line breaks that lines never would.
    /// A case: its name, the targets, and the checked targets or a fragment of the refusal.
    type Case = (
        &'static str,
        Vec<&'static str>,
        Result<Vec<&'static str>, &'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "a line break inside a name",
            vec!["fs01\nfs02"],
            Err("holds a control or invisible character"),
        ),
        (
            "a trailing CR is trimmed",
            vec!["fs01\r", "fs02"],
            Ok(vec!["fs01", "fs02"]),
        ),
        (
            "blank names skipped",
            vec!["", "fs01", "   "],
            Ok(vec!["fs01"]),
        ),
        ("only blank names", vec!["", "   "], Err("no targets given")),
    ];
    for (name, targets, expected) in cases {
        let result = check_targets(targets.into_iter().map(str::to_owned).collect());
        match (expected, result) {
            (Ok(expected), Ok(checked)) => assert_eq!(checked, expected, "{name}"),
            (Err(fragment), Err(message)) => {
                assert!(message.contains(fragment), "{name}: {message}")
            }
            (expected, result) => panic!("{name}: expected {expected:?}, got {result:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Saved target lists.

#[test]
fn target_list_id_follows_from_client_and_name_in_any_case() {
    let id = TargetList::id_of("Northwind Traders", "Production servers");
    for (client, name) in [
        ("northwind traders", "production servers"),
        ("  NORTHWIND TRADERS ", "\tProduction Servers\n"),
        ("Northwind Traders", "PRODUCTION SERVERS"),
    ] {
        assert_eq!(TargetList::id_of(client, name), id, "{client:?} {name:?}");
    }
    for (client, name) in [
        ("Northwind Traders", "Test servers"),
        ("Contoso", "Production servers"),
        ("Northwind Traders", "Production  servers"),
    ] {
        assert_ne!(TargetList::id_of(client, name), id, "{client:?} {name:?}");
    }
    // The client and the name cannot run into each other.
    assert_ne!(TargetList::id_of("ab", "c"), TargetList::id_of("a", "bc"));

    let list = TargetList::new(
        " Northwind Traders ",
        "Production servers",
        vec!["fs01".into(), " dc01 ".into()],
    )
    .unwrap();
    assert_eq!(list.client, "Northwind Traders");
    assert_eq!(list.targets, ["fs01", "dc01"]);
    assert_eq!(list.id(), id);
    assert_eq!(list.check(id), Ok(()));
}

#[test]
fn target_list_check_refuses_what_does_not_follow() {
    let list = TargetList::new(
        "Northwind Traders",
        "Production servers",
        vec!["fs01".into()],
    )
    .unwrap();
    let other = TargetList::id_of("Northwind Traders", "Test servers");
    let refused = list.check(other).unwrap_err();
    assert!(
        refused.contains(&format!(
            "the list's id {other} does not follow from its client and name"
        )),
        "{refused}"
    );
    let cases: Vec<(&str, TargetList, &str)> = vec![
        (
            "untrimmed name",
            TargetList {
                name: " Production servers".into(),
                ..list.clone()
            },
            "not in its checked form",
        ),
        (
            "untrimmed target",
            TargetList {
                targets: vec!["fs01 ".into()],
                ..list.clone()
            },
            "not in its checked form",
        ),
        (
            "no targets",
            TargetList {
                targets: Vec::new(),
                ..list.clone()
            },
            "no targets given",
        ),
        (
            "empty client",
            TargetList {
                client: "  ".into(),
                ..list.clone()
            },
            "the client is empty",
        ),
        (
            "a duplicate target",
            TargetList {
                targets: vec!["fs01".into(), "FS01".into()],
                ..list.clone()
            },
            "listed twice",
        ),
    ];
    for (name, list, fragment) in cases {
        let refused = list.check(list.id()).unwrap_err();
        assert!(refused.contains(fragment), "{name}: {refused}");
    }
}

// ---------------------------------------------------------------------------------------------
// Starting a target with the sample patching flow.

fn patching_flow() -> (FlowSet, FlowRef, Flow) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../samples/flows/monthly-server-patching.flow.json");
    let flow = Flow::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    let reference = FlowRef::of(flow.id.unwrap(), &flow);
    let mut flows = FlowSet::new();
    flows.insert(reference, flow.clone());
    (flows, reference, flow)
}

fn patching_batch(reference: FlowRef, flow: &Flow, targets: &[&str]) -> Batch {
    Batch {
        flow: reference,
        flow_title: flow.title.clone(),
        flow_kind: flow.kind,
        target_variable: flow.target_variable().to_owned(),
        targets: targets.iter().map(|target| (*target).to_owned()).collect(),
        variables: [("patch_window".to_owned(), "Sat 22:00-02:00".to_owned())].into(),
        ticket: "CHG-2207".into(),
        client: "Northwind Traders".into(),
        started_by: "Grace Hopper".into(),
        created_at: datetime!(2027-03-13 21:45 UTC),
        target_list: Some("Production servers".into()),
        scheduled: None,
    }
}

fn replay(kinds: Vec<EventKind>, from: OffsetDateTime) -> SessionState {
    let events: Vec<SessionEvent> = kinds
        .into_iter()
        .enumerate()
        .map(|(index, kind)| SessionEvent {
            at: from + time::Duration::seconds(index as i64),
            kind,
        })
        .collect();
    SessionState::replay(&events).unwrap()
}

#[test]
fn sample_patching_flow_is_a_batch_flow() {
    let (_, _, flow) = patching_flow();
    assert_eq!(flow.kind, FlowKind::Maintenance);
    assert_eq!(flow.target_variable(), "server_name");
    let batch = patching_batch(FlowRef::of(flow.id.unwrap(), &flow), &flow, &["fs01"]);
    assert_eq!(batch.check(), Ok(()));
}

#[test]
fn started_event_carries_the_link_and_the_target() {
    let (flows, reference, flow) = patching_flow();
    let batch = patching_batch(reference, &flow, &["FS01", "fs02", "sql01"]);
    let events = start_target(&flows, BATCH_ID, &batch, "fs02", "Ada Lovelace").unwrap();
    let EventKind::Started {
        flow: started_flow,
        flow_kind,
        ticket,
        client,
        engineer,
        variables,
        batch: link,
        ..
    } = &events[0]
    else {
        panic!("the first event is {:?}", events[0]);
    };
    assert_eq!(*started_flow, reference);
    assert_eq!(*flow_kind, FlowKind::Maintenance);
    assert_eq!(ticket, "CHG-2207");
    assert_eq!(client, "Northwind Traders");
    assert_eq!(engineer, "Ada Lovelace");
    assert_eq!(
        *variables,
        BTreeMap::from([
            ("patch_window".to_owned(), "Sat 22:00-02:00".to_owned()),
            ("server_name".to_owned(), "fs02".to_owned()),
        ])
    );
    let expected_link = BatchLink {
        batch_id: BATCH_ID,
        target: "fs02".into(),
    };
    assert_eq!(link.as_ref(), Some(&expected_link));

    // The session's state knows its batch, its steps name the target, and it is a target
    // session of the batch with nothing done yet.
    let state = replay(events, datetime!(2027-03-13 22:01 UTC));
    assert_eq!(state.batch, Some(expected_link));
    let first_step = state.path.first().unwrap();
    assert!(first_step.title.contains("fs02"), "{}", first_step.title);
    assert!(!first_step.title.contains("{{"), "{}", first_step.title);
    let seen = TargetSession::of(Uuid::from_u128(7), &state, &flows).unwrap();
    let items = flow
        .nodes
        .iter()
        .filter(|node| {
            matches!(
                node.kind,
                rf_core::NodeKind::Step | rf_core::NodeKind::Subflow
            )
        })
        .count();
    assert_eq!(
        (seen.target.as_str(), seen.status, seen.done, seen.total),
        ("fs02", SessionStatus::Active, 0, items)
    );
    assert_eq!(seen.engineer, "Ada Lovelace");
}

#[test]
fn a_session_started_without_a_batch_is_no_target_session() {
    let (flows, reference, _) = patching_flow();
    let kinds = rf_core::session::start(
        &flows,
        reference.flow_id,
        rf_core::StartRequest {
            engineer: "Ada".into(),
            variables: [
                ("server_name".to_owned(), "fs01".to_owned()),
                ("patch_window".to_owned(), "now".to_owned()),
            ]
            .into(),
            ..Default::default()
        },
    )
    .unwrap();
    let state = replay(kinds, datetime!(2027-03-13 22:01 UTC));
    assert_eq!(state.batch, None);
    assert_eq!(TargetSession::of(Uuid::from_u128(1), &state, &flows), None);
}

#[test]
fn unknown_target_is_refused_naming_the_batch_targets() {
    let (flows, reference, flow) = patching_flow();
    let batch = patching_batch(reference, &flow, &["fs01", "fs02", "sql01"]);
    let error = start_target(&flows, BATCH_ID, &batch, "fs99", "Ada").unwrap_err();
    assert_eq!(
        error,
        EngineError::NotHere(
            "\"fs99\" is not a target of this batch; its targets are fs01, fs02, sql01".into()
        )
    );

    // A long batch names its first ten and counts the rest.
    let names: Vec<String> = (1..=12).map(|number| format!("srv{number:02}")).collect();
    let long = patching_batch(
        reference,
        &flow,
        &names.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let message = start_target(&flows, BATCH_ID, &long, "srv13", "Ada")
        .unwrap_err()
        .to_string();
    assert!(
        message.ends_with(
            "srv01, srv02, srv03, srv04, srv05, srv06, srv07, srv08, srv09, srv10 and 2 more"
        ),
        "{message}"
    );
}

#[test]
fn a_target_in_another_case_resolves_to_the_batch_spelling() {
    let (flows, reference, flow) = patching_flow();
    let batch = patching_batch(reference, &flow, &["FS01.northwind.local", "fs02"]);
    for given in [
        "fs01.northwind.local",
        "  FS01.NORTHWIND.LOCAL ",
        "FS01.northwind.local",
    ] {
        let events = start_target(&flows, BATCH_ID, &batch, given, "Ada").unwrap();
        let EventKind::Started {
            variables, batch, ..
        } = &events[0]
        else {
            panic!("not started");
        };
        assert_eq!(
            variables["server_name"], "FS01.northwind.local",
            "{given:?}"
        );
        assert_eq!(
            batch.as_ref().map(|link| link.target.as_str()),
            Some("FS01.northwind.local"),
            "{given:?}"
        );
    }
}

#[test]
fn the_target_fills_the_target_variable_whatever_the_batch_values_say() {
    let (flows, reference, flow) = patching_flow();
    let mut batch = patching_batch(reference, &flow, &["fs01"]);
    batch
        .variables
        .insert("server_name".into(), "someone-else".into());
    // A batch like this is refused when read from a peer, and its target still wins here.
    assert!(batch.check().unwrap_err().contains("filled by each target"));
    let events = start_target(&flows, BATCH_ID, &batch, "fs01", "Ada").unwrap();
    let EventKind::Started { variables, .. } = &events[0] else {
        panic!("not started");
    };
    assert_eq!(variables["server_name"], "fs01");
}

#[test]
fn another_version_at_the_head_is_refused() {
    let (flows, reference, flow) = patching_flow();
    let batch = patching_batch(reference, &flow, &["fs01"]);

    let mut edited = flow.clone();
    edited.title = "Monthly Windows Server patching (2027 edition)".into();
    let edited_reference = FlowRef::of(reference.flow_id, &edited);
    assert_ne!(edited_reference, reference);
    let mut moved_on = flows.clone();
    moved_on.insert_latest(edited_reference, edited.clone());
    let missing = EngineError::MissingFlowVersion {
        flow_id: reference.flow_id,
        version: reference.version,
    };
    assert_eq!(
        start_target(&moved_on, BATCH_ID, &batch, "fs01", "Ada"),
        Err(missing.clone())
    );

    // Only the other version known, or no version at all: refused the same way.
    let mut only_other = FlowSet::new();
    only_other.insert(edited_reference, edited);
    assert_eq!(
        start_target(&only_other, BATCH_ID, &batch, "fs01", "Ada"),
        Err(missing.clone())
    );
    assert_eq!(
        start_target(&FlowSet::new(), BATCH_ID, &batch, "fs01", "Ada"),
        Err(missing)
    );
    // The batch's version back at the head starts again.
    let mut back = moved_on.clone();
    back.insert_latest(reference, flow);
    assert!(start_target(&back, BATCH_ID, &batch, "fs01", "Ada").is_ok());
}

// ---------------------------------------------------------------------------------------------
// Progress derived from target sessions.

const TARGETS: [&str; 3] = ["fs01", "fs02", "sql01"];

fn progress_batch(targets: &[&str]) -> Batch {
    let (_, reference, flow) = patching_flow();
    patching_batch(reference, &flow, targets)
}

/// A target session as `TargetSession::of` would give it: started `start` minutes after the
/// batch, its last event `minutes` later.
fn seen(
    id: u128,
    target: &str,
    outcome: Option<Outcome>,
    done: usize,
    start: i64,
    minutes: i64,
) -> TargetSession {
    let started_at = datetime!(2027-03-13 22:00 UTC) + time::Duration::minutes(start);
    TargetSession {
        session_id: Uuid::from_u128(id),
        target: target.into(),
        engineer: if id.is_multiple_of(2) { "Ada" } else { "Grace" }.into(),
        status: if outcome.is_some() {
            SessionStatus::Finished
        } else {
            SessionStatus::Active
        },
        outcome,
        done,
        total: 16,
        started_at,
        last_event_at: started_at + time::Duration::minutes(minutes),
    }
}

struct ProgressCase {
    name: &'static str,
    sessions: Vec<TargetSession>,
    /// Each of `TARGETS` in order: its status, outcome and session ids (oldest first).
    expected: [(TargetStatus, Option<Outcome>, &'static [u128]); 3],
    headline: &'static str,
    complete: bool,
    strays: &'static [u128],
    seconds: i64,
}

#[test]
fn progress_cases() {
    use Outcome::{Escalated, Resolved, Workaround};
    use TargetStatus::{Finished, InProgress, NotStarted, StartedTwice};
    let cases = vec![
        ProgressCase {
            name: "nothing started",
            sessions: vec![],
            expected: [
                (NotStarted, None, &[]),
                (NotStarted, None, &[]),
                (NotStarted, None, &[]),
            ],
            headline: "0 of 3 finished, 3 not started",
            complete: false,
            strays: &[],
            seconds: 0,
        },
        ProgressCase {
            name: "one in progress",
            sessions: vec![seen(1, "fs02", None, 5, 0, 12)],
            expected: [
                (NotStarted, None, &[]),
                (InProgress, None, &[1]),
                (NotStarted, None, &[]),
            ],
            headline: "0 of 3 finished, 1 in progress, 2 not started",
            complete: false,
            strays: &[],
            seconds: 12 * 60,
        },
        ProgressCase {
            name: "one finished with its outcome",
            sessions: vec![seen(1, "sql01", Some(Escalated), 9, 0, 40)],
            expected: [
                (NotStarted, None, &[]),
                (NotStarted, None, &[]),
                (Finished, Some(Escalated), &[1]),
            ],
            headline: "1 of 3 finished, 2 not started",
            complete: false,
            strays: &[],
            seconds: 40 * 60,
        },
        ProgressCase {
            name: "two sessions for one target, newest given first",
            sessions: vec![
                seen(2, "fs01", Some(Resolved), 16, 30, 10),
                seen(1, "fs01", None, 3, 5, 20),
            ],
            expected: [
                (StartedTwice, None, &[1, 2]),
                (NotStarted, None, &[]),
                (NotStarted, None, &[]),
            ],
            headline: "0 of 3 finished, 2 not started, 1 started twice",
            complete: false,
            strays: &[],
            seconds: 30 * 60,
        },
        ProgressCase {
            name: "two sessions started the same minute are ordered by id",
            sessions: vec![
                seen(9, "fs01", Some(Resolved), 16, 0, 10),
                seen(3, "fs01", Some(Workaround), 16, 0, 10),
            ],
            expected: [
                (StartedTwice, None, &[3, 9]),
                (NotStarted, None, &[]),
                (NotStarted, None, &[]),
            ],
            headline: "0 of 3 finished, 2 not started, 1 started twice",
            complete: false,
            strays: &[],
            seconds: 20 * 60,
        },
        ProgressCase {
            name: "a stray target is shown, never counted",
            sessions: vec![
                seen(1, "fs01", Some(Resolved), 16, 0, 10),
                seen(2, "web07", Some(Resolved), 16, 0, 10),
                seen(3, "FS02", None, 1, 0, 10),
                // A stray synced from two peers is shown once.
                seen(2, "web07", Some(Resolved), 16, 0, 10),
            ],
            expected: [
                (Finished, Some(Resolved), &[1]),
                (NotStarted, None, &[]),
                (NotStarted, None, &[]),
            ],
            headline: "1 of 3 finished, 2 not started",
            complete: false,
            strays: &[2, 3],
            seconds: 10 * 60,
        },
        ProgressCase {
            name: "the same session given twice counts once",
            sessions: vec![
                seen(1, "fs01", None, 4, 0, 15),
                seen(1, "fs01", None, 4, 0, 15),
            ],
            expected: [
                (InProgress, None, &[1]),
                (NotStarted, None, &[]),
                (NotStarted, None, &[]),
            ],
            headline: "0 of 3 finished, 1 in progress, 2 not started",
            complete: false,
            strays: &[],
            seconds: 15 * 60,
        },
        ProgressCase {
            name: "every target finished",
            sessions: vec![
                seen(1, "fs01", Some(Resolved), 16, 0, 20),
                seen(2, "fs02", Some(Workaround), 16, 20, 25),
                seen(3, "sql01", Some(Resolved), 16, 45, 61),
            ],
            expected: [
                (Finished, Some(Resolved), &[1]),
                (Finished, Some(Workaround), &[2]),
                (Finished, Some(Resolved), &[3]),
            ],
            headline: "3 of 3 finished",
            complete: true,
            strays: &[],
            seconds: 106 * 60,
        },
        ProgressCase {
            name: "a target started twice is complete once both sessions are finished",
            sessions: vec![
                seen(1, "fs01", Some(Resolved), 16, 0, 20),
                seen(2, "fs01", Some(Resolved), 16, 1, 20),
                seen(3, "fs02", Some(Resolved), 16, 0, 20),
                seen(4, "sql01", Some(Escalated), 8, 0, 20),
            ],
            expected: [
                (StartedTwice, None, &[1, 2]),
                (Finished, Some(Resolved), &[3]),
                (Finished, Some(Escalated), &[4]),
            ],
            headline: "2 of 3 finished, 1 started twice",
            complete: true,
            strays: &[],
            seconds: 80 * 60,
        },
        ProgressCase {
            name: "a target started twice with one session open is not complete",
            sessions: vec![
                seen(1, "fs01", Some(Resolved), 16, 0, 20),
                seen(2, "fs01", None, 2, 1, 20),
                seen(3, "fs02", Some(Resolved), 16, 0, 20),
                seen(4, "sql01", Some(Resolved), 16, 0, 20),
            ],
            expected: [
                (StartedTwice, None, &[1, 2]),
                (Finished, Some(Resolved), &[3]),
                (Finished, Some(Resolved), &[4]),
            ],
            headline: "2 of 3 finished, 1 started twice",
            complete: false,
            strays: &[],
            seconds: 80 * 60,
        },
    ];
    let batch = progress_batch(&TARGETS);
    for case in cases {
        let name = case.name;
        let result = progress(&batch, &case.sessions);
        let got: Vec<(&str, TargetStatus, Option<Outcome>, Vec<u128>)> = result
            .targets
            .iter()
            .map(|target| {
                (
                    target.target.as_str(),
                    target.status,
                    target.outcome,
                    target
                        .sessions
                        .iter()
                        .map(|session| session.session_id.as_u128())
                        .collect(),
                )
            })
            .collect();
        let expected: Vec<(&str, TargetStatus, Option<Outcome>, Vec<u128>)> = TARGETS
            .iter()
            .zip(case.expected)
            .map(|(target, (status, outcome, ids))| (*target, status, outcome, ids.to_vec()))
            .collect();
        assert_eq!(got, expected, "{name}");
        assert_eq!(result.headline(), case.headline, "{name}");
        assert_eq!(result.is_complete(), case.complete, "{name}");
        assert_eq!(result.seconds, case.seconds, "{name}");
        let strays: Vec<u128> = result
            .strays
            .iter()
            .map(|session| session.session_id.as_u128())
            .collect();
        assert_eq!(strays, case.strays, "{name}");
        assert_counts_add_up(&batch, &result);
    }
}

#[test]
fn counts_by_outcome() {
    let batch = progress_batch(&["a", "b", "c", "d", "e"]);
    let result = progress(
        &batch,
        &[
            seen(1, "a", Some(Outcome::Resolved), 16, 0, 1),
            seen(2, "b", Some(Outcome::Resolved), 16, 0, 1),
            seen(3, "c", Some(Outcome::Unresolved), 16, 0, 1),
            seen(4, "d", None, 3, 0, 1),
        ],
    );
    assert_eq!(result.counts.targets, 5);
    assert_eq!(result.counts.finished, 3);
    assert_eq!(result.counts.in_progress, 1);
    assert_eq!(result.counts.not_started, 1);
    assert_eq!(
        result.counts.outcomes,
        BTreeMap::from([(Outcome::Resolved, 2), (Outcome::Unresolved, 1)])
    );
    assert_eq!(
        result.headline(),
        "3 of 5 finished, 1 in progress, 1 not started"
    );
}

/// Every target counts once, in one state; outcomes add up to the finished targets.
fn assert_counts_add_up(batch: &Batch, result: &BatchProgress) {
    let counts = &result.counts;
    assert_eq!(counts.targets, batch.targets.len());
    assert_eq!(
        counts.not_started + counts.in_progress + counts.finished + counts.started_twice,
        counts.targets
    );
    assert_eq!(counts.outcomes.values().sum::<usize>(), counts.finished);
    let listed: Vec<&str> = result
        .targets
        .iter()
        .map(|target| target.target.as_str())
        .collect();
    assert_eq!(listed, batch.targets);
    for (status, count) in [
        (TargetStatus::NotStarted, counts.not_started),
        (TargetStatus::InProgress, counts.in_progress),
        (TargetStatus::Finished, counts.finished),
        (TargetStatus::StartedTwice, counts.started_twice),
    ] {
        assert_eq!(
            result
                .targets
                .iter()
                .filter(|target| target.status == status)
                .count(),
            count,
            "{status:?}"
        );
    }
}

const PROPERTY_TARGETS: [&str; 5] = ["fs01", "fs02", "sql01", "dc01", "web01"];

/// Sessions of the property batch: each names one of its targets or a stray one, and some are
/// given twice (a session synced from two peers).
fn any_sessions() -> impl Strategy<Value = Vec<TargetSession>> {
    let one = (
        0..PROPERTY_TARGETS.len() + 1,
        prop::option::of(prop::sample::select(Outcome::ALL.to_vec())),
        0..17usize,
        0..6i64,
        0..90i64,
    );
    (
        prop::collection::vec(one, 0..14),
        prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    )
        .prop_map(|(raw, repeats)| {
            let mut sessions: Vec<TargetSession> = raw
                .into_iter()
                .enumerate()
                .map(|(index, (target, outcome, done, start, minutes))| {
                    // Few start minutes, so equal starts (ordered by id) are common.
                    let target = PROPERTY_TARGETS
                        .get(target)
                        .copied()
                        .unwrap_or("stray-host");
                    seen(index as u128 + 1, target, outcome, done, start, minutes)
                })
                .collect();
            let originals = sessions.clone();
            if !originals.is_empty() {
                for repeat in repeats {
                    sessions.push(originals[repeat.index(originals.len())].clone());
                }
            }
            sessions
        })
}

/// One set of sessions as two replicas received them: in any two orders.
fn two_replicas() -> impl Strategy<Value = (Vec<TargetSession>, Vec<TargetSession>)> {
    any_sessions().prop_flat_map(|sessions| {
        (
            Just(sessions.clone()).prop_shuffle(),
            Just(sessions).prop_shuffle(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any interleaving of two engineers' target sessions converges: two replicas holding the
    /// same sessions, received in any order, derive the same progress.
    #[test]
    fn any_order_of_the_same_sessions_converges((first, second) in two_replicas()) {
        let batch = progress_batch(&PROPERTY_TARGETS);
        prop_assert_eq!(progress(&batch, &first), progress(&batch, &second));
    }

    /// Progress never counts a target twice: each target is listed once, in one state, and
    /// every session of the batch lands in exactly one place.
    #[test]
    fn progress_never_counts_a_target_twice(sessions in any_sessions()) {
        let batch = progress_batch(&PROPERTY_TARGETS);
        let result = progress(&batch, &sessions);
        assert_counts_add_up(&batch, &result);
        for target in &result.targets {
            let expected = match target.sessions.len() {
                0 => TargetStatus::NotStarted,
                1 if target.sessions[0].status == SessionStatus::Finished => TargetStatus::Finished,
                1 => TargetStatus::InProgress,
                _ => TargetStatus::StartedTwice,
            };
            prop_assert_eq!(target.status, expected);
            prop_assert_eq!(
                target.outcome,
                if expected == TargetStatus::Finished { target.sessions[0].outcome } else { None }
            );
            let mut ids: Vec<Uuid> = target.sessions.iter().map(|session| session.session_id).collect();
            let listed = ids.len();
            ids.dedup();
            prop_assert_eq!(ids.len(), listed, "a session listed twice for {}", target.target);
            prop_assert!(target.sessions.iter().all(|session| session.target == target.target));
            prop_assert!(target
                .sessions
                .windows(2)
                .all(|pair| (pair[0].started_at, pair[0].session_id) < (pair[1].started_at, pair[1].session_id)));
        }
        let mut distinct: Vec<&TargetSession> = sessions
            .iter()
            .filter(|session| PROPERTY_TARGETS.contains(&session.target.as_str()))
            .collect();
        distinct.sort_by_key(|session| session.session_id);
        distinct.dedup_by_key(|session| session.session_id);
        let placed: usize = result.targets.iter().map(|target| target.sessions.len()).sum();
        prop_assert_eq!(placed, distinct.len());
        prop_assert_eq!(
            result.seconds,
            distinct.iter().map(|session| session.seconds()).sum::<i64>()
        );
        prop_assert!(result.strays.iter().all(|session| !PROPERTY_TARGETS.contains(&session.target.as_str())));
        let mut strays: Vec<Uuid> = sessions
            .iter()
            .filter(|session| !PROPERTY_TARGETS.contains(&session.target.as_str()))
            .map(|session| session.session_id)
            .collect();
        strays.sort();
        strays.dedup();
        prop_assert_eq!(result.strays.len(), strays.len(), "each stray session is shown once");
        prop_assert_eq!(
            result.is_complete(),
            result.targets.iter().all(|target| !target.sessions.is_empty()
                && target.sessions.iter().all(|session| session.status == SessionStatus::Finished))
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The batch note.

const NOTE_FLOW_ID: &str = "5b0c2e7a-9d41-4f36-8a2b-6e1f0c3d4a59";

/// A small maintenance flow, inline so the snapshots do not change when the samples do.
fn note_flows() -> (FlowSet, FlowRef, Flow) {
    let document = serde_json::json!({
        "format": "resolutionflow/v1", "id": NOTE_FLOW_ID, "kind": "maintenance",
        "title": "Patch a Windows server", "target": "server_name",
        "intake": [{"name": "server_name", "label": "Server name", "required": true}],
        "nodes": [
            {"id": "snapshot", "type": "step", "title": "Snapshot {{server_name}}",
             "verify": {"kind": "checkbox", "prompt": "Snapshot taken"}},
            {"id": "install", "type": "step", "title": "Install the updates on {{server_name}}"},
            {"id": "health", "type": "step", "title": "Check the services of {{server_name}}",
             "verify": {"kind": "text", "prompt": "Services not running"}}
        ]
    });
    let flow = Flow::parse(&document.to_string()).unwrap();
    let reference = FlowRef::of(flow.id.unwrap(), &flow);
    let mut flows = FlowSet::new();
    flows.insert(reference, flow.clone());
    (flows, reference, flow)
}

fn tick(node: &str, value: Option<&str>) -> Command {
    Command::Tick {
        node: node.into(),
        value: value.map(str::to_owned),
    }
}

/// One target's session: started at `from`, one event every 97 seconds.
fn run_target(
    flows: &FlowSet,
    batch: &Batch,
    target: &str,
    engineer: &str,
    from: OffsetDateTime,
    commands: Vec<Command>,
) -> SessionState {
    let mut clock = from;
    let mut next = || {
        let at = clock;
        clock += time::Duration::seconds(97);
        at
    };
    let events: Vec<SessionEvent> = start_target(flows, BATCH_ID, batch, target, engineer)
        .unwrap()
        .into_iter()
        .map(|kind| SessionEvent { at: next(), kind })
        .collect();
    let mut state = SessionState::replay(&events).unwrap();
    for command in commands {
        for kind in decide(&state, flows, command).unwrap() {
            state.apply(&SessionEvent { at: next(), kind }).unwrap();
        }
    }
    state
}

const ESCALATION_NOTE: &str =
    "Reboot hung at 35%; the client read out the console password=Winter2027! on the call";

/// A batch of four targets: the first resolved, the second escalated (with `note`), the third
/// in progress, the fourth not started. Its engineers are `engineer` and Grace.
fn note_scenario(
    targets: [&str; 4],
    engineer: &str,
    note: &str,
) -> (Batch, BatchProgress, BTreeMap<Uuid, SessionState>) {
    let (flows, reference, flow) = note_flows();
    let batch = Batch {
        flow: reference,
        flow_title: flow.title.clone(),
        flow_kind: flow.kind,
        target_variable: "server_name".into(),
        targets: targets.iter().map(|target| (*target).to_owned()).collect(),
        variables: BTreeMap::new(),
        ticket: "CHG-2207".into(),
        client: "Northwind Traders".into(),
        started_by: "Grace Hopper".into(),
        created_at: datetime!(2027-03-13 21:45 UTC),
        target_list: Some("Production servers".into()),
        scheduled: None,
    };
    let finish = |outcome, summary: &str| Command::Finish {
        outcome,
        summary: Some(summary.into()),
        next_steps: None,
    };
    let sessions = [
        (
            1,
            run_target(
                &flows,
                &batch,
                targets[0],
                engineer,
                datetime!(2027-03-13 22:00 UTC),
                vec![
                    tick("snapshot", None),
                    tick("install", None),
                    tick("health", Some("none")),
                    finish(Outcome::Resolved, "Patched and healthy."),
                ],
            ),
        ),
        (
            2,
            run_target(
                &flows,
                &batch,
                targets[1],
                "Grace Hopper",
                datetime!(2027-03-13 22:05 UTC),
                vec![
                    tick("snapshot", None),
                    Command::Note { text: note.into() },
                    finish(
                        Outcome::Escalated,
                        "Stuck at boot; escalated to the hosting provider.",
                    ),
                ],
            ),
        ),
        (
            3,
            run_target(
                &flows,
                &batch,
                targets[2],
                engineer,
                datetime!(2027-03-13 22:40 UTC),
                vec![tick("snapshot", None)],
            ),
        ),
    ];
    let mut states = BTreeMap::new();
    let mut seen = Vec::new();
    for (id, state) in sessions {
        let id = Uuid::from_u128(0x5e55_0000 + id);
        seen.push(TargetSession::of(id, &state, &flows).unwrap());
        states.insert(id, state);
    }
    let result = progress(&batch, &seen);
    (batch, result, states)
}

fn plain_note(options: ExportOptions) -> BatchNote {
    let (batch, result, states) = note_scenario(
        ["fs01", "fs02", "sql01", "dc01"],
        "Ada Lovelace",
        ESCALATION_NOTE,
    );
    BatchNote::build(&batch, &result, &states, options)
}

#[test]
fn note_rows_and_exceptions() {
    let note = plain_note(ExportOptions::default());
    let rows: Vec<(&str, &str, &str, &str)> = note
        .rows
        .iter()
        .map(|row| {
            (
                row.target.as_str(),
                row.state.as_str(),
                row.engineer.as_str(),
                row.time.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("fs01", "resolved", "Ada Lovelace", "12 min"),
            ("fs02", "escalated", "Grace Hopper", "8 min"),
            ("sql01", "in progress, step 2 of 3", "Ada Lovelace", "4 min"),
            ("dc01", "not started", "", ""),
        ]
    );
    let exceptions: Vec<(&str, &str, usize)> = note
        .exceptions
        .iter()
        .map(|exception| {
            (
                exception.target.as_str(),
                exception.state.as_str(),
                exception.sessions.len(),
            )
        })
        .collect();
    assert_eq!(
        exceptions,
        [
            ("fs02", "escalated", 1),
            ("sql01", "in progress, step 2 of 3", 1),
        ]
    );
    assert_eq!(
        note.summary,
        "2 of 4 finished, 1 in progress, 1 not started (1 resolved, 1 escalated)"
    );
    // A target nobody started is named once, not given a section.
    assert_eq!(note.not_started, ["dc01"]);
    assert!(note.redactions.is_none());

    let markdown = note.render(ExportFormat::Markdown);
    assert!(
        markdown.contains("\n**Not started:**\n\n- dc01\n"),
        "{markdown}"
    );
    assert!(!markdown.contains("#### dc01"), "{markdown}");
    assert!(
        markdown.contains("| fs01 | resolved | Ada Lovelace | 12 min |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| dc01 | not started |  |  |"),
        "{markdown}"
    );
    let exceptions_at = markdown.find("### Exceptions").unwrap();
    let fs02_at = markdown.find("#### fs02 — escalated").unwrap();
    assert!(fs02_at > exceptions_at);
    // The exception shows its own steps; the resolved target's session is only a row.
    assert!(markdown[fs02_at..].contains("Snapshot fs02"), "{markdown}");
    assert!(markdown[fs02_at..].contains("Winter2027!"), "{markdown}");
    assert!(!markdown.contains("Snapshot fs01"), "{markdown}");
    assert!(!markdown.contains("#### fs01"), "{markdown}");

    let text = note.render(ExportFormat::Text);
    assert!(text.contains("\nExceptions\n----------\n"), "{text}");
    assert!(text.contains("\n* fs02 - escalated\n"), "{text}");
    assert!(text.contains("\nNot started:\n  - dc01\n"), "{text}");
    assert!(
        text.contains("fs01    resolved (Ada Lovelace, 12 min)"),
        "{text}"
    );
    assert!(!text.contains("Snapshot fs01"), "{text}");

    let html = note.render(ExportFormat::Html);
    assert!(
        html.contains(
            "<tr><td>fs02</td><td>escalated</td><td>Grace Hopper</td><td>8 min</td></tr>"
        ),
        "{html}"
    );
    assert!(html.contains("<h3>Exceptions</h3>"), "{html}");
    assert!(html.contains("<h4>fs02 — escalated</h4>"), "{html}");
    assert!(
        html.contains("<ul class=\"rf-not-started\">\n<li>dc01</li>\n</ul>"),
        "{html}"
    );
    assert!(!html.contains("Snapshot fs01"), "{html}");
}

#[test]
fn note_without_exceptions_says_so() {
    let (flows, reference, flow) = note_flows();
    // The note flow asks only for the target, so the batch has no values of its own.
    let mut batch = patching_batch(reference, &flow, &["fs01"]);
    batch.variables.clear();
    let state = run_target(
        &flows,
        &batch,
        "fs01",
        "Ada",
        datetime!(2027-03-13 22:00 UTC),
        vec![Command::Finish {
            outcome: Outcome::Resolved,
            summary: None,
            next_steps: None,
        }],
    );
    let id = Uuid::from_u128(1);
    let result = progress(&batch, &[TargetSession::of(id, &state, &flows).unwrap()]);
    let note = BatchNote::build(
        &batch,
        &result,
        &BTreeMap::from([(id, state)]),
        ExportOptions::default(),
    );
    assert!(note.exceptions.is_empty());
    assert!(
        note.render(ExportFormat::Markdown)
            .contains("_None: every target finished resolved._")
    );
    assert!(
        note.render(ExportFormat::Text)
            .contains("None: every target finished resolved.")
    );
    assert!(
        note.render(ExportFormat::Html)
            .contains("<p><em>None: every target finished resolved.</em></p>")
    );
}

#[test]
fn batch_note_markdown() {
    insta::assert_snapshot!(plain_note(ExportOptions::default()).render(ExportFormat::Markdown));
}

#[test]
fn batch_note_text() {
    insta::assert_snapshot!(plain_note(ExportOptions::default()).render(ExportFormat::Text));
}

#[test]
fn batch_note_html() {
    insta::assert_snapshot!(plain_note(ExportOptions::default()).render(ExportFormat::Html));
}

#[test]
fn redacted_note_masks_an_exception_session_password() {
    let note = plain_note(ExportOptions { redact: true });
    let counts = note.redactions.clone().unwrap();
    assert!(counts.total() >= 1, "{counts}");
    for format in [
        ExportFormat::Markdown,
        ExportFormat::Text,
        ExportFormat::Html,
    ] {
        let text = note.render(format);
        assert!(!text.contains("Winter2027!"), "{format:?} leaked:\n{text}");
        assert!(
            text.contains(&format!("Redacted before export: {counts}.")),
            "{format:?}:\n{text}"
        );
        // The rest of the exception is still there.
        assert!(text.contains("Reboot hung at 35%"), "{format:?}:\n{text}");
    }
    insta::assert_snapshot!(note.render(ExportFormat::Markdown));
}

const HOSTILE_TARGETS: [&str; 4] = [
    "<script>alert(1)</script>",
    "a | b | c",
    "x\n| injected | row |\n\n# Heading",
    "dc01</td></tr><tr><td>",
];
const HOSTILE_ENGINEER: &str = "Eve | <b>boss</b>";

/// The body rows of the Markdown note's tables, each as its cells' text.
fn markdown_table_rows(markdown: &str) -> Result<Vec<Vec<String>>, String> {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let mut rows: Vec<Vec<String>> = Vec::new();
    let (mut in_head, mut in_cell) = (false, false);
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES | Options::ENABLE_GFM) {
        match event {
            Event::Start(Tag::TableHead) => in_head = true,
            Event::End(TagEnd::TableHead) => in_head = false,
            Event::Start(Tag::TableRow) if !in_head => rows.push(Vec::new()),
            Event::Start(Tag::TableCell) if !in_head => {
                in_cell = true;
                if let Some(row) = rows.last_mut() {
                    row.push(String::new());
                }
            }
            Event::End(TagEnd::TableCell) => in_cell = false,
            Event::Text(text) if in_cell && !in_head => {
                if let Some(cell) = rows.last_mut().and_then(|row| row.last_mut()) {
                    cell.push_str(&text);
                }
            }
            Event::Html(html) | Event::InlineHtml(html) => {
                return Err(format!("raw HTML {html:?}"));
            }
            _ => {}
        }
    }
    Ok(rows)
}

#[test]
fn hostile_targets_cannot_break_the_table_or_add_markup() {
    let (batch, result, states) = note_scenario(HOSTILE_TARGETS, HOSTILE_ENGINEER, "plain note");
    let note = BatchNote::build(&batch, &result, &states, ExportOptions::default());
    let shown: Vec<String> = HOSTILE_TARGETS
        .iter()
        .map(|target| target.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();

    let markdown = note.render(ExportFormat::Markdown);
    let rows = markdown_table_rows(&markdown).unwrap();
    assert_eq!(rows.len(), HOSTILE_TARGETS.len(), "{markdown}");
    for (row, target) in rows.iter().zip(&shown) {
        assert_eq!(row.len(), 4, "{row:?}\n{markdown}");
        assert_eq!(
            row[0].split_whitespace().collect::<Vec<_>>().join(" "),
            *target,
            "{markdown}"
        );
    }
    assert_eq!(rows[0][2], HOSTILE_ENGINEER);

    // The same note with harmless names has exactly as many headings and tags.
    let (plain_batch, plain_result, plain_states) =
        note_scenario(["fs01", "fs02", "sql01", "dc01"], "Ada", "plain note");
    let plain = BatchNote::build(
        &plain_batch,
        &plain_result,
        &plain_states,
        ExportOptions::default(),
    );
    let headings = |markdown: &str| {
        markdown
            .lines()
            .filter(|line| line.starts_with('#'))
            .count()
    };
    assert_eq!(
        headings(&markdown),
        headings(&plain.render(ExportFormat::Markdown)),
        "{markdown}"
    );
    let baseline = plain.render(ExportFormat::Html);
    let html = note.render(ExportFormat::Html);
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<b>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert_eq!(
        html.matches('<').count(),
        baseline.matches('<').count(),
        "{html}"
    );
    assert_eq!(
        html.matches('>').count(),
        baseline.matches('>').count(),
        "{html}"
    );
    assert_eq!(
        html.matches("<tr>").count(),
        baseline.matches("<tr>").count()
    );

    let text = note.render(ExportFormat::Text);
    let results = text
        .split("\nResults\n-------\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\nExceptions\n").next())
        .unwrap();
    let lines: Vec<&str> = results.lines().collect();
    assert_eq!(lines.len(), HOSTILE_TARGETS.len(), "{text}");
    for (line, target) in lines.iter().zip(&shown) {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(line.starts_with(target.as_str()), "{line:?} for {target:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Team records.

fn record_schedule() -> Schedule {
    Schedule {
        flow_id: Uuid::parse_str(NOTE_FLOW_ID).unwrap(),
        flow_title: "Patch a Windows server".into(),
        client: "Northwind Traders".into(),
        rule: "FREQ=MONTHLY;BYDAY=2TU".into(),
        time_zone: "Europe/London".into(),
        first_day: date!(2027 - 01 - 01),
        target_list: Some("Production servers".into()),
        created_by: "Grace Hopper".into(),
    }
}

#[test]
fn valid_records_read_back() {
    let (_, reference, flow) = patching_flow();
    let batch = patching_batch(reference, &flow, &["fs01", "fs02"]);
    let list = TargetList::new(
        "Northwind Traders",
        "Production servers",
        vec!["fs01".into()],
    )
    .unwrap();
    let records = [
        (BATCH_ID, Record::Batch(batch)),
        (list.id(), Record::TargetList(list)),
        (Uuid::from_u128(5), Record::Schedule(record_schedule())),
    ];
    for (id, record) in records {
        let body = record.to_value();
        let text = serde_json::to_string(&body).unwrap();
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(read_record(record.kind(), id, &body), Ok(record.clone()));
    }
}

#[test]
fn malformed_records_are_refused_with_a_reason() {
    let (_, reference, flow) = patching_flow();
    let batch = patching_batch(reference, &flow, &["fs01", "fs02"]);
    let batch_body = |change: &dyn Fn(&mut Batch)| {
        let mut changed = batch.clone();
        change(&mut changed);
        Record::Batch(changed).to_value()
    };
    let list = TargetList::new(
        "Northwind Traders",
        "Production servers",
        vec!["fs01".into()],
    )
    .unwrap();
    let list_body = Record::TargetList(list.clone()).to_value();
    let schedule_body = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut body = Record::Schedule(record_schedule()).to_value();
        change(&mut body);
        body
    };
    let id = Uuid::from_u128(5);
    let cases: Vec<(&str, RecordKind, Uuid, serde_json::Value, &str)> = vec![
        (
            "not an object",
            RecordKind::Batch,
            id,
            serde_json::json!("a batch"),
            "not a batch:",
        ),
        (
            "a target list given as a batch",
            RecordKind::Batch,
            id,
            list_body.clone(),
            "not a batch:",
        ),
        (
            "a batch given as a schedule",
            RecordKind::Schedule,
            id,
            batch_body(&|_| {}),
            "not a schedule:",
        ),
        (
            "targets of the wrong type",
            RecordKind::Batch,
            id,
            {
                let mut body = batch_body(&|_| {});
                body["targets"] = serde_json::json!("fs01, fs02");
                body
            },
            "not a batch:",
        ),
        (
            "a troubleshooting flow",
            RecordKind::Batch,
            id,
            batch_body(&|batch| batch.flow_kind = FlowKind::Troubleshooting),
            "not a troubleshooting one",
        ),
        (
            "an over-long target",
            RecordKind::Batch,
            id,
            batch_body(&|batch| batch.targets.push("s".repeat(MAX_TARGET_BYTES + 1))),
            "a target is 201 bytes long; the limit is 200",
        ),
        (
            "too many targets",
            RecordKind::Batch,
            id,
            batch_body(&|batch| {
                batch.targets = (0..=MAX_TARGETS)
                    .map(|number| format!("srv{number}"))
                    .collect();
            }),
            "1001 targets",
        ),
        (
            "targets not trimmed",
            RecordKind::Batch,
            id,
            batch_body(&|batch| batch.targets[0] = " fs01".into()),
            "not in their checked form",
        ),
        (
            "a target listed twice",
            RecordKind::Batch,
            id,
            batch_body(&|batch| batch.targets.push("FS02".into())),
            "listed twice",
        ),
        (
            "a target variable that is no name",
            RecordKind::Batch,
            id,
            batch_body(&|batch| batch.target_variable = "server name".into()),
            "is not a variable name",
        ),
        (
            "too large",
            RecordKind::Batch,
            id,
            batch_body(&|batch| batch.ticket = "x".repeat(MAX_RECORD_BYTES)),
            "bytes as JSON; the limit is 1048576",
        ),
        (
            "a target list whose id does not follow",
            RecordKind::TargetList,
            id,
            list_body.clone(),
            "does not follow from its client and name",
        ),
        (
            "a schedule recurring hourly",
            RecordKind::Schedule,
            id,
            schedule_body(&|body| body["rule"] = "FREQ=HOURLY".into()),
            "at most daily",
        ),
        (
            "a schedule rule not in its stored form",
            RecordKind::Schedule,
            id,
            schedule_body(&|body| body["rule"] = "freq=monthly;byday=2tu".into()),
            "not in its stored form",
        ),
        (
            "a schedule in no time zone",
            RecordKind::Schedule,
            id,
            schedule_body(&|body| body["time_zone"] = "Mars/Olympus_Mons".into()),
            "is not a time zone",
        ),
        (
            "a schedule's first day not a date",
            RecordKind::Schedule,
            id,
            schedule_body(&|body| body["first_day"] = "13/03/2027".into()),
            "is not a date written YYYY-MM-DD",
        ),
        (
            "a schedule rule the recurrence library refuses",
            RecordKind::Schedule,
            id,
            schedule_body(&|body| body["rule"] = "FREQ=MONTHLY;BYMONTHDAY=32".into()),
            "is not valid",
        ),
    ];
    for (name, kind, id, body, fragment) in cases {
        match read_record(kind, id, &body) {
            Ok(record) => panic!("{name}: read {record:?}"),
            Err(reason) => assert!(reason.contains(fragment), "{name}: {reason}"),
        }
    }
}
