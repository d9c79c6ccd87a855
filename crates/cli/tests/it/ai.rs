//! `rf ai suggest` and `rf ai summarize` against a real sync server in front of the Anthropic
//! stand-in (Prism checking each request against the vendor's spec): the answer streams to
//! the terminal, the session's password never reaches the model, and offline the engineer is
//! pointed to the team's path statistics.

use std::path::Path;
use std::process::{Command, Output};

use rf_sync_server::vendors::anthropic::ApiKey;
use rf_tests::vendors::{AnthropicStandIn, answer_stream, vendor_config};
use rf_tests::{Backend, PASSWORD, TestServer};

fn rf(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rf"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("RF_TOKEN_STORE", "file")
        .env("RF_PASSWORD", PASSWORD)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_suggestion_streams_to_the_terminal_and_no_password_reaches_the_model() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let anthropic = runtime.block_on(AnthropicStandIn::start());
    let mut config = vendor_config();
    config.ai.base_url = anthropic.base.clone();
    config.ai.api_key = Some(ApiKey("sk-ant-test".into()));
    let mut server = runtime.block_on(TestServer::start_with(Backend::Sqlite, config));
    let work = tempfile::tempdir().unwrap();
    let ada = work.path().join("ada");
    let login = rf(
        &ada,
        &[
            "login",
            "--server",
            &server.base,
            "--email",
            "ada@contoso.example",
        ],
    );
    assert!(login.status.success(), "{}", text(&login));
    // A session at its first question, with a password in a note.
    let session = {
        use rf_core::session::{Command, StartRequest};
        let mut replica = rf_replica::Replica::open(&ada).unwrap();
        replica
            .import_flow(rf_tests::device::flow(), rf_replica::WriteSource::Import)
            .unwrap();
        let flow = uuid::Uuid::parse_str(rf_tests::device::FLOW_ID).unwrap();
        let request = StartRequest {
            ticket: "T-9".into(),
            client: "Contoso".into(),
            engineer: "ada".into(),
            ..StartRequest::default()
        };
        let id = replica.start_session(flow, request).unwrap().id;
        replica
            .run_command(
                id,
                Command::Note {
                    text: "router admin password: Hunter2!xQ".into(),
                },
            )
            .unwrap();
        id.to_string()
    };

    let answer = "ANSWER: No — the note says the router was rebooted\nACTION: Check the DHCP lease — the router came back";
    runtime.block_on(async {
        anthropic.script(answer_stream(answer, "claude-haiku-4-5"));
    });
    let suggested = rf(&ada, &["ai", "suggest", &session]);
    assert!(suggested.status.success(), "{}", text(&suggested));
    let said = text(&suggested);
    assert!(said.starts_with(answer), "{said}");
    assert!(said.contains("(FlowPilot, claude-haiku-4-5: "), "{said}");
    let seen = anthropic.seen();
    let sent = seen[0].body.to_string();
    assert!(!sent.contains("Hunter2!xQ"), "{sent}");
    assert!(sent.contains("router admin password:"), "{sent}");
    assert!(sent.contains("Its answers:\\n- Yes\\n- No"), "{sent}");
    assert!(!sent.contains("T-9") && !sent.contains("Contoso"), "{sent}");

    let summary = "The laptop had no internet. The router was rebooted.\nNEXT STEPS:\n- None.";
    anthropic.script(answer_stream(summary, "claude-sonnet-4-6"));
    let summarized = rf(&ada, &["ai", "summarize", &session, "--json"]);
    assert!(summarized.status.success(), "{}", text(&summarized));
    let done: serde_json::Value = serde_json::from_slice(&summarized.stdout).unwrap();
    assert_eq!(
        done["summary"],
        "The laptop had no internet. The router was rebooted."
    );
    assert_eq!(done["next_steps"], "- None.");
    anthropic.assert_no_violations();

    runtime.block_on(server.pause());
    let offline = rf(&ada, &["ai", "suggest", &session]);
    assert!(!offline.status.success());
    assert!(
        text(&offline).contains("path statistics"),
        "{}",
        text(&offline)
    );
    runtime.block_on(server.resume());
    runtime.block_on(server.stop());
}
