//! Session attachments across replicas, over real HTTP on both back ends: a file attached on
//! one laptop reaches every replica of the team byte for byte; the server keeps only what its
//! name (SHA-256) says, per team, and refuses viewers, other teams, oversized and mismatched
//! uploads; a file lost on its laptop does not hold back the session's events.

use reqwest::StatusCode;
use rf_tests::device::{Device, converged, flow};
use rf_tests::{Backend, TestServer, assert_error_shape, on_every_store};
use serde_json::json;

async fn file_of(device: &Device, sha256: &str) -> Option<Vec<u8>> {
    let sha256 = sha256.to_owned();
    device
        .with(move |replica| std::fs::read(replica.attachment_path(&sha256)).ok())
        .await
}

const CONTENT: &[u8] = b"Windows IP Configuration\r\n   IPv4 Address. . . : 10.0.4.17\r\n";

async fn an_attachment_reaches_every_replica(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (ada, bob, vic) = (Device::new(), Device::new(), Device::new());
    ada.login(&server, "ada@contoso.example").await;
    bob.login(&server, "bob@contoso.example").await;
    vic.login(&server, "vic@contoso.example").await;
    ada.import(flow()).await;
    let sha256 = ada.session_with_attachment("T-ATT", CONTENT).await;

    let report = ada.sync().await.unwrap();
    assert_eq!((report.attachments_uploaded, report.pending), (1, 0));
    for device in [&bob, &vic] {
        let report = device.sync().await.unwrap();
        assert_eq!(report.attachments_downloaded, 1, "{report:?}");
        assert_eq!(file_of(device, &sha256).await.as_deref(), Some(CONTENT));
    }
    // Nothing goes up or down twice.
    for device in [&ada, &bob, &vic] {
        let report = device.sync().await.unwrap();
        assert_eq!(
            (report.attachments_uploaded, report.attachments_downloaded),
            (0, 0)
        );
    }
    converged(&[&ada, &bob, &vic]).await;
    server.stop().await;
}

async fn a_file_lost_on_its_laptop_does_not_hold_back_the_session(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (ada, bob) = (Device::new(), Device::new());
    ada.login(&server, "ada@contoso.example").await;
    bob.login(&server, "bob@contoso.example").await;
    ada.import(flow()).await;
    let sha256 = ada.session_with_attachment("T-ATT", CONTENT).await;
    let lost = sha256.clone();
    ada.with(move |replica| std::fs::remove_file(replica.attachment_path(&lost)).unwrap())
        .await;

    let report = ada.sync().await.unwrap();
    assert_eq!((report.attachments_uploaded, report.pending), (0, 0));
    let report = bob.sync().await.unwrap();
    assert_eq!(report.attachments_waiting, 1, "{report:?}");
    assert_eq!(file_of(&bob, &sha256).await, None);
    converged(&[&ada, &bob]).await;
    server.stop().await;
}

async fn put(
    server: &TestServer,
    token: Option<&str>,
    name: &str,
    body: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    let mut request = server
        .client
        .put(format!("{}/api/v1/attachments/{name}", server.base))
        .header("content-type", "application/octet-stream")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

async fn get(server: &TestServer, token: &str, name: &str) -> (StatusCode, Vec<u8>) {
    let response = server
        .client
        .get(format!("{}/api/v1/attachments/{name}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status(), response.bytes().await.unwrap().to_vec())
}

async fn the_server_keeps_only_what_the_name_says_per_team(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ada = server.token("ada@contoso.example").await;
    let vic = server.token("vic@contoso.example").await;
    let eve = server.token("eve@fabrikam.example").await;
    let name = rf_core::sha256_hex(CONTENT);

    // Refused, and nothing kept: content that is not its name, a name that is not a hash, a
    // viewer, no login, a file over 25 MiB.
    let (status, body) = put(&server, Some(&ada), &name, b"something else".to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error_shape(&body, "hash_mismatch");
    for bad in ["not-a-hash", &name.to_uppercase(), &name[..63]] {
        let (status, body) = put(&server, Some(&ada), bad, CONTENT.to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_error_shape(&body, "bad_request");
    }
    let (status, body) = put(&server, Some(&vic), &name, CONTENT.to_vec()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = put(&server, None, &name, CONTENT.to_vec()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let huge = vec![b'x'; 25 * 1024 * 1024 + 1];
    let (status, body) = put(&server, Some(&ada), &rf_core::sha256_hex(&huge), huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(get(&server, &ada, &name).await.0, StatusCode::NOT_FOUND);

    // Stored once; the same upload again changes nothing.
    let (status, body) = put(&server, Some(&ada), &name, CONTENT.to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = put(&server, Some(&ada), &name, CONTENT.to_vec()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        get(&server, &vic, &name).await,
        (StatusCode::OK, CONTENT.to_vec())
    );

    // Another team neither sees it nor learns that it exists.
    assert_eq!(get(&server, &eve, &name).await.0, StatusCode::NOT_FOUND);
    let question = json!({"sha256": [name, "0".repeat(64)]});
    let (status, body) = server
        .post("/api/v1/attachments/missing", Some(&eve), &question)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["missing"], json!([name, "0".repeat(64)]));
    let (_, body) = server
        .post("/api/v1/attachments/missing", Some(&ada), &question)
        .await;
    assert_eq!(body["missing"], json!(["0".repeat(64)]));
    for bad in [
        json!({"sha256": ["nope"]}),
        json!({"sha256": vec![name.clone(); 1001]}),
    ] {
        let (status, body) = server
            .post("/api/v1/attachments/missing", Some(&ada), &bad)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    server.stop().await;
}

/// Attachment storage that cannot be read (a disk gone bad, a bucket out of reach) is a 503
/// the replica retries later, saying where the fault is, not a bare "the server failed".
/// (The answer is the HTTP layer's, the same over every store; a directory turned into a file
/// is the fault that can be made here.)
#[tokio::test]
async fn storage_that_cannot_be_read_is_said_to_be_out_of_reach() {
    let server = TestServer::start(Backend::Sqlite).await;
    let dir = server.attachments_dir().unwrap();
    let ada = server.token("ada@contoso.example").await;
    let name = rf_core::sha256_hex(CONTENT);
    assert_eq!(
        put(&server, Some(&ada), &name, CONTENT.to_vec()).await.0,
        StatusCode::CREATED
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, b"not a directory").unwrap();
    let response = server
        .client
        .get(format!("{}/api/v1/attachments/{name}", server.base))
        .bearer_auth(&ada)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_error_shape(&body, "storage_unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("attachment storage"),
        "{body}"
    );
    server.stop().await;
}

on_every_store!(
    an_attachment_reaches_every_replica,
    a_file_lost_on_its_laptop_does_not_hold_back_the_session,
    the_server_keeps_only_what_the_name_says_per_team,
);
