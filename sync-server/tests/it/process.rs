//! The real `rf-sync-server serve` process: it says where it listens, answers, and on SIGTERM
//! finishes what is in flight (even a push whose body is still arriving) and exits cleanly.

use crate::common;

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

use rf_core::sync::{PullResponse, PushResponse};
use rf_replica::{Replica, WriteSource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts `serve` on 127.0.0.1:0 and reads its log up to the line "serving address=…", which is
/// written once the socket is bound (so there is no sleeping); the rest of the log follows.
fn serve(data: &Path) -> (Child, String, Lines<BufReader<ChildStderr>>) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_rf-sync-server"))
        .arg("--data-dir")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RF_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(server.stderr.take().unwrap()).lines();
    let address = loop {
        let line = log
            .next()
            .expect("the server exited before listening")
            .unwrap();
        if let Some(rest) = line.split("address=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    (server, address, log)
}

fn sigterm(server: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the process to exit and returns whether it exited 0 and the rest of its log.
async fn exit(mut server: Child, log: Lines<BufReader<ChildStderr>>) -> (bool, Vec<String>) {
    tokio::task::spawn_blocking(move || {
        let status = server.wait().unwrap();
        (status.success(), log.map_while(Result::ok).collect())
    })
    .await
    .unwrap()
}

async fn login(address: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("http://{address}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "ada@litware.example", "password": common::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn serve_answers_and_stops_gracefully_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let (server, address, log) = serve(data.path());
    let health: serde_json::Value = reqwest::get(format!("http://{address}/api/v1/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");

    sigterm(&server);
    let (success, rest) = exit(server, log).await;
    assert!(success, "graceful stop exits 0");
    assert!(rest.iter().any(|line| line.contains("stopped")), "{rest:?}");
}

/// Reads one response head (up to and including the blank line), byte by byte so nothing
/// after it is consumed.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    String::from_utf8(head).unwrap()
}

/// The body of an HTTP/1.1 response read to its end, with chunked transfer decoded.
fn response_body(head: &str, mut rest: &[u8]) -> Vec<u8> {
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return rest.to_vec();
    }
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|pair| pair == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&rest[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// A push whose headers and first half of body are in when SIGTERM arrives is still read to
/// its end, applied and answered; the server then exits 0, and after a restart on the same data
/// every event of the push is stored exactly once.
#[tokio::test]
async fn sigterm_finishes_a_push_whose_body_is_still_arriving() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("server");
    common::add_user(&data, "ada@litware.example", "Litware", "engineer");
    let (server, address, log) = serve(&data);
    let token = login(&address).await;

    // A real replica's push: the flow (one mutation) and the events of ten sessions.
    let mut replica = Replica::open(work.path().join("replica")).unwrap();
    replica
        .import_flow(common::flow(), WriteSource::Import)
        .unwrap();
    common::sessions(&mut replica, 10);
    let batch = replica.next_push(100, 1000).unwrap().unwrap();
    let events = i64::try_from(batch.events.len()).unwrap();
    let body = serde_json::to_vec(&batch).unwrap();
    let (first, rest) = body.split_at(body.len() / 2);

    let mut stream = TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/v1/sync/push HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server sends "100 Continue" when the handler starts reading the body: from here on
    // the request is in flight (headers parsed, token checked), whenever the signal lands.
    let interim = read_head(&mut stream).await;
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    stream.write_all(first).await.unwrap();
    stream.flush().await.unwrap();

    sigterm(&server);
    // Shutdown has begun once the server stops listening: new connections are refused.
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&address).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the server still listens 20 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    stream.write_all(rest).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut response))
        .await
        .expect("no answer within 30 s")
        .unwrap();
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("no response head")
        + 4;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let answer: PushResponse =
        serde_json::from_slice(&response_body(&head, &response[split..])).unwrap();
    assert_eq!(answer.events_acknowledged_through, events);
    assert_eq!(answer.mutations_settled_through, 1);
    assert!(answer.rejected.is_empty(), "{answer:?}");

    let (success, rest) = exit(server, log).await;
    assert!(success, "graceful stop exits 0: {rest:?}");
    assert!(rest.iter().any(|line| line.contains("stopped")), "{rest:?}");

    // Restarted on the same data: every event once, and the same push again is a duplicate.
    let (server, address, log) = serve(&data);
    let token = login(&address).await;
    let http = reqwest::Client::new();
    let page: PullResponse = http
        .get(format!("http://{address}/api/v1/sync/pull?since=0"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut stored: Vec<i64> = page.events.iter().map(|event| event.device_seq).collect();
    stored.sort_unstable();
    assert_eq!(stored, (1..=events).collect::<Vec<_>>());
    let again: PushResponse = http
        .post(format!("http://{address}/api/v1/sync/push"))
        .bearer_auth(&token)
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again.events_acknowledged_through, events);
    assert_eq!(
        common::count(&data, "SELECT COUNT(*) FROM session_events"),
        events
    );
    drop(http);
    sigterm(&server);
    let (success, _) = exit(server, log).await;
    assert!(success);
}
