//! Compression over real HTTP: gzip request bodies are read, responses (the streamed snapshot
//! too) are compressed for clients that accept it, and the 16 MiB body limit counts decompressed bytes, so a small gzip
//! bomb gets a JSON 413 instead of the server's memory.

use std::io::{Read, Write};

use reqwest::StatusCode;
use rf_core::session::StartRequest;
use rf_core::sync::{PullResponse, PushRequest, PushResponse};
use rf_core::{Flow, Outcome};
use rf_replica::{Replica, WriteSource};
use rf_tests::{Backend, TestServer, assert_error_shape, on_every_backend};
use serde_json::Value;

const PUSH: &str = "/api/v1/sync/push";
const PULL: &str = "/api/v1/sync/pull";

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut decoded)
        .unwrap();
    decoded
}

/// A client that leaves compressed responses as they came, so the tests see the wire.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder().no_gzip().build().unwrap()
}

/// A push of one finished session (start 2 events, finish 1) and its flow.
fn one_session_push(dir: &std::path::Path) -> PushRequest {
    let mut replica = Replica::open(dir).unwrap();
    let flow = Flow::parse(
        r#"{"format": "resolutionflow/v1", "kind": "troubleshooting", "title": "Printer offline",
            "start": "ok", "nodes": [
              {"id": "ok", "type": "resolution", "title": "Printer back", "outcome": "resolved"}
            ]}"#,
    )
    .unwrap();
    let flow_id = replica
        .import_flow(flow, WriteSource::Import)
        .unwrap()
        .flow_id;
    let request = StartRequest {
        ticket: "CW-7".into(),
        client: "Contoso".into(),
        engineer: "ada".into(),
        ..StartRequest::default()
    };
    let session = replica.start_session(flow_id, request).unwrap().id;
    replica
        .run_command(
            session,
            rf_core::session::Command::Finish {
                outcome: Outcome::Resolved,
                summary: None,
                next_steps: None,
            },
        )
        .unwrap();
    replica.next_push(100, 100).unwrap().unwrap()
}

async fn a_gzip_push_is_stored_and_a_pull_comes_back_compressed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token("ada@contoso.example").await;
    let dir = tempfile::tempdir().unwrap();
    let batch = one_session_push(dir.path());
    let events = batch.events.len();
    assert!(events > 0);

    let response = raw_client()
        .post(format!("{}{PUSH}", server.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip(&serde_json::to_vec(&batch).unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: PushResponse = response.json().await.unwrap();
    assert_eq!(answer.events_acknowledged_through, events as i64);
    assert_eq!(answer.mutations_settled_through, 1);

    let response = raw_client()
        .get(format!("{}{PULL}?since=0", server.base))
        .bearer_auth(&token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let compressed = response.bytes().await.unwrap();
    let page: PullResponse = serde_json::from_slice(&gunzip(&compressed)).unwrap();
    assert_eq!(page.events.len(), events);
    assert_eq!(page.versions.len(), 1);

    // Brotli for clients that prefer it; nothing for clients that ask for nothing.
    let response = raw_client()
        .get(format!("{}{PULL}?since=0", server.base))
        .bearer_auth(&token)
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "br");
    let response = raw_client()
        .get(format!("{}{PULL}?since=0", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("content-encoding").is_none());
    let page: PullResponse = response.json().await.unwrap();
    assert_eq!(page.events.len(), events);

    // A first sync's snapshot is compressed the same way: gzip of its NDJSON lines.
    let response = raw_client()
        .get(format!("{}/api/v1/sync/snapshot?limit=1", server.base))
        .bearer_auth(&token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let text = String::from_utf8(gunzip(&response.bytes().await.unwrap())).unwrap();
    let pages: Vec<PullResponse> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        pages.iter().map(|page| page.events.len()).sum::<usize>(),
        events
    );
    assert!(pages.len() > events, "one change per page with limit=1");
    server.stop().await;
}

async fn a_gzip_bomb_is_refused_at_the_body_limit(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token("ada@contoso.example").await;
    // 64 MiB of one byte inside a JSON string: about 64 KiB compressed, 4 times the limit
    // decompressed. The server stops reading at 16 MiB.
    let mut body = br#"{"protocol": 1, "schema": 1, "client_id": ""#.to_vec();
    body.extend(std::iter::repeat_n(b'a', 64 * 1024 * 1024));
    body.extend(br#"", "mutations": [], "events": []}"#);
    let bomb = gzip(&body);
    drop(body);
    assert!(bomb.len() < rf_sync_server::http::api::MAX_BODY_BYTES / 16);
    let response = raw_client()
        .post(format!("{}{PUSH}", server.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_error_shape(&response.json().await.unwrap(), "payload_too_large");

    // Just under the limit decompressed is read (and refused for what it says, not its size).
    let mut body = br#"{"email": "ada@contoso.example", "password": ""#.to_vec();
    body.extend(std::iter::repeat_n(
        b'a',
        rf_sync_server::http::api::MAX_BODY_BYTES - 1024,
    ));
    body.extend(br#"", "extra": 1}"#);
    let response = raw_client()
        .post(format!("{}/api/v1/auth/login", server.base))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gzip(&body))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    server.stop().await;
}

async fn unreadable_encodings_get_the_json_error_shape(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token("ada@contoso.example").await;
    // An encoding the server does not read: 415, saying which it does.
    let response = raw_client()
        .post(format!("{}{PUSH}", server.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("content-encoding", "br")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(response.headers()["accept-encoding"], "gzip");
    let body: Value = response.json().await.unwrap();
    assert_error_shape(&body, "unsupported_media_type");
    // A body that says gzip but is not: 400.
    let response = raw_client()
        .post(format!("{}{PUSH}", server.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body("{\"protocol\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_error_shape(&response.json().await.unwrap(), "bad_request");
    server.stop().await;
}

on_every_backend!(
    a_gzip_push_is_stored_and_a_pull_comes_back_compressed,
    a_gzip_bomb_is_refused_at_the_body_limit,
    unreadable_encodings_get_the_json_error_shape,
);
