//! FlowPilot for a session, through the team's sync server: what is sent about the session
//! (the flow the session runs, the steps, notes and outputs, the current step and its answers;
//! never the client, the ticket or the engineer, and the server redacts the rest before
//! anything reaches the model), and the answer read as it streams.

use std::io::Read;

use reqwest::Method;
use rf_core::ai::{PilotCurrent, PilotDone, PilotRequest, PilotStep, PilotTask};
use rf_core::sse::SseReader;
use uuid::Uuid;

use crate::Replica;
use crate::client::{ClientOptions, server_response};
use crate::error::{ReplicaError, Result};
use crate::tokens::TokenStore;

/// What FlowPilot is sent about a session.
pub fn pilot_request(replica: &Replica, session: Uuid) -> Result<PilotRequest> {
    let view = replica.session_view(session)?;
    let state = &view.state;
    let flow_ref = view.current.as_ref().map_or(state.flow, |step| step.flow);
    let flow = replica.flow_version(flow_ref)?;
    let flow = serde_json::to_value(&flow)
        .map_err(|error| ReplicaError::Invalid(format!("cannot write the flow: {error}")))?;
    let path = state
        .path
        .iter()
        .map(|entry| PilotStep {
            title: entry.title.clone(),
            answer: entry.answer.clone(),
            value: entry.value.clone(),
            notes: entry.notes.iter().map(|note| note.text.clone()).collect(),
            outputs: entry
                .outputs
                .iter()
                .map(|output| output.text.clone())
                .collect(),
        })
        .collect();
    let current = view.current.as_ref().and_then(|step| {
        step.node.as_ref().map(|node| PilotCurrent {
            node: node.id.clone(),
            title: rf_core::flow::substitute(&node.title, &state.variables),
            answers: step.choices.clone(),
        })
    });
    let outcome = state.outcome.map(|outcome| {
        let mut said = format!("{outcome:?}").to_lowercase();
        if let Some(summary) = &state.summary {
            said.push_str(&format!(" — {summary}"));
        }
        said
    });
    Ok(PilotRequest {
        flow,
        variables: state.variables.clone(),
        path,
        current,
        outcome,
    })
}

/// Asks FlowPilot about a session; `on_text` gets the answer as it streams. Offline, this is
/// [`ReplicaError::Offline`] (the app falls back to the team's path statistics).
pub fn ask(
    replica: &Replica,
    store: &dyn TokenStore,
    mut options: ClientOptions,
    task: PilotTask,
    session: Uuid,
    on_text: &mut dyn FnMut(&str),
) -> Result<PilotDone> {
    let request = pilot_request(replica, session)?;
    let body = serde_json::to_value(&request)
        .map_err(|error| ReplicaError::Invalid(format!("cannot write the request: {error}")))?;
    let path = match task {
        PilotTask::Suggest => "/api/v1/ai/suggest",
        PilotTask::Summarize => "/api/v1/ai/summarize",
    };
    // An answer streams for a while; the server bounds it with the model's max_tokens.
    options.timeout = options.timeout.max(std::time::Duration::from_secs(300));
    // Never sent twice once the server answered: a retry would be billed twice.
    options.attempts = options.attempts.min(2);
    let mut response = server_response(
        replica,
        store,
        options,
        Method::POST,
        path,
        &[],
        Some(&body),
    )?;
    let mut reader = SseReader::new();
    let mut chunk = [0u8; 8192];
    loop {
        let read = response.read(&mut chunk).map_err(|error| {
            ReplicaError::Offline(format!("the answer stopped short ({error}); ask again"))
        })?;
        if read == 0 {
            return Err(ReplicaError::Offline(
                "the answer stopped short; ask again".into(),
            ));
        }
        let events = reader
            .push(&chunk[..read])
            .map_err(|error| ReplicaError::Offline(error.to_string()))?;
        for event in events {
            let data: serde_json::Value = serde_json::from_str(&event.data).unwrap_or_default();
            match event.event.as_str() {
                "text" => on_text(data["text"].as_str().unwrap_or_default()),
                "done" => {
                    return serde_json::from_value(data).map_err(|error| {
                        ReplicaError::Offline(format!(
                            "an answer this version cannot read ({error})"
                        ))
                    });
                }
                "error" => {
                    return Err(ReplicaError::Server {
                        status: 502,
                        code: data["code"].as_str().unwrap_or("ai_failed").to_owned(),
                        message: data["message"]
                            .as_str()
                            .unwrap_or("FlowPilot failed")
                            .to_owned(),
                    });
                }
                _ => {}
            }
        }
    }
}
