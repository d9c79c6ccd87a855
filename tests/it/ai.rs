//! FlowPilot through the sync server, against the Anthropic stand-in (each request checked by
//! Prism against the vendor's spec, answered with canned streams): a suggestion streamed and
//! read into ranked answers and actions, the session redacted before anything leaves the
//! server, the flow as a cacheable prefix, the fast model for suggestions and the stronger one
//! for summaries; retries as Anthropic's SDKs make them and only before the first byte; an
//! error mid-stream passed on as ours; usage metered per team and the monthly cap enforced.

use reqwest::StatusCode;
use rf_core::sse::SseReader;
use rf_sync_server::ApiConfig;
use rf_sync_server::vendors::anthropic::{ApiKey, DEFAULT_FAST_MODEL, DEFAULT_STRONG_MODEL};
use rf_tests::vendors::{AnthropicStandIn, Canned, answer_stream, vendor_config};
use rf_tests::{Backend, TestServer, assert_error_shape, on_every_backend};
use serde_json::{Value, json};

const ADMIN: &str = "tia@contoso.example";
const ENGINEER: &str = "ada@contoso.example";
const VIEWER: &str = "vic@contoso.example";
const KEY: &str = "sk-ant-test-key-0123456789";
const SECRET: &str = "Hunter2!xQ";

fn config(anthropic: &AnthropicStandIn) -> ApiConfig {
    let mut config = vendor_config();
    config.ai.base_url = anthropic.base.clone();
    config.ai.api_key = Some(ApiKey(KEY.into()));
    config.ai.retry.base_delay = std::time::Duration::from_millis(20);
    config
}

fn request() -> Value {
    json!({
        "flow": {"schema": "resolutionflow/v1", "title": "VPN will not connect",
                 "nodes": [{"id": "vpn", "type": "question", "title": "Does the VPN client connect?"}]},
        "variables": {"user": "jsmith@contoso.com"},
        "path": [{"title": "Does the laptop reach the internet?", "answer": "Yes",
                  "notes": [format!("local admin password: {SECRET}")],
                  "outputs": ["Reply from 10.20.30.40: bytes=32"]}],
        "current": {"node": "vpn", "title": "Does the VPN client connect?", "answers": ["Yes", "No"]}
    })
}

/// The events of a FlowPilot answer: each `(event, data as JSON)`.
async fn ask(
    server: &TestServer,
    path: &str,
    token: &str,
    body: &Value,
) -> (StatusCode, Vec<(String, Value)>) {
    let response = server
        .client
        .post(format!("{}{path}", server.base))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status != StatusCode::OK {
        let body: Value = response.json().await.unwrap_or(Value::Null);
        return (status, vec![("refused".into(), body)]);
    }
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let bytes = response.bytes().await.unwrap();
    let mut reader = SseReader::new();
    let events = reader
        .push(&bytes)
        .unwrap()
        .into_iter()
        .map(|event| {
            (
                event.event,
                serde_json::from_str(&event.data).unwrap_or(Value::Null),
            )
        })
        .collect();
    (status, events)
}

