//! The server's resource and login limits over real sockets on 127.0.0.1:0: header, idle,
//! body and request timeouts, the connection limit, the cap on password hashing, head sizes
//! answered in the JSON error shape, login backoff per account and per address, the trusted
//! proxy setting, and checked account e-mails. The limits sit above the store, so these run
//! on the embedded back end only.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rf_sync_server::ApiConfig;
use rf_sync_server::http::limits::Limits;
use rf_sync_server::rules::auth::LoginLimits;
use rf_tests::{Backend, PASSWORD, TestServer, assert_error_shape, replica_with_session};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous bounds for whatever a test does not look at, so only the limit under test acts.
fn config(limits: Limits, login: LoginLimits) -> ApiConfig {
    ApiConfig {
        limits,
        login,
        ..ApiConfig::default()
    }
}

fn open_login() -> LoginLimits {
    LoginLimits {
        free_failures: 1000,
        address_burst: 10_000,
        ..LoginLimits::default()
    }
}

fn address(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (end of stream or reset), failing if it has
/// not within `within`; returns what was read.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => received.extend_from_slice(&buffer[..read]),
            }
        }
    })
    .await
    .expect("the server kept the connection open");
    received
}

/// Reads one whole response with a `Content-Length` body; returns its head and body.
async fn read_response(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut received = Vec::new();
    let split = loop {
        if let Some(at) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            break at + 4;
        }
        let mut buffer = [0u8; 4096];
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "closed before a response head");
        received.extend_from_slice(&buffer[..read]);
    };
    let head = String::from_utf8(received[..split].to_vec()).unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .expect("a content-length");
    let mut body = received[split..].to_vec();
    while body.len() < length {
        let mut buffer = [0u8; 4096];
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "closed inside a body");
        body.extend_from_slice(&buffer[..read]);
    }
    (head, body)
}

fn health_request(host: &str) -> String {
    format!("GET /api/v1/health HTTP/1.1\r\nHost: {host}\r\n\r\n")
}

#[tokio::test]
async fn a_connection_that_sends_half_a_header_is_closed_after_the_header_timeout() {
    let limits = Limits {
        header_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, config(limits, open_login())).await;
    let mut stream = TcpStream::connect(address(&server)).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let received = closed_within(&mut stream, Duration::from_secs(10)).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(
        received.is_empty(),
        "{}",
        String::from_utf8_lossy(&received)
    );
    // A connection that never sends a byte goes the same way.
    let mut silent = TcpStream::connect(address(&server)).await.unwrap();
    closed_within(&mut silent, Duration::from_secs(10)).await;
    server.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let limits = Limits {
        header_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, config(limits, open_login())).await;
    let host = address(&server);
    let mut stream = TcpStream::connect(&host).await.unwrap();
    // Two requests on one connection: it is kept alive between them...
    for _ in 0..2 {
        stream
            .write_all(health_request(&host).as_bytes())
            .await
            .unwrap();
        let (head, _) = read_response(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    // ...and closed once it idles past the timeout.
    let idle = Instant::now();
    let received = closed_within(&mut stream, Duration::from_secs(10)).await;
    assert!(received.is_empty());
    assert!(idle.elapsed() >= Duration::from_millis(250));
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, config(limits, open_login())).await;
    let host = address(&server);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&host).await.unwrap();
        stream
            .write_all(health_request(&host).as_bytes())
            .await
            .unwrap();
        let (head, _) = read_response(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        held.push(stream);
    }
    // A third connects (the kernel's backlog takes it) but is not served while two are open.
    let mut waiting = TcpStream::connect(&host).await.unwrap();
    waiting
        .write_all(health_request(&host).as_bytes())
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), waiting.read(&mut byte))
            .await
            .is_err(),
        "a third connection was served beyond the limit of two"
    );
    // One closes: the waiting one is served, in full.
    drop(held.remove(0));
    let (head, body) = tokio::time::timeout(Duration::from_secs(10), read_response(&mut waiting))
        .await
        .expect("the waiting connection was not served after a slot freed");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let health: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(health["status"], "ok");
    server.stop().await;
}

#[tokio::test]
async fn a_burst_of_logins_beyond_the_password_cap_gets_503s_with_retry_after() {
    let limits = Limits {
        password_permits: 1,
        password_queue: 1,
        ..Limits::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, config(limits, open_login())).await;
    let attempts = (0..40).map(|_| {
        server
            .client
            .post(format!("{}/api/v1/auth/login", server.base))
            .json(&json!({"email": "ada@contoso.example", "password": "wrong wrong wrong"}))
            .send()
    });
    let responses = futures_util::future::join_all(attempts).await;
    let mut busy = 0;
    for response in responses {
        let response = response.unwrap();
        let status = response.status();
        match status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                let retry_after: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=5).contains(&retry_after));
                assert_error_shape(&response.json().await.unwrap(), "busy");
            }
            other => panic!("a login in the burst was answered {other}"),
        }
    }
    assert!(
        busy > 0,
        "no login of 40 at once was refused with one permit"
    );
    // The burst is over: the right password works at once.
    let (status, body) = server.login("ada@contoso.example", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.stop().await;
}

