//! The pull endpoint's parameters over real HTTP: malformed ones are a 400 with the error
//! shape whoever asks, and only a well-formed request is negotiated (426 for an old client,
//! 422 for one newer than the server).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use reqwest::StatusCode;
use rf_tests::{Backend, TestServer, assert_error_shape, on_every_backend};

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

on_every_backend!(malformed_parameters_are_refused_before_the_protocol_is_negotiated);
