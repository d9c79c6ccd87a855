//! Accounts and tokens over real HTTP on 127.0.0.1:0: one contract, run against the SQLite and
//! the PostgreSQL back ends (`RF_TEST_DATABASE_URL`, set by ./dev test).

use std::time::Duration;

use reqwest::StatusCode;
use rf_sync_server::ApiConfig;
use rf_tests::{Backend, PASSWORD, TestServer, assert_error_shape, on_every_backend};
use serde_json::json;

async fn login_gives_tokens_that_identify_the_user(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, health) = server.get("/api/v1/health", None).await;
    assert_eq!(
        (status, health["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, tokens) = server.login("ADA@contoso.example", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens["access_token"].as_str().unwrap().starts_with("rfa_"));
    assert!(
        tokens["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("rfr_")
    );
    assert_eq!(tokens["expires_in"], 900);
    let (status, me) = server
        .get("/api/v1/me", tokens["access_token"].as_str())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            me["email"].as_str(),
            me["team"].as_str(),
            me["role"].as_str()
        ),
        (
            Some("ada@contoso.example"),
            Some("Contoso MSP"),
            Some("engineer")
        )
    );
    server.stop().await;
}

async fn wrong_credentials_and_missing_tokens_get_the_error_shape(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, body) = server
        .login("ada@contoso.example", "not the password at all")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_shape(&body, "unauthorized");
    // An unknown account answers exactly like a wrong password.
    let (status, unknown) = server.login("nobody@contoso.example", PASSWORD).await;
    assert_eq!((status, &unknown), (StatusCode::UNAUTHORIZED, &body));
    for token in [None, Some("rfa_forged")] {
        let (status, body) = server.get("/api/v1/me", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error_shape(&body, "unauthorized");
    }
    let (status, body) = server
        .post("/api/v1/auth/login", None, json!({"email": "a@b.c"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error_shape(&body, "bad_request");
    let (status, body) = server.get("/api/v2/anything", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body, "not_found");
    server.stop().await;
}

/// PostgreSQL text cannot hold NUL, and passing one to it was an internal error (500): such
/// an e-mail names no account on any back end, so it is a wrong login like any other.
async fn an_email_with_a_nul_is_a_wrong_login(backend: Backend) {
    let server = TestServer::start(backend).await;
    for email in [
        "ada\u{0}@contoso.example",
        "\u{0}",
        "ada@contoso.example\u{0}",
    ] {
        let (status, body) = server.login(email, PASSWORD).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{email:?}: {body}");
        assert_error_shape(&body, "unauthorized");
    }
    let (status, _) = server.login("ada@contoso.example", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

async fn refresh_tokens_rotate_and_a_replayed_one_ends_the_login(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, first) = server.login("ada@contoso.example", PASSWORD).await;
    let (status, second) = server
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": first["refresh_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let (status, _) = server
        .get("/api/v1/me", second["access_token"].as_str())
        .await;
    assert_eq!(status, StatusCode::OK);
    // The first refresh token comes back (stolen, or a client bug): the whole login ends.
    let (status, body) = server
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": first["refresh_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{body}"
    );
    for access in [&first["access_token"], &second["access_token"]] {
        let (status, _) = server.get("/api/v1/me", access.as_str()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "every token of the login is revoked"
        );
    }
    let (status, _) = server
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": second["refresh_token"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Another login of the same user is not affected.
    let (status, _) = server.login("ada@contoso.example", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

async fn access_tokens_expire(backend: Backend) {
    let config = ApiConfig {
        access_ttl: Duration::from_secs(0),
        ..ApiConfig::default()
    };
    let server = TestServer::start_with(backend, config).await;
    let (_, tokens) = server.login("ada@contoso.example", PASSWORD).await;
    let (status, body) = server
        .get("/api/v1/me", tokens["access_token"].as_str())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    server.stop().await;
}

async fn repeated_failed_logins_are_slowed_down(backend: Backend) {
    let config = ApiConfig {
        login: rf_sync_server::rules::auth::LoginLimits {
            free_failures: 2,
            first_delay: Duration::from_secs(2),
            ..rf_sync_server::rules::auth::LoginLimits::default()
        },
        ..ApiConfig::default()
    };
    let server = TestServer::start_with(backend, config).await;
    for _ in 0..3 {
        let (status, _) = server
            .login("viv@fabrikam.example", "guess guess guess")
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let response = server
        .client
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"email": "viv@fabrikam.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // A delay of seconds, not a lockout (tests/it/hardening.rs shows the right password then works).
    assert!(retry_after > 0 && retry_after <= 4);
    assert_error_shape(&response.json().await.unwrap(), "too_many_attempts");
    // Other accounts are unaffected.
    let (status, _) = server.login("ada@contoso.example", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

async fn oversized_bodies_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let huge = "x".repeat(rf_sync_server::http::api::MAX_BODY_BYTES + 1);
    let response = server
        .client
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"email": "ada@contoso.example", "password": huge}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_error_shape(&response.json().await.unwrap(), "payload_too_large");
    server.stop().await;
}

on_every_backend!(
    login_gives_tokens_that_identify_the_user,
    wrong_credentials_and_missing_tokens_get_the_error_shape,
    an_email_with_a_nul_is_a_wrong_login,
    refresh_tokens_rotate_and_a_replayed_one_ends_the_login,
    access_tokens_expire,
    repeated_failed_logins_are_slowed_down,
    oversized_bodies_are_refused
);
