//! The vendors' keys never reach a log: a sync server logging everything it and its
//! libraries say (TRACE, every target) connects a team to ConnectWise, looks up a ticket,
//! posts a note and asks FlowPilot, and the whole log is searched for the team's private key,
//! the Basic credentials made from it, and the server's Anthropic key. Its own test binary,
//! because the log subscriber is global to the process.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::io::Write;
use std::sync::{Arc, Mutex};

use rf_sync_server::vendors::anthropic::ApiKey;
use rf_tests::vendors::{AnthropicStandIn, ConnectWiseSite, vendor_config};
use rf_tests::{Backend, TestServer};
use serde_json::json;

const PRIVATE_KEY: &str = "Pr1vate-Key-For-Logs";
/// `base64("contoso+PubKey1234:Pr1vate-Key-For-Logs")`.
const BASIC: &str = "Y29udG9zbytQdWJLZXkxMjM0OlByMXZhdGUtS2V5LUZvci1Mb2dz";
const ANTHROPIC_KEY: &str = "sk-ant-key-for-logs-0123456789";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_vendor_key_reaches_the_log_at_any_level() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let site = ConnectWiseSite::start("contoso").await;
    let anthropic = AnthropicStandIn::start().await;
    let mut config = vendor_config();
    config.ai.base_url = anthropic.base.clone();
    config.ai.api_key = Some(ApiKey(ANTHROPIC_KEY.into()));
    let server = TestServer::start_with(Backend::Sqlite, config).await;
    let admin = server.token("tia@contoso.example").await;
    let engineer = server.token("ada@contoso.example").await;
    let (status, body) = server
        .put(
            "/api/v1/psa/connection",
            Some(&admin),
            json!({"site": site.site, "company_id": "contoso", "public_key": "PubKey1234",
                   "private_key": PRIVATE_KEY}),
        )
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    let (status, _) = server.get("/api/v1/psa/tickets/5", Some(&engineer)).await;
    assert_eq!(status.as_u16(), 200);
    let (status, _) = server
        .post(
            "/api/v1/psa/posts",
            Some(&engineer),
            json!({"key": uuid::Uuid::new_v4(), "ticket_id": 5, "text": "note", "flags": ["internal"]}),
        )
        .await;
    assert_eq!(status.as_u16(), 200);
    let response = server
        .client
        .post(format!("{}/api/v1/ai/suggest", server.base))
        .bearer_auth(&engineer)
        .json(&json!({"flow": {"title": "x"}, "path": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let _ = response.bytes().await.unwrap();
    server.stop().await;

    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        log.len() > 10_000,
        "the log caught too little to prove anything: {log}"
    );
    assert!(
        log.contains("ConnectWise connection stored"),
        "our own lines are caught"
    );
    for secret in [PRIVATE_KEY, BASIC, ANTHROPIC_KEY] {
        assert!(!log.contains(secret), "{secret} is in the log");
    }
}