/// Sends a push's head and half its body, then nothing: the answer the server gives.
async fn stalled_push(server: &TestServer) -> (String, Value) {
    let token = server.token("ada@contoso.example").await;
    let dir = tempfile::tempdir().unwrap();
    let (mut replica, _) = replica_with_session(dir.path());
    let batch = replica.next_push(100, 100).unwrap().unwrap();
    let body = serde_json::to_vec(&batch).unwrap();
    let host = address(server);
    let mut stream = TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /api/v1/sync/push HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..body.len() / 2]).await.unwrap();
    let (head, body) = tokio::time::timeout(Duration::from_secs(10), read_response(&mut stream))
        .await
        .expect("no answer to a stalled push");
    (head, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn a_request_body_that_stalls_is_refused_after_the_body_timeout() {
    let limits = Limits {
        body_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, config(limits, open_login())).await;
    let (head, body) = stalled_push(&server).await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert_error_shape(&body, "bad_request");
    server.stop().await;
}

#[tokio::test]
async fn a_request_not_answered_within_the_request_timeout_gets_503() {
    // A push is an upload: its own, longer limit applies (see the next test).
    let limits = Limits {
        request_timeout: Duration::from_millis(300),
        upload_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, config(limits, open_login())).await;
    let (head, body) = stalled_push(&server).await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    assert_error_shape(&body, "busy");
    server.stop().await;
}

/// A push whose body arrives slowly but steadily (a poor link) outlasts the request timeout
/// and is answered: it is bounded by the upload timeout and by pauses, not by the request
/// timeout, or it would be cut on every retry and never go through.
#[tokio::test]
async fn a_slow_but_steady_push_is_not_cut_by_the_request_timeout() {
    let limits = Limits {
        request_timeout: Duration::from_millis(200),
        body_timeout: Duration::from_millis(400),
        ..Limits::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, config(limits, open_login())).await;
    let token = server.token("ada@contoso.example").await;
    let dir = tempfile::tempdir().unwrap();
    let (mut replica, _) = replica_with_session(dir.path());
    let batch = replica.next_push(100, 100).unwrap().unwrap();
    let body = serde_json::to_vec(&batch).unwrap();
    let host = address(&server);
    let mut stream = TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /api/v1/sync/push HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Eight pieces 100 ms apart: 700 ms in all, well past the 200 ms request timeout, no pause
    // as long as the body timeout.
    for piece in body.chunks(body.len().div_ceil(8)) {
        stream.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (head, _) = tokio::time::timeout(Duration::from_secs(10), read_response(&mut stream))
        .await
        .expect("no answer to a slow push");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    server.stop().await;
}

/// The request timeout bounds the time to an answer's head; the poke stream's body goes on.
#[tokio::test]
async fn the_request_timeout_does_not_cut_the_poke_stream() {
    let limits = Limits {
        request_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, config(limits, open_login())).await;
    let token = server.token("ada@contoso.example").await;
    let response = server
        .client
        .get(format!("{}/api/v1/sync/stream", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = response;
    let mut seen = String::new();
    while !seen.contains("event: ready") {
        let chunk = stream.chunk().await.unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    // Well past the request timeout, a change still arrives as a poke.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut replica, _) = replica_with_session(dir.path());
    let batch = replica.next_push(100, 100).unwrap().unwrap();
    let (status, body) = server.post("/api/v1/sync/push", Some(&token), &batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let poke = tokio::time::timeout(Duration::from_secs(10), async {
        while !seen.contains("event: poke") {
            match stream.chunk().await {
                Ok(Some(bytes)) => seen.push_str(&String::from_utf8_lossy(&bytes)),
                other => panic!("the poke stream ended: {other:?}"),
            }
        }
    })
    .await;
    assert!(poke.is_ok(), "no poke: {seen}");
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn over_long_uris_and_over_large_headers_get_the_json_error_shape() {
    let server =
        TestServer::start_with(Backend::Sqlite, config(Limits::default(), open_login())).await;
    let long_path = format!("{}/api/v1/health?{}", server.base, "a".repeat(9 * 1024));
    let response = server.client.get(&long_path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::URI_TOO_LONG);
    assert_error_shape(&response.json().await.unwrap(), "uri_too_long");

    let response = server
        .client
        .get(format!("{}/api/v1/health", server.base))
        .header("x-large", "b".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert_error_shape(&response.json().await.unwrap(), "headers_too_large");

    let mut many = server.client.get(format!("{}/api/v1/health", server.base));
    for index in 0..150 {
        many = many.header(format!("x-header-{index}"), "c");
    }
    let response = many.send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert_error_shape(&response.json().await.unwrap(), "headers_too_large");

    // Beyond hyper's head buffer (64 KiB by default) hyper answers itself, with no body, and
    // closes the connection: the server never sees the request.
    let response = server
        .client
        .get(format!("{}/api/v1/health", server.base))
        .header("x-huge", "d".repeat(128 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );

    // Within the limits, all is as usual.
    let (status, _) = server.get("/api/v1/health", None).await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let server = TestServer::start(Backend::Sqlite).await;
    let token = server.token("ada@contoso.example").await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let response = server
            .client
            .get(format!("{}/api/v1/me", server.base))
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
    for value in [
        format!("Basic {token}"),
        format!("Bearer{token}"),
        "Bearer ".into(),
    ] {
        let response = server
            .client
            .get(format!("{}/api/v1/me", server.base))
            .header("authorization", value.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{value}");
    }
    server.stop().await;
}

/// A login sent as if through a proxy that says the client is `client`.
async fn login_from(
    server: &TestServer,
    client: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    server
        .client
        .post(format!("{}/api/v1/auth/login", server.base))
        .header("x-forwarded-for", client)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn behind_a_proxy() -> ApiConfig {
    let limits = Limits {
        trusted_proxies: vec![IpAddr::from([127, 0, 0, 1])],
        ..Limits::default()
    };
    config(limits, LoginLimits::default())
}

#[tokio::test]
async fn spraying_one_password_over_many_accounts_from_one_address_gets_429() {
    let server = TestServer::start_with(Backend::Sqlite, behind_a_proxy()).await;
    let mut refused = 0;
    for index in 0..50 {
        let email = format!("user{index}@contoso.example");
        let response = login_from(&server, "203.0.113.7", &email, "Summer2026!!!").await;
        match response.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                assert!((1..=5).contains(&retry_after(&response)));
                assert_error_shape(&response.json().await.unwrap(), "too_many_attempts");
            }
            other => panic!("answered {other}"),
        }
    }
    assert!(refused >= 25, "only {refused} of 50 sprayed logins refused");
    // Someone else, at another address, logs in at once.
    let response = login_from(&server, "198.51.100.9", "ada@contoso.example", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await;
}

/// Logs in with the right password, waiting as each 429 says; returns the time waited.
async fn log_in_waiting_as_told(server: &TestServer, client: &str) -> Duration {
    let started = Instant::now();
    loop {
        let response = login_from(server, client, "ada@contoso.example", PASSWORD).await;
        match response.status() {
            StatusCode::OK => return started.elapsed(),
            StatusCode::TOO_MANY_REQUESTS => {
                let wait = retry_after(&response);
                assert!(wait <= 5, "told to wait {wait} s");
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            other => panic!("answered {other}"),
        }
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}

#[tokio::test]
async fn failing_one_account_fifty_times_does_not_lock_its_owner_out() {
    let server = TestServer::start_with(Backend::Sqlite, behind_a_proxy()).await;
    let attacker = "203.0.113.7";
    let mut delayed = 0;
    for _ in 0..50 {
        let response = login_from(&server, attacker, "ada@contoso.example", "guess guess").await;
        match response.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                delayed += 1;
                assert!((1..=5).contains(&retry_after(&response)));
            }
            other => panic!("answered {other}"),
        }
    }
    assert!(
        delayed > 0,
        "fifty failures in a row were never slowed down"
    );
    // The owner, elsewhere, is not held up at all.
    let waited = log_in_waiting_as_told(&server, "198.51.100.9").await;
    assert!(waited < Duration::from_secs(1), "{waited:?}");
    // Even from the attacker's own address, the right password works within seconds.
    let waited = log_in_waiting_as_told(&server, attacker).await;
    assert!(waited <= Duration::from_secs(8), "{waited:?}");
    server.stop().await;
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_unless_a_proxy_is_trusted() {
    // No trusted proxy: every login below comes from 127.0.0.1, whatever the header says.
    let server = TestServer::start(Backend::Sqlite).await;
    let mut refused = 0;
    for index in 0..30 {
        let client = format!("203.0.113.{index}");
        let email = format!("user{index}@contoso.example");
        let response = login_from(&server, &client, &email, "Summer2026!!!").await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert!(
        refused > 0,
        "a forged X-Forwarded-For escaped the address limit"
    );
    server.stop().await;
    // With the proxy trusted, the header names the client: thirty clients, one try each.
    let server = TestServer::start_with(Backend::Sqlite, behind_a_proxy()).await;
    for index in 0..30 {
        let client = format!("203.0.113.{index}");
        let email = format!("user{index}@contoso.example");
        let response = login_from(&server, &client, &email, "Summer2026!!!").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{client}");
    }
    server.stop().await;
}

#[tokio::test]
async fn account_emails_are_checked_when_accounts_are_added() {
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server.token("tia@contoso.example").await;
    for email in [
        "@",
        "new",
        "@contoso.example",
        "new@contoso",
        "new@@contoso.example",
        "new person@contoso.example",
        "new\u{200B}@contoso.example",
        "new\u{202E}@contoso.example",
        "new\u{7}@contoso.example",
    ] {
        let (status, body) = server
            .post(
                "/api/v1/users",
                Some(&admin),
                json!({"email": email, "password": PASSWORD, "role": "engineer"}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{email:?}: {body}"
        );
        assert_error_shape(&body, "invalid");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("email"),
            "{body}"
        );
    }
    let (status, body) = server
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"email": " New.Person@Contoso.example ", "password": PASSWORD, "role": "engineer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["email"], "new.person@contoso.example");
    server.stop().await;
}
