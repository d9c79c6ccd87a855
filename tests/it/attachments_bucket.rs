//! Attachments in an S3-compatible bucket (the local S3 server ./dev test starts,
//! `RF_TEST_S3_URL`): an upload that is not what its name says leaves nothing any reader of the
//! bucket can see, small or large (sent in parts); and two servers sharing one PostgreSQL
//! database and one bucket serve one team: a file uploaded through one is downloaded through
//! the other. Skipped, saying why, when `RF_TEST_S3_URL` is unset.

use reqwest::StatusCode;
use rf_tests::device::{Device, converged, flow};
use rf_tests::{Backend, TestServer, assert_error_shape, bucket_keys, test_bucket};

async fn put(server: &TestServer, token: &str, name: &str, body: Vec<u8>) -> StatusCode {
    server
        .client
        .put(format!("{}/api/v1/attachments/{name}", server.base))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
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

/// Content of `size` bytes that no other test uploads.
fn content(size: usize, seed: u8) -> Vec<u8> {
    (0..size)
        .map(|at| (at as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test]
async fn an_upload_that_is_not_its_name_leaves_nothing_in_the_bucket() {
    if test_bucket("an_upload_that_is_not_its_name_leaves_nothing_in_the_bucket").is_none() {
        return;
    }
    let server = TestServer::start(Backend::PostgresAndBucket).await;
    let prefix = server.bucket().unwrap().to_owned();
    let ada = server.token("ada@contoso.example").await;
    // Small (one PUT) and larger than a part (a multipart upload), each sent under the name of
    // other content.
    let small = content(1_000, 1);
    let large = content(20 * 1024 * 1024, 2);
    for (body, name) in [
        (small.clone(), rf_core::sha256_hex(&large)),
        (large.clone(), rf_core::sha256_hex(&small)),
    ] {
        let response = server
            .client
            .put(format!("{}/api/v1/attachments/{name}", server.base))
            .bearer_auth(&ada)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_error_shape(&response.json().await.unwrap(), "hash_mismatch");
        assert_eq!(get(&server, &ada, &name).await.0, StatusCode::NOT_FOUND);
    }
    let huge = content(25 * 1024 * 1024 + 1, 3);
    let huge_name = rf_core::sha256_hex(&huge);
    assert_eq!(
        put(&server, &ada, &huge_name, huge).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Not under any key: no temporary or partial object either.
    assert_eq!(bucket_keys(&prefix).await, Vec::<String>::new());

    // What is its name is kept, under the team's key, and read back whole.
    let (_, me) = server.get("/api/v1/me", Some(&ada)).await;
    let team = me["team_id"].as_str().unwrap().to_owned();
    let mut expected = Vec::new();
    for body in [&small, &large] {
        let name = rf_core::sha256_hex(body);
        assert_eq!(
            put(&server, &ada, &name, body.clone()).await,
            StatusCode::CREATED
        );
        assert_eq!(
            put(&server, &ada, &name, body.clone()).await,
            StatusCode::OK
        );
        assert_eq!(
            get(&server, &ada, &name).await,
            (StatusCode::OK, body.clone())
        );
        expected.push(format!("{prefix}/{team}/{}/{name}", &name[..2]));
    }
    expected.sort();
    let keys: Vec<String> = bucket_keys(&prefix)
        .await
        .into_iter()
        .map(|key| format!("{}/{key}", bucket_of(&prefix)))
        .collect();
    assert_eq!(keys, expected);
    server.stop().await;
}

/// `s3://bucket` of `s3://bucket/prefix`.
fn bucket_of(url: &str) -> String {
    let rest = url.strip_prefix("s3://").unwrap();
    format!("s3://{}", rest.split_once('/').unwrap().0)
}

const CONTENT: &[u8] = b"Get-NetAdapter | Format-List\r\nStatus : Disconnected\r\n";

#[tokio::test]
async fn two_servers_sharing_a_database_and_a_bucket_serve_one_team() {
    if test_bucket("two_servers_sharing_a_database_and_a_bucket_serve_one_team").is_none() {
        return;
    }
    let first = TestServer::start(Backend::PostgresAndBucket).await;
    let second = first.beside().await;
    let (ada, bob) = (Device::new(), Device::new());
    ada.login(&first, "ada@contoso.example").await;
    bob.login(&second, "bob@contoso.example").await;
    ada.import(flow()).await;
    let sha256 = ada.session_with_attachment("T-NIC", CONTENT).await;

    let report = ada.sync().await.unwrap();
    assert_eq!((report.attachments_uploaded, report.pending), (1, 0));
    let report = bob.sync().await.unwrap();
    assert_eq!(report.attachments_downloaded, 1, "{report:?}");
    let name = sha256.clone();
    let downloaded = bob
        .with(move |replica| std::fs::read(replica.attachment_path(&name)).unwrap())
        .await;
    assert_eq!(downloaded, CONTENT);
    // Bob's file, asked of the first server by name, is the same one.
    let token = first.token("bob@contoso.example").await;
    assert_eq!(
        get(&first, &token, &sha256).await,
        (StatusCode::OK, CONTENT.to_vec())
    );
    converged(&[&ada, &bob]).await;
    second.stop().await;
    first.stop().await;
}
