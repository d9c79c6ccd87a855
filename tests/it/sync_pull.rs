//! Pull and snapshot over real HTTP. Malformed parameters are a 400 with the error shape
//! whoever asks, and only a well-formed request is negotiated (426 for an old client, 422 for
//! one newer than the server). A snapshot streams exactly the pages paging would give; a first
//! sync by snapshot ends where paging ends; and a snapshot stream cut in the middle loses
//! nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use reqwest::StatusCode;
use rf_replica::client::ClientOptions;
use rf_tests::device::{Device, converged, fast, flow};
use rf_tests::{Backend, TestServer, assert_error_shape, on_every_backend};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn malformed_parameters_are_refused_before_the_protocol_is_negotiated(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.token("ada@contoso.example").await;
    let pull = |query: &'static str| {
        let server = &server;
        let token = &token;
        async move {
            server
                .get(&format!("/api/v1/sync/pull?{query}"), Some(token))
                .await
        }
    };
    for query in [
        "since=-1",
        "limit=0",
        "limit=5001",
        "limit=-35699",
        "since=x",
        "protocol=-1",
        "shadow=1",
        // Schemathesis found these answered 426: an old client's malformed request.
        "protocol=0&since=0&limit=-35699",
        "protocol=0&since=-1",
        "protocol=2&limit=0",
    ] {
        let (status, body) = pull(query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_error_shape(&body, "bad_request");
    }
    let (status, body) = pull("protocol=0&since=0&limit=10").await;
    assert_eq!(status, StatusCode::UPGRADE_REQUIRED, "{body}");
    assert_error_shape(&body, "upgrade_required");
    let (status, body) = pull("protocol=2").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error_shape(&body, "server_too_old");
    let (status, body) = pull("protocol=1&since=0&limit=5000").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["latest"], 0);
    server.stop().await;
}

/// A team with history: two versions of a flow, an open conflict, and sessions recorded on two
/// devices. Returns those devices, synced.
async fn team_with_history(server: &TestServer) -> (Device, Device) {
    let (laptop, desktop) = (Device::new(), Device::new());
    laptop.login(server, "ada@contoso.example").await;
    desktop.login(server, "ada@contoso.example").await;
    laptop.import(flow()).await;
    laptop.run_session("T-1").await;
    laptop.sync().await.unwrap();
    desktop.sync().await.unwrap();
    let mut first = flow();
    first.title = "VPN will not connect (laptop)".into();
    laptop.import(first).await;
    let mut second = flow();
    second.title = "VPN will not connect (desktop)".into();
    desktop.import(second).await;
    laptop.sync().await.unwrap();
    for ticket in ["T-2", "T-3"] {
        desktop.run_session(ticket).await;
    }
    assert_eq!(desktop.sync().await.unwrap().conflicts, 1);
    for ticket in ["T-4", "T-5", "T-6"] {
        laptop.run_session(ticket).await;
    }
    laptop.sync().await.unwrap();
    desktop.sync().await.unwrap();
    (laptop, desktop)
}

