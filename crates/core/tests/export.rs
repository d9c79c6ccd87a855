//! Ticket-note exports: insta snapshots of a realistic session in the three formats (and
//! redacted), and the guarantee that no flow or note text can inject markup into the HTML.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use proptest::prelude::*;
use rf_core::export::{ExportFormat, ExportOptions, export};
use rf_core::session::{
    AttachmentRef, Choice, Command, FlowRef, FlowSet, SessionEvent, SessionState, StartRequest,
    decide, start,
};
use rf_core::{Flow, Outcome};
use uuid::Uuid;

const LOCKOUT_ID: &str = "9a4f6b1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b";

fn flows() -> (FlowSet, Uuid) {
    let share = serde_json::json!({
        "format": "resolutionflow/v1", "id": "1d6f0a52-7e8b-4c9d-a0b1-c2d3e4f5a6b7",
        "kind": "troubleshooting", "title": "User cannot access a file share on {{server}}",
        "intake": [{"name": "server", "label": "File server", "required": true},
                   {"name": "user", "label": "User name", "required": true}],
        "start": "ping",
        "nodes": [
            {"id": "ping", "type": "question", "title": "Does {{server}} answer on TCP 445?",
             "commands": [{"label": "Test SMB", "language": "powershell", "code": "Test-NetConnection {{server}} -Port 445"}],
             "answers": [{"label": "Yes", "next": "locked"}, {"label": "No", "next": "firewall"}]},
            {"id": "firewall", "type": "action", "title": "Allow SMB from the client VLAN to {{server}}", "next": "ping"},
            {"id": "locked", "type": "question", "title": "Is the account {{user}} locked or expired?",
             "answers": [{"label": "Locked", "next": "lockout"}, {"label": "Neither", "next": "acl"}]},
            {"id": "lockout", "type": "subflow", "title": "Investigate the lockout", "flow": LOCKOUT_ID, "next": "acl"},
            {"id": "acl", "type": "resolution", "title": "Fix share and NTFS permissions", "outcome": "resolved"}
        ]
    });
    let lockout = serde_json::json!({
        "format": "resolutionflow/v1", "id": LOCKOUT_ID, "kind": "troubleshooting",
        "title": "AD account lockout investigation", "start": "source",
        "nodes": [
            {"id": "source", "type": "question", "title": "Does event 4740 on the PDC emulator name a source computer?",
             "answers": [{"label": "Yes", "next": "stale"}, {"label": "No", "next": "audit"}]},
            {"id": "audit", "type": "action", "title": "Enable account lockout auditing", "next": "source"},
            {"id": "stale", "type": "resolution", "title": "Remove stale credentials on the source", "outcome": "resolved"}
        ]
    });
    let mut set = FlowSet::new();
    let mut share_id = Uuid::nil();
    for document in [share, lockout] {
        let flow = Flow::parse(&document.to_string()).unwrap();
        let flow_id = flow.id.unwrap();
        if share_id.is_nil() {
            share_id = flow_id;
        }
        set.insert(FlowRef::of(flow_id, &flow), flow);
    }
    (set, share_id)
}