fn streamed_text(events: &[(String, Value)]) -> String {
    events
        .iter()
        .filter(|(event, _)| event == "text")
        .map(|(_, data)| data["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_suggestion_streams_redacted_with_the_flow_as_a_cacheable_prefix(backend: Backend) {
    let anthropic = AnthropicStandIn::start().await;
    let server = TestServer::start_with(backend, config(&anthropic)).await;
    let engineer = server.token(ENGINEER).await;
    let answer = "ANSWER: No — the client shows error 809\nANSWER: Yes — it may have reconnected\nACTION: Check UDP 500 and 4500 on the firewall — 809 means IKE is blocked";
    anthropic.script(answer_stream(answer, DEFAULT_FAST_MODEL));
    let (status, events) = ask(&server, "/api/v1/ai/suggest", &engineer, &request()).await;
    assert_eq!(status, StatusCode::OK, "{events:?}");
    assert!(
        events.iter().filter(|(event, _)| event == "text").count() > 3,
        "streamed in pieces"
    );
    assert_eq!(streamed_text(&events), answer);
    let (last, done) = events.last().unwrap();
    assert_eq!(last, "done", "{events:?}");
    assert_eq!(
        done["suggestions"],
        json!([
            {"kind": "answer", "answer": "No", "reason": "the client shows error 809"},
            {"kind": "answer", "answer": "Yes", "reason": "it may have reconnected"},
            {"kind": "action", "action": "Check UDP 500 and 4500 on the firewall", "reason": "809 means IKE is blocked"}
        ])
    );
    assert_eq!(done["model"], DEFAULT_FAST_MODEL);
    assert_eq!(done["usage"]["output_tokens"], 57);
    assert!(done["redactions"].as_u64().unwrap() >= 3, "{done}");

    // What reached Anthropic: no password, no e-mail, no address; the key and version
    // headers; the fast model, streaming, max_tokens capped; the flow cacheable.
    let seen = anthropic.seen();
    assert_eq!(seen.len(), 1);
    let sent = seen[0].body.to_string();
    for secret in [SECRET, "jsmith@contoso.com", "10.20.30.40"] {
        assert!(
            !sent.contains(secret),
            "{secret} reached the upstream: {sent}"
        );
    }
    assert!(sent.contains("local admin password:"), "{sent}");
    assert_eq!(seen[0].headers["x-api-key"], KEY);
    assert_eq!(seen[0].headers["anthropic-version"], "2023-06-01");
    let body = &seen[0].body;
    assert_eq!(body["model"], DEFAULT_FAST_MODEL);
    assert_eq!(body["stream"], true);
    assert_eq!(body["max_tokens"], 1024);
    assert_eq!(
        body["system"][1]["cache_control"],
        json!({"type": "ephemeral"})
    );
    assert!(
        body["system"][1]["text"]
            .as_str()
            .unwrap()
            .contains("VPN will not connect")
    );
    anthropic.assert_no_violations();

    // Metered for the team.
    let (status, usage) = server.get("/api/v1/ai/usage", Some(&engineer)).await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    assert_eq!(usage["requests"], 1);
    assert_eq!(usage["input_tokens"], 420);
    assert_eq!(usage["output_tokens"], 57);
    assert_eq!(usage["cache_creation_input_tokens"], 1800);
    assert_eq!(usage["total_tokens"], 420 + 57 + 1800);
    assert_eq!(usage["monthly_cap"], Value::Null);

    // A summary: the stronger model, split into summary and next steps.
    let summary = "The VPN failed with error 809. UDP 500 was opened on the firewall.\nNEXT STEPS:\n- Watch the tunnel for a day.";
    anthropic.script(answer_stream(summary, DEFAULT_STRONG_MODEL));
    let (status, events) = ask(&server, "/api/v1/ai/summarize", &engineer, &request()).await;
    assert_eq!(status, StatusCode::OK);
    let (_, done) = events.last().unwrap();
    assert_eq!(
        done["summary"],
        "The VPN failed with error 809. UDP 500 was opened on the firewall."
    );
    assert_eq!(done["next_steps"], "- Watch the tunnel for a day.");
    assert_eq!(anthropic.seen()[1].body["model"], DEFAULT_STRONG_MODEL);
    anthropic.assert_no_violations();
    server.stop().await;
}

fn status(status: u16, headers: Vec<(&'static str, String)>, kind: &str) -> Canned {
    Canned::Status {
        status,
        headers,
        body: json!({"type": "error", "error": {"type": kind, "message": "test"}}).to_string(),
    }
}

async fn retries_follow_the_sdks_and_end_before_the_first_byte(backend: Backend) {
    let anthropic = AnthropicStandIn::start().await;
    let server = TestServer::start_with(backend, config(&anthropic)).await;
    let engineer = server.token(ENGINEER).await;
    let calls = |anthropic: &AnthropicStandIn| anthropic.seen().len();

    // 529 with retry-after, then the answer.
    anthropic.script(status(
        529,
        vec![("retry-after", "1".into())],
        "overloaded_error",
    ));
    let started = std::time::Instant::now();
    let (code, events) = ask(&server, "/api/v1/ai/suggest", &engineer, &request()).await;
    assert_eq!(code, StatusCode::OK, "{events:?}");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "retry-after honoured"
    );
    assert_eq!(events.last().unwrap().0, "done");
    assert_eq!(calls(&anthropic), 2);

    // The spend limit: never retried.
    anthropic.script(Canned::Status {
        status: 429,
        headers: vec![],
        body: json!({"type": "error", "error": {"type": "rate_limit_error", "message": "limit",
                     "details": {"error_code": "enforced_spend_limit_reached"}}})
        .to_string(),
    });
    let (code, refused) = ask(&server, "/api/v1/ai/suggest", &engineer, &request()).await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{refused:?}");
    assert_error_shape(&refused[0].1, "ai_spend_limit");
    assert_eq!(calls(&anthropic), 3);

    // 5xx: twice retried, then said.
    for _ in 0..3 {
        anthropic.script(status(500, vec![], "api_error"));
    }
    let (code, refused) = ask(&server, "/api/v1/ai/suggest", &engineer, &request()).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{refused:?}");
    assert_error_shape(&refused[0].1, "ai_unavailable");
    assert_eq!(calls(&anthropic), 6);

    // A 400 is not retried; x-should-retry overrules either way.
    anthropic.script(status(400, vec![], "invalid_request_error"));
    let (code, refused) = ask(&server, "/api/v1/ai/suggest", &engineer, &request()).await;
    assert_eq!(code, StatusCode::BAD_GATEWAY, "{refused:?}");
    assert_error_shape(&refused[0].1, "ai_refused");
    assert_eq!(calls(&anthropic), 7);
    anthropic.script(status(
        503,
        vec![("x-should-retry", "false".into())],
        "api_error",
    ));
    let (code, _) = ask(&server, "/api/v1/ai/suggest", &engineer, &request()).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(calls(&anthropic), 8);
    anthropic.script(status(
        400,
        vec![("x-should-retry", "true".into())],
        "invalid_request_error",
    ));
    let (code, _) = ask(&server, "/api/v1/ai/suggest", &engineer, &request()).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(calls(&anthropic), 10);

    // An error mid-stream: the text so far, then our error; not retried (bytes were sent).
    anthropic.script(Canned::Stream(vec![
        ("message_start".into(), json!({"type": "message_start", "message": {"model": DEFAULT_FAST_MODEL, "usage": {"input_tokens": 5, "output_tokens": 1}}}).to_string()),
        ("content_block_delta".into(), json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ANSWER: No"}}).to_string()),
        ("error".into(), json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}).to_string()),
    ]));
    let (code, events) = ask(&server, "/api/v1/ai/suggest", &engineer, &request()).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(streamed_text(&events), "ANSWER: No");
    let (last, error) = events.last().unwrap();
    assert_eq!(last, "error", "{events:?}");
    assert_eq!(error["code"], "ai_overloaded");
    assert_eq!(calls(&anthropic), 11);
    anthropic.assert_no_violations();
    server.stop().await;
}

async fn the_monthly_cap_and_roles_are_enforced(backend: Backend) {
    let anthropic = AnthropicStandIn::start().await;
    let server = TestServer::start_with(backend, config(&anthropic)).await;
    let (admin, engineer, viewer) = (
        server.token(ADMIN).await,
        server.token(ENGINEER).await,
        server.token(VIEWER).await,
    );
    let (code, _) = server
        .put(
            "/api/v1/ai/cap",
            Some(&engineer),
            json!({"monthly_tokens": 10}),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let (code, body) = server
        .put(
            "/api/v1/ai/cap",
            Some(&admin),
            json!({"monthly_tokens": -1}),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (code, body) = server
        .put(
            "/api/v1/ai/cap",
            Some(&admin),
            json!({"monthly_tokens": 100}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["monthly_cap"], 100);
    let (code, _) = ask(&server, "/api/v1/ai/suggest", &engineer, &request()).await;
    assert_eq!(code, StatusCode::OK, "under the cap");
    let (code, refused) = ask(&server, "/api/v1/ai/suggest", &engineer, &request()).await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{refused:?}");
    assert_error_shape(&refused[0].1, "ai_cap_reached");
    assert_eq!(anthropic.seen().len(), 1, "nothing sent over the cap");
    let (code, _) = server
        .put(
            "/api/v1/ai/cap",
            Some(&admin),
            json!({"monthly_tokens": null}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = ask(&server, "/api/v1/ai/suggest", &engineer, &request()).await;
    assert_eq!(code, StatusCode::OK, "no cap again");
    let (code, _) = ask(&server, "/api/v1/ai/suggest", &viewer, &request()).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    // Too large to read.
    let mut huge = request();
    huge["path"][0]["outputs"] = json!(["x".repeat(300 * 1024)]);
    let (code, _) = ask(&server, "/api/v1/ai/suggest", &engineer, &huge).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    server.stop().await;

    // Without a key, FlowPilot says it is not set up.
    let mut off = config(&anthropic);
    off.ai.api_key = None;
    let server = TestServer::start_with(backend, off).await;
    let engineer = server.token(ENGINEER).await;
    let (code, refused) = ask(&server, "/api/v1/ai/suggest", &engineer, &request()).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_error_shape(&refused[0].1, "ai_unavailable");
    assert!(
        refused[0].1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("RF_ANTHROPIC_API_KEY")
    );
    server.stop().await;
}

on_every_backend!(
    a_suggestion_streams_redacted_with_the_flow_as_a_cacheable_prefix,
    retries_follow_the_sdks_and_end_before_the_first_byte,
    the_monthly_cap_and_roles_are_enforced,
);