/// The lines of a snapshot answer, checked to be newline-delimited JSON.
async fn snapshot_lines(server: &TestServer, token: &str, query: &str) -> Vec<Value> {
    let response = server
        .client
        .get(format!("{}/api/v1/sync/snapshot?{query}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[reqwest::header::CONTENT_TYPE],
        "application/x-ndjson"
    );
    let text = response.text().await.unwrap();
    assert!(text.ends_with('\n'), "every line ends: {text:?}");
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn rows(page: &Value) -> usize {
    ["versions", "flows", "events", "conflicts"]
        .iter()
        .map(|kind| page[kind].as_array().unwrap().len())
        .sum()
}

async fn the_snapshot_streams_the_pages_paging_gives(backend: Backend) {
    let server = TestServer::start(backend).await;
    team_with_history(&server).await;
    let token = server.token("vic@contoso.example").await;
    let lines = snapshot_lines(&server, &token, "since=0&limit=7&protocol=1").await;
    let (_, first) = server
        .get("/api/v1/sync/pull?since=0&limit=1", Some(&token))
        .await;
    let latest = first["latest"].as_i64().unwrap();
    assert!(lines.len() >= 8, "{} pages of 7 changes", lines.len());
    // Contiguous pages from 0 to the team's latest change, each the page pull gives for it.
    let mut since = 0;
    for line in &lines {
        assert_eq!(line["since"], since);
        let (status, paged) = server
            .get(
                &format!("/api/v1/sync/pull?since={since}&limit=7"),
                Some(&token),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(line, &paged);
        since = line["until"].as_i64().unwrap();
    }
    assert_eq!(since, latest);
    let conflicts: usize = lines
        .iter()
        .map(|line| line["conflicts"].as_array().unwrap().len())
        .sum();
    assert_eq!(conflicts, 1);

    // Up to date already: one empty page says so.
    let lines = snapshot_lines(&server, &token, &format!("since={latest}")).await;
    assert_eq!(lines.len(), 1);
    assert_eq!(
        (lines[0]["since"].as_i64(), lines[0]["until"].as_i64()),
        (Some(latest), Some(latest))
    );
    assert_eq!(rows(&lines[0]), 0);

    // Another team sees none of it.
    let eve = server.token("eve@fabrikam.example").await;
    let lines = snapshot_lines(&server, &eve, "").await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["latest"], 0);
    assert_eq!(rows(&lines[0]), 0);

    // Malformed queries and old clients are refused before anything is streamed.
    for (query, status, code) in [
        ("since=-1", StatusCode::BAD_REQUEST, "bad_request"),
        ("limit=0", StatusCode::BAD_REQUEST, "bad_request"),
        ("limit=5001", StatusCode::BAD_REQUEST, "bad_request"),
        ("shadow=1", StatusCode::BAD_REQUEST, "bad_request"),
        (
            "protocol=0",
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
        ),
    ] {
        let (answer, body) = server
            .get(&format!("/api/v1/sync/snapshot?{query}"), Some(&token))
            .await;
        assert_eq!(answer, status, "{query}: {body}");
        assert_error_shape(&body, code);
    }
    let (status, _) = server.get("/api/v1/sync/snapshot", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

fn paged(snapshot: bool) -> ClientOptions {
    ClientOptions {
        pull_limit: 7,
        snapshot,
        ..fast()
    }
}

async fn a_first_sync_by_snapshot_ends_where_paging_ends(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (laptop, desktop) = team_with_history(&server).await;
    let (streamed, paging) = (Device::new(), Device::new());
    streamed.login(&server, "bob@contoso.example").await;
    paging.login(&server, "vic@contoso.example").await;

    let report = streamed.sync_with(paged(true)).await.unwrap();
    assert!(report.snapshot_pages >= 8, "{report:?}");
    // The snapshot ended at the team's latest change; one pull confirmed nothing came after.
    assert_eq!(report.pages, report.snapshot_pages + 1, "{report:?}");
    assert_eq!(report.conflicts, 1);
    let report = paging.sync_with(paged(false)).await.unwrap();
    assert_eq!(report.snapshot_pages, 0, "{report:?}");
    let state = converged(&[&laptop, &desktop, &streamed, &paging]).await;
    assert_eq!(state.sessions.len(), 6);
    // A replica that has pulled before pages, snapshot or not.
    let report = streamed.sync_with(paged(true)).await.unwrap();
    assert_eq!((report.snapshot_pages, report.pages), (0, 1), "{report:?}");
    server.stop().await;
}

/// A TCP proxy in front of the server that, when armed, cuts a snapshot answer after a number
/// of bytes: a connection dropped in the middle of a first sync.
struct CuttingProxy {
    base: String,
    /// Bytes of snapshot answers let through before the cut (`usize::MAX`: never cut).
    cut_after: Arc<AtomicUsize>,
    /// Bytes of snapshot answers seen.
    seen: Arc<AtomicUsize>,
    cut: Arc<AtomicBool>,
}

impl CuttingProxy {
    async fn start(upstream: &str) -> CuttingProxy {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = CuttingProxy {
            base: format!("http://{}", listener.local_addr().unwrap()),
            cut_after: Arc::new(AtomicUsize::new(usize::MAX)),
            seen: Arc::new(AtomicUsize::new(0)),
            cut: Arc::new(AtomicBool::new(false)),
        };
        let (cut_after, seen, cut) = (
            Arc::clone(&proxy.cut_after),
            Arc::clone(&proxy.seen),
            Arc::clone(&proxy.cut),
        );
        tokio::spawn(async move {
            loop {
                let (client, _) = listener.accept().await.unwrap();
                let server = tokio::net::TcpStream::connect(&upstream).await.unwrap();
                let (cut_after, seen, cut) =
                    (Arc::clone(&cut_after), Arc::clone(&seen), Arc::clone(&cut));
                tokio::spawn(async move {
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    // Whether the request in flight on this connection is a snapshot.
                    let snapshot = Arc::new(AtomicBool::new(false));
                    let requests = {
                        let snapshot = Arc::clone(&snapshot);
                        async move {
                            let mut buffer = vec![0; 16 * 1024];
                            while let Ok(n) = client_read.read(&mut buffer).await {
                                let chunk = &buffer[..n];
                                if n == 0 || server_write.write_all(chunk).await.is_err() {
                                    break;
                                }
                                if contains(chunk, b" HTTP/1.1\r\n") {
                                    snapshot.store(
                                        contains(chunk, b"/api/v1/sync/snapshot"),
                                        Ordering::SeqCst,
                                    );
                                }
                            }
                        }
                    };
                    let answers = async move {
                        let mut buffer = vec![0; 16 * 1024];
                        while let Ok(n) = server_read.read(&mut buffer).await {
                            let mut chunk = &buffer[..n];
                            if n == 0 {
                                break;
                            }
                            if snapshot.load(Ordering::SeqCst) {
                                let before = seen.fetch_add(n, Ordering::SeqCst);
                                let allowed = cut_after.load(Ordering::SeqCst);
                                if before.saturating_add(n) > allowed {
                                    chunk = &chunk[..allowed.saturating_sub(before)];
                                    let _ = client_write.write_all(chunk).await;
                                    cut.store(true, Ordering::SeqCst);
                                    // Dropping the halves closes the connection mid-answer.
                                    return;
                                }
                            }
                            if client_write.write_all(chunk).await.is_err() {
                                break;
                            }
                        }
                    };
                    tokio::select! {
                        () = answers => {}
                        () = async { requests.await; std::future::pending::<()>().await } => {}
                    }
                });
            }
        });
        proxy
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

async fn a_snapshot_cut_midway_loses_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (laptop, desktop) = team_with_history(&server).await;
    let proxy = CuttingProxy::start(&server.base).await;

    // How long the whole snapshot answer is, measured through the proxy.
    let whole = Device::new();
    whole.login_at(&proxy.base, "bob@contoso.example").await;
    let report = whole.sync_with(paged(true)).await.unwrap();
    let pages = report.snapshot_pages;
    let length = proxy.seen.swap(0, Ordering::SeqCst);
    assert!(!proxy.cut.load(Ordering::SeqCst));

    // The same first sync, cut halfway through the snapshot answer.
    proxy.cut_after.store(length / 2, Ordering::SeqCst);
    let cut = Device::new();
    cut.login_at(&proxy.base, "vic@contoso.example").await;
    let report = cut.sync_with(paged(true)).await.unwrap();
    assert!(proxy.cut.load(Ordering::SeqCst), "the proxy cut the stream");
    assert!(
        report.snapshot_pages < pages,
        "{} of {pages} pages came in the stream",
        report.snapshot_pages
    );
    // Paging picked up where the stream stopped: everything arrived, once.
    assert!(report.pages > report.snapshot_pages + 1, "{report:?}");
    let state = converged(&[&laptop, &desktop, &whole, &cut]).await;
    assert_eq!(state.sessions.len(), 6);
    server.stop().await;
}

/// Pull pages are bounded in bytes, not only in changes: a team whose flows are large (here
/// 24 flows of about 700 KB, 17 MB in all, within 24 changes) is paged so that no page is
/// larger than `PULL_PAGE_BYTES` plus one change, and a replica paging them ends with every
/// flow. Before, one page carried every change up to its count limit: 17 MB here, past 150 MB
/// for a real library. Prints the largest page (the figure in docs/PERFORMANCE.md).
async fn pull_pages_are_bounded_in_bytes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let author = Device::new();
    author.login(&server, "ada@contoso.example").await;
    let mut documents = 0;
    for index in 0..24 {
        let mut flow = rf_tests::printer_flow();
        flow.id = Some(uuid::Uuid::new_v4());
        flow.title = format!("Large flow {index}");
        flow.description = Some(format!("{index} {}", "runbook text ".repeat(54_000)));
        documents += flow.to_json_compact().len();
        author.import(flow).await;
    }
    let report = author.sync().await.unwrap();
    assert_eq!(report.pending, 0);
    let token = server.token("bob@contoso.example").await;
    let (mut since, mut largest, mut pages, mut versions) = (0, 0, 0, 0);
    loop {
        let response = server
            .client
            .get(format!(
                "{}/api/v1/sync/pull?since={since}&limit=5000",
                server.base
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        let body = response.bytes().await.unwrap();
        largest = largest.max(body.len());
        pages += 1;
        let page: rf_core::sync::PullResponse = serde_json::from_slice(&body).unwrap();
        versions += page.versions.len();
        since = page.until;
        if page.until >= page.latest {
            break;
        }
    }
    eprintln!(
        "pull pages: {pages} for {documents} bytes of flow documents; largest page {largest} bytes (budget {})",
        rf_core::sync::PULL_PAGE_BYTES
    );
    assert_eq!(versions, 24);
    assert!(pages >= 4, "{pages} pages");
    assert!(
        largest <= rf_core::sync::PULL_PAGE_BYTES + 800 * 1024,
        "a page of {largest} bytes"
    );
    // A replica paging them (and one taking the snapshot) ends with every flow.
    let reader = Device::new();
    reader.login(&server, "bob@contoso.example").await;
    let report = reader.sync().await.unwrap();
    assert_eq!(report.pulled.versions, 24);
    assert!(report.pages >= 4, "{report:?}");
    server.stop().await;
}

on_every_backend!(
    pull_pages_are_bounded_in_bytes,
    malformed_parameters_are_refused_before_the_protocol_is_negotiated,
    the_snapshot_streams_the_pages_paging_gives,
    a_first_sync_by_snapshot_ends_where_paging_ends,
    a_snapshot_cut_midway_loses_nothing
);
