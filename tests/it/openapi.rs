//! The OpenAPI document over real HTTP: served without a login, made from the router itself
//! (so it lists exactly the endpoints served), and true to what each endpoint answers.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use rf_tests::{Backend, TestServer, assert_error_shape};
use serde_json::{Value, json};

const DOCUMENT: &str = "/api/v1/openapi.json";

/// Every endpoint of the API. The router registers each handler with its operation, so this
/// list is the one place a new endpoint must be acknowledged by a person.
const ENDPOINTS: &[(&str, &str)] = &[
    ("get", "/api/v1/health"),
    ("get", "/api/v1/openapi.json"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("get", "/api/v1/me"),
    ("post", "/api/v1/me/password"),
    ("get", "/api/v1/team/members"),
    ("post", "/api/v1/sync/push"),
    ("get", "/api/v1/sync/pull"),
    ("get", "/api/v1/sync/snapshot"),
    ("get", "/api/v1/sync/stream"),
    ("put", "/api/v1/attachments/{sha256}"),
    ("get", "/api/v1/attachments/{sha256}"),
    ("post", "/api/v1/attachments/missing"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("patch", "/api/v1/users/{id}"),
    ("delete", "/api/v1/users/{id}"),
    ("put", "/api/v1/psa/connection"),
    ("get", "/api/v1/psa/connection"),
    ("delete", "/api/v1/psa/connection"),
    ("get", "/api/v1/psa/tickets/{id}"),
    ("get", "/api/v1/psa/tickets"),
    ("get", "/api/v1/psa/members"),
    ("put", "/api/v1/psa/members/{user_id}"),
    ("post", "/api/v1/psa/posts"),
    ("post", "/api/v1/ai/suggest"),
    ("post", "/api/v1/ai/summarize"),
    ("get", "/api/v1/ai/usage"),
    ("put", "/api/v1/ai/cap"),
];

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if METHODS.contains(&method.as_str()) {
                operations.insert((method.clone(), path.clone()));
            }
        }
    }
    operations
}

#[tokio::test]
async fn the_document_is_served_without_a_login_and_lists_every_endpoint() {
    let server = TestServer::start(Backend::Sqlite).await;
    let response = server
        .client
        .get(format!("{}{DOCUMENT}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document,
        serde_json::to_value(rf_sync_server::http::api::openapi()).unwrap(),
        "the served document is the one the library builds"
    );
    let expected: BTreeSet<(String, String)> = ENDPOINTS
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(operations(&document), expected);

    // Bearer tokens are the security scheme, asked for exactly where the server checks them.
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer",
               "description": "An access token from /api/v1/auth/login or /api/v1/auth/refresh"})
    );
    for (method, path) in ENDPOINTS {
        let security = &document["paths"][path][method]["security"];
        if [
            "/api/v1/me",
            "/api/v1/me/password",
            "/api/v1/team/members",
            "/api/v1/sync/push",
            "/api/v1/sync/pull",
            "/api/v1/sync/snapshot",
            "/api/v1/sync/stream",
            "/api/v1/attachments/{sha256}",
            "/api/v1/attachments/missing",
            "/api/v1/users",
            "/api/v1/users/{id}",
            "/api/v1/psa/connection",
            "/api/v1/psa/tickets/{id}",
            "/api/v1/psa/tickets",
            "/api/v1/psa/members",
            "/api/v1/psa/members/{user_id}",
            "/api/v1/psa/posts",
            "/api/v1/ai/suggest",
            "/api/v1/ai/summarize",
            "/api/v1/ai/usage",
            "/api/v1/ai/cap",
        ]
        .contains(path)
        {
            assert_eq!(*security, json!([{"bearer": []}]), "{method} {path}");
        } else {
            assert!(security.is_null(), "{method} {path}");
        }
    }
    // Errors are documented with their shape; the login limiter's 429 with Retry-After.
    let error = &document["components"]["schemas"]["ErrorDetail"];
    assert_eq!(error["required"], json!(["code", "message"]));
    let login = &document["paths"]["/api/v1/auth/login"]["post"]["responses"];
    assert_eq!(
        login["429"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    assert!(login["429"]["headers"]["Retry-After"].is_object());
    // The cap on password hashing answers 503 with Retry-After where passwords are hashed.
    for (method, path) in [
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/me/password"),
        ("post", "/api/v1/users"),
        ("patch", "/api/v1/users/{id}"),
    ] {
        let busy = &document["paths"][path][method]["responses"]["503"];
        assert!(
            busy["headers"]["Retry-After"].is_object(),
            "{method} {path}"
        );
    }
    // A snapshot is newline-delimited JSON, each line a pull page.
    let snapshot = &document["paths"]["/api/v1/sync/snapshot"]["get"]["responses"]["200"];
    assert_eq!(
        snapshot["content"]["application/x-ndjson"]["schema"]["$ref"],
        "#/components/schemas/PullResponse"
    );
    server.stop().await;
}

/// Each documented operation is really served: asked without a token and with an empty JSON
/// object, it answers one of its documented statuses (never the 404 of an unknown path), and
/// every method it does not document gets a JSON 405.
#[tokio::test]
async fn every_documented_operation_is_served_and_answers_as_documented() {
    let server = TestServer::start(Backend::Sqlite).await;
    let (_, document) = server.get(DOCUMENT, None).await;
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in METHODS {
            let response = server
                .client
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    format!("{}{path}", server.base),
                )
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            match item.get(*method) {
                Some(operation) => {
                    assert!(
                        operation["responses"]
                            .get(status.as_u16().to_string())
                            .is_some(),
                        "{method} {path} answered an undocumented {status}: {body}"
                    );
                    if !status.is_success() {
                        assert_ne!(status, StatusCode::NOT_FOUND, "{method} {path}");
                        assert!(body["error"]["code"].is_string(), "{body}");
                    }
                }
                None => {
                    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                    assert_error_shape(&body, "method_not_allowed");
                }
            }
        }
    }
    let (status, body) = server.get("/api/v1/nothing-here", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body, "not_found");
    server.stop().await;
}
