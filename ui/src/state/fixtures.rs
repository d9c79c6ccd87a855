//! Builders for the reducer tests.

use rf_app_api::{FlowSummary, LibraryEntry, SessionSummary};
use rf_core::{FlowKind, VersionId};
use uuid::Uuid;

pub fn summary(title: &str, id: u128, kind: FlowKind, pinned: bool) -> FlowSummary {
    FlowSummary {
        id: Uuid::from_u128(id),
        title: title.into(),
        kind,
        category: Some("Network".into()),
        tags: Vec::new(),
        status: "published".into(),
        version: 1,
        version_id: VersionId::from_bytes([0; 32]),
        node_count: 3,
        updated_at: "2025-01-01T00:00:00Z".into(),
        pinned,
    }
}

pub fn entry(title: &str, id: u128) -> LibraryEntry {
    LibraryEntry {
        flow: summary(title, id, FlowKind::Troubleshooting, false),
        snippet: String::new(),
    }
}

pub fn session(id: u128, ticket: &str, client: &str, outcome: Option<&str>) -> SessionSummary {
    SessionSummary {
        id: Uuid::from_u128(id),
        flow_id: Uuid::from_u128(1000 + id),
        flow_version: 1,
        flow_title: "DNS resolution failure".into(),
        ticket: ticket.into(),
        client: client.into(),
        engineer: "sam".into(),
        status: if outcome.is_some() {
            "finished"
        } else {
            "active"
        }
        .into(),
        outcome: outcome.map(str::to_owned),
        started_at: "2025-01-01T09:00:00Z".into(),
        finished_at: outcome.map(|_| "2025-01-01T09:20:00Z".to_owned()),
        updated_at: "2025-01-01T09:20:00Z".into(),
        event_count: 5,
        forked_from: None,
    }
}