/// A realistic session, with deterministic timestamps a few minutes apart.
fn session(note_text: &str) -> SessionState {
    let (flows, share_id) = flows();
    let mut clock = time::macros::datetime!(2026-11-23 09:14:05 UTC);
    let mut tick = || {
        clock += time::Duration::seconds(97);
        clock
    };
    let request = StartRequest {
        ticket: "CW-48213".into(),
        client: "Northwind Traders".into(),
        engineer: "Grace Hopper".into(),
        variables: [
            ("server".to_owned(), "fs02.northwind.local".to_owned()),
            ("user".to_owned(), "jsmith".to_owned()),
        ]
        .into(),
    };
    let events: Vec<SessionEvent> = start(&flows, share_id, request)
        .unwrap()
        .into_iter()
        .map(|kind| SessionEvent { at: tick(), kind })
        .collect();
    let mut state = SessionState::replay(&events).unwrap();
    let commands = vec![
        Command::PasteOutput { text: "ComputerName     : fs02.northwind.local\nRemoteAddress    : 10.40.2.15\nTcpTestSucceeded : False".into() },
        Command::Answer { choice: Choice::parse("no") },
        Command::Note { text: note_text.into() },
        Command::Answer { choice: Choice::parse("done") },
        Command::Answer { choice: Choice::parse("yes") },
        Command::Answer { choice: Choice::parse("locked") },
        Command::Note { text: "Source: LAPTOP-JS01, phone mail app with the old password=Summer2026!".into() },
        Command::Attach {
            attachment: AttachmentRef {
                name: "security-4740.evtx".into(),
                sha256: "5e3a9c1f0b2d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f".into(),
                size: 69_632,
                media_type: "application/octet-stream".into(),
            },
        },
        Command::Answer { choice: Choice::parse("yes") },
        Command::Answer { choice: Choice::parse("1") },
        Command::CustomStep { title: "Reset the user's mobile mail profile".into() },
        Command::Note { text: "Contacted jsmith@northwind.com; share path \\\\fs02\\Finance$\\Q4".into() },
        Command::Finish {
            outcome: Outcome::Resolved,
            summary: Some("SMB was blocked from VLAN 40 and the account kept locking from a stale phone profile. Opened TCP 445, cleared the stale credentials.".into()),
            next_steps: Some("Watch for 4740 events for jsmith over the next 48 hours.".into()),
        },
    ];
    for command in commands {
        for kind in decide(&state, &flows, command).unwrap() {
            state.apply(&SessionEvent { at: tick(), kind }).unwrap();
        }
    }
    state
}

const NOTE: &str =
    "Firewall change CHG-7781 approved by Dana; rule \"SMB-in\" now allows 10.40.0.0/16";

#[test]
fn markdown_note() {
    let note = export(
        &session(NOTE),
        ExportFormat::Markdown,
        ExportOptions::default(),
    );
    assert!(note.redactions.is_none());
    insta::assert_snapshot!(note.text);
}

#[test]
fn plain_text_note() {
    insta::assert_snapshot!(
        export(&session(NOTE), ExportFormat::Text, ExportOptions::default()).text
    );
}

#[test]
fn html_note() {
    insta::assert_snapshot!(
        export(&session(NOTE), ExportFormat::Html, ExportOptions::default()).text
    );
}

#[test]
fn redacted_markdown_note() {
    let note = export(
        &session(NOTE),
        ExportFormat::Markdown,
        ExportOptions { redact: true },
    );
    for secret in [
        "Summer2026!",
        "10.40.2.15",
        "jsmith@northwind.com",
        "\\\\fs02\\Finance$",
        "10.40.0.0",
    ] {
        assert!(
            !note.text.contains(secret),
            "{secret} leaked:\n{}",
            note.text
        );
    }
    let counts = note.redactions.unwrap();
    assert!(counts.total() >= 5, "{counts}");
    insta::assert_snapshot!(note.text);
}

#[test]
fn hostile_text_cannot_add_markup_to_html() {
    let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)> \" ' & </article>";
    let html = export(
        &session(hostile),
        ExportFormat::Html,
        ExportOptions::default(),
    )
    .text;
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(html.matches("</article>").count(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever a note says, the HTML has exactly the tags of a harmless note: the text can
    /// only ever be text.
    #[test]
    fn any_note_text_stays_text_in_html(text in "\\PC{1,80}") {
        prop_assume!(!text.trim().is_empty());
        let baseline = export(&session("plain"), ExportFormat::Html, ExportOptions::default()).text;
        let html = export(&session(&text), ExportFormat::Html, ExportOptions::default()).text;
        prop_assert_eq!(html.matches('<').count(), baseline.matches('<').count());
        prop_assert_eq!(html.matches('>').count(), baseline.matches('>').count());
    }
}

#[test]
fn markdown_notes_read_literally() {
    let note = export(
        &session("Get-Service *spool* on \\\\fs02\\print$ # check <b>"),
        ExportFormat::Markdown,
        ExportOptions::default(),
    );
    assert!(
        note.text
            .contains("> Get-Service \\*spool\\* on \\\\\\\\fs02\\\\print$ \\# check \\<b\\>"),
        "{}",
        note.text
    );
}
