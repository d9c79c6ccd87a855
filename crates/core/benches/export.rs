//! Exporting a 200-step session as a ticket note, in each format, with and without redaction.
//!
//! Run: `cargo bench -p rf-core --bench export`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rf_core::Flow;
use rf_core::export::{ExportFormat, ExportOptions, export};
use rf_core::session::{
    Choice, Command, FlowRef, FlowSet, SessionEvent, SessionState, StartRequest, decide, start,
};

/// 200 answered steps around a re-check loop, every fourth with a note and every tenth with
/// pasted command output, as a long real investigation looks.
fn long_session() -> (SessionState, Vec<SessionEvent>) {
    let flow = Flow::parse(
        r#"{"format": "resolutionflow/v1", "id": "0b6f7e0c-5d41-4d3a-9c3e-6b1d8e2f4a10",
            "kind": "troubleshooting", "title": "Citrix VDA not registering", "start": "check",
            "nodes": [
              {"id": "check", "type": "question", "title": "Is the VDA registered with a Delivery Controller?",
               "answers": [{"label": "No", "next": "restart"}, {"label": "Yes", "next": "ok"}]},
              {"id": "restart", "type": "action", "title": "Restart the Citrix Desktop Service", "next": "check"},
              {"id": "ok", "type": "resolution", "title": "Registered", "outcome": "resolved"}
            ]}"#,
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let reference = FlowRef::of(flow.id.unwrap_or_default(), &flow);
    let mut flows = FlowSet::new();
    flows.insert(reference, flow);
    let mut at = time::macros::datetime!(2026-11-23 08:00 UTC);
    let request = StartRequest {
        ticket: "CW-1".into(),
        client: "Contoso".into(),
        engineer: "bench".into(),
        ..StartRequest::default()
    };
    let mut events: Vec<SessionEvent> = start(&flows, reference.flow_id, request)
        .unwrap_or_else(|error| panic!("{error}"))
        .into_iter()
        .map(|kind| SessionEvent { at, kind })
        .collect();
    let mut state = SessionState::replay(&events).unwrap_or_else(|error| panic!("{error}"));
    for step in 0..200_u32 {
        let mut commands = Vec::new();
        if step.is_multiple_of(4) {
            commands.push(Command::Note { text: format!("Step {step}: VDA at 10.1.4.{} still unregistered; DDC list from policy, user admin@contoso.com", step % 250) });
        }
        if step.is_multiple_of(10) {
            commands.push(Command::PasteOutput { text: "Get-BrokerMachine -MachineName CONTOSO\\VDA01\nRegistrationState : Unregistered\nLastDeregistrationReason : AgentNotResponding".into() });
        }
        commands.push(Command::Answer {
            choice: Choice::parse(if step.is_multiple_of(2) { "no" } else { "done" }),
        });
        for command in commands {
            for kind in decide(&state, &flows, command).unwrap_or_else(|error| panic!("{error}")) {
                at += time::Duration::seconds(20);
                let event = SessionEvent { at, kind };
                state
                    .apply(&event)
                    .unwrap_or_else(|error| panic!("{error}"));
                events.push(event);
            }
        }
    }
    (state, events)
}

fn exports(c: &mut Criterion) {
    let (state, events) = long_session();
    let mut group = c.benchmark_group("export_200_step_session");
    for (name, format) in [
        ("markdown", ExportFormat::Markdown),
        ("text", ExportFormat::Text),
        ("html", ExportFormat::Html),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| export(&state, format, ExportOptions::default()))
        });
        group.bench_function(format!("{name}_redacted"), |b| {
            b.iter(|| export(&state, format, ExportOptions { redact: true }))
        });
    }
    group.finish();
    // The replica replays a session's log on every command, so this bounds that cost.
    c.bench_function("replay_200_step_session", |b| {
        b.iter(|| SessionState::replay(&events).unwrap_or_else(|error| panic!("{error}")))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4));
    targets = exports
}
criterion_main!(benches);
