//! ConnectWise Manage through the sync server, against Prism serving the vendor's own spec
//! behind a stand-in site (`rf_tests::vendors`): a team admin connects the team (the keys
//! checked with ConnectWise, sealed at rest, never answered), the team looks up and searches
//! tickets and lists members, every call with the vendor's media type, Basic credentials and
//! client id; ConnectWise's refusals and failures come back in plain words, retried only
//! where that is safe.

use reqwest::{Method, StatusCode};
use rf_sync_server::ApiConfig;
use rf_sync_server::vendors::connectwise::ACCEPT;
use rf_sync_server::vendors::secrets::SecretsKeys;
use rf_tests::vendors::{CLIENT_ID, ConnectWiseSite, Scripted, vendor_config};
use rf_tests::{Backend, TestServer, assert_error_shape, on_every_backend};
use serde_json::{Value, json};

const ADMIN: &str = "tia@contoso.example";
const ENGINEER: &str = "ada@contoso.example";
const OTHER_TEAM: &str = "eve@fabrikam.example";
const PRIVATE_KEY: &str = "S3cr3t-Priv/9";
/// `Basic base64("contoso+PubKey1234:S3cr3t-Priv/9")`.
const BASIC: &str = "Basic Y29udG9zbytQdWJLZXkxMjM0OlMzY3IzdC1Qcml2Lzk=";

fn config() -> ApiConfig {
    vendor_config()
}

fn connect_body(site: &ConnectWiseSite) -> Value {
    json!({
        "site": site.site,
        "company_id": "contoso",
        "public_key": "PubKey1234",
        "private_key": PRIVATE_KEY,
    })
}

/// A server with the Contoso team connected to a fresh site.
async fn connected(backend: Backend) -> (TestServer, ConnectWiseSite, String) {
    let server = TestServer::start_with(backend, config()).await;
    let site = ConnectWiseSite::start("contoso").await;
    let admin = server.token(ADMIN).await;
    let (status, body) = server
        .put("/api/v1/psa/connection", Some(&admin), connect_body(&site))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (server, site, admin)
}

async fn a_team_admin_connects_and_the_team_looks_up_tickets(backend: Backend) {
    let server = TestServer::start_with(backend, config()).await;
    let site = ConnectWiseSite::start("contoso").await;
    let engineer = server.token(ENGINEER).await;
    let admin = server.token(ADMIN).await;

    let (status, body) = server
        .put(
            "/api/v1/psa/connection",
            Some(&engineer),
            connect_body(&site),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error_shape(&body, "forbidden");
    let (status, body) = server.get("/api/v1/psa/tickets/123", Some(&engineer)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error_shape(&body, "psa_not_connected");

    let (status, body) = server
        .put("/api/v1/psa/connection", Some(&admin), connect_body(&site))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["api_url"], site.api_url.as_str(), "{body}");
    assert_eq!(body["public_key_hint"], "…1234");
    assert!(body["checked"].is_object(), "{body}");
    let text = body.to_string();
    assert!(
        !text.contains(PRIVATE_KEY) && !text.contains("PubKey1234"),
        "{text}"
    );

    // The codebase was found from the site, then the keys were checked.
    let seen = site.seen();
    assert_eq!(seen[0].path, "/login/companyinfo/contoso");
    assert_eq!(seen[1].path, "system/info");
    for call in &seen[1..] {
        assert_eq!(call.headers["authorization"], BASIC);
        assert_eq!(call.headers["clientid"], CLIENT_ID);
        assert_eq!(call.headers["accept"], ACCEPT);
    }

    // Anyone in the team sees the connection, without its keys.
    let (status, body) = server.get("/api/v1/psa/connection", Some(&engineer)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!body.to_string().contains(PRIVATE_KEY));
    assert!(body.get("checked").is_none());

    let (status, ticket) = server.get("/api/v1/psa/tickets/123", Some(&engineer)).await;
    assert_eq!(status, StatusCode::OK, "{ticket}");
    for field in [
        "id", "summary", "company", "board", "status", "priority", "closed",
    ] {
        assert!(ticket.get(field).is_some(), "{field} in {ticket}");
    }
    let lookup = site.seen().last().unwrap().clone();
    assert_eq!(lookup.path, "service/tickets/123");
    assert_eq!(lookup.headers["authorization"], BASIC);

    // A search: conditions quoted, escaped, URL-encoded.
    let (status, found) = server
        .get(
            "/api/v1/psa/tickets?summary=DNS%20%22down%22&company=ACME&open=true&limit=5",
            Some(&engineer),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert!(found.is_array(), "{found}");
    let search = site.seen().last().unwrap().clone();
    assert_eq!(search.path, "service/tickets");
    let query: Vec<(String, String)> = url_pairs(search.query.as_deref().unwrap_or_default());
    assert!(query.contains(&(
        "conditions".into(),
        r#"summary contains "DNS \"down\"" and (company/identifier = "ACME" or company/name contains "ACME") and closedFlag = false"#.into()
    )), "{query:?}");
    assert!(
        query.contains(&("pageSize".into(), "5".into())),
        "{query:?}"
    );

    let (status, members) = server.get("/api/v1/psa/members", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{members}");
    assert!(members.is_array());
    let members_query = url_pairs(site.seen().last().unwrap().query.as_deref().unwrap());
    assert!(
        members_query.contains(&("conditions".into(), "inactiveFlag = false".into())),
        "{members_query:?}"
    );
    // Members map to team accounts by e-mail, whatever its case; one without an account or
    // an e-mail maps to none.
    site.script(
        Method::GET,
        "system/members",
        Scripted::Answer {
            status: 200,
            headers: vec![("content-type", ACCEPT.into())],
            body: json!([
                {"id": 11, "identifier": "alovelace", "firstName": "Ada", "lastName": "Lovelace", "primaryEmail": "Ada@Contoso.example"},
                {"id": 12, "identifier": "cbabbage", "firstName": "Charles", "lastName": "Babbage", "primaryEmail": "charles@contoso.example"},
                {"id": 13, "identifier": "nomail", "firstName": "No", "lastName": null},
                {"identifier": "noid"},
            ])
            .to_string(),
        },
    );
    let (status, members) = server.get("/api/v1/psa/members", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{members}");
    let ada = server.get("/api/v1/me", Some(&engineer)).await.1;
    assert_eq!(
        members,
        json!([
            {"id": 11, "identifier": "alovelace", "name": "Ada Lovelace", "email": "Ada@Contoso.example",
             "user_id": ada["id"], "user_email": "ada@contoso.example"},
            {"id": 12, "identifier": "cbabbage", "name": "Charles Babbage", "email": "charles@contoso.example",
             "user_id": null, "user_email": null},
            {"id": 13, "identifier": "nomail", "name": "No", "email": null, "user_id": null, "user_email": null},
        ])
    );

    // Another team is not connected by this.
    let other = server.token(OTHER_TEAM).await;
    let (status, body) = server.get("/api/v1/psa/tickets/123", Some(&other)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    site.assert_no_violations();

    let (status, _) = server
        .delete("/api/v1/psa/connection", Some(&engineer))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server.delete("/api/v1/psa/connection", Some(&admin)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = server.get("/api/v1/psa/tickets/123", Some(&engineer)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    server.stop().await;
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .unwrap()
        .query_pairs()
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

async fn a_connection_that_would_leak_or_cannot_work_is_refused_and_not_stored(backend: Backend) {
    let server = TestServer::start_with(backend, config()).await;
    let site = ConnectWiseSite::start("contoso").await;
    let admin = server.token(ADMIN).await;
    let refused = [
        (
            json!({"api_url": "http://cw.example.com/v4_6_release/apis/3.0/", "company_id": "contoso", "public_key": "p", "private_key": "q"}),
            "invalid",
        ),
        (
            json!({"api_url": site.api_url, "site": site.site, "company_id": "contoso", "public_key": "p", "private_key": "q"}),
            "invalid",
        ),
        (
            json!({"site": site.site, "company_id": "nobody", "public_key": "p", "private_key": "q"}),
            "invalid",
        ),
        (
            json!({"site": site.site, "company_id": "contoso", "public_key": "p:x", "private_key": "q"}),
            "invalid",
        ),
        (
            json!({"site": site.site, "company_id": "contoso", "public_key": "p", "private_key": "q\r\nX-Injected: 1"}),
            "invalid",
        ),
    ];
    for (body, code) in refused {
        let (status, answer) = server
            .put("/api/v1/psa/connection", Some(&admin), &body)
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} → {answer}"
        );
        assert_error_shape(&answer, code);
    }
    // Keys ConnectWise refuses are not kept.
    site.script(
        Method::GET,
        "system/info",
        Scripted::Answer {
            status: 401,
            headers: vec![],
            body: r#"{"code":"Unauthorized","message":"Unauthorized"}"#.into(),
        },
    );
    let (status, answer) = server
        .put("/api/v1/psa/connection", Some(&admin), connect_body(&site))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_error_shape(&answer, "psa_check_failed");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("keys"),
        "{answer}"
    );
    let (status, _) = server.get("/api/v1/psa/connection", Some(&admin)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    server.stop().await;
}

async fn vendor_failures_are_said_plainly_and_retried_only_when_safe(backend: Backend) {
    let (server, site, _admin) = connected(backend).await;
    let engineer = server.token(ENGINEER).await;
    let calls = |site: &ConnectWiseSite| {
        site.seen()
            .iter()
            .filter(|seen| seen.path == "service/tickets/7")
            .count()
    };
    let answer = |status: u16, headers: Vec<(&'static str, String)>, body: &str| Scripted::Answer {
        status,
        headers,
        body: body.to_owned(),
    };

    // 429 with Retry-After: waited for, then the ticket.
    site.script(
        Method::GET,
        "service/tickets/7",
        answer(429, vec![("retry-after", "1".into())], ""),
    );
    let (status, body) = server.get("/api/v1/psa/tickets/7", Some(&engineer)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(calls(&site), 2);

    // 5xx: retried twice, then said.
    for _ in 0..3 {
        site.script(Method::GET, "service/tickets/7", answer(503, vec![], ""));
    }
    let (status, body) = server.get("/api/v1/psa/tickets/7", Some(&engineer)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_error_shape(&body, "psa_unavailable");
    assert_eq!(calls(&site), 5);

    // A 4xx is never retried.
    let cases = [
        (404, StatusCode::NOT_FOUND, "not_found", "no ticket 7"),
        (
            401,
            StatusCode::BAD_GATEWAY,
            "psa_credentials_refused",
            "keys",
        ),
        (
            403,
            StatusCode::BAD_GATEWAY,
            "psa_forbidden",
            "Member lacks Service Tickets inquire",
        ),
    ];
    for (vendor, ours, code, words) in cases {
        let before = calls(&site);
        site.script(
            Method::GET,
            "service/tickets/7",
            answer(
                vendor,
                vec![],
                r#"{"code":"Denied","message":"Member lacks Service Tickets inquire"}"#,
            ),
        );
        let (status, body) = server.get("/api/v1/psa/tickets/7", Some(&engineer)).await;
        assert_eq!(status, ours, "{vendor}: {body}");
        assert_error_shape(&body, code);
        assert!(
            body["error"]["message"].as_str().unwrap().contains(words),
            "{vendor}: {body}"
        );
        assert_eq!(calls(&site), before + 1, "{vendor} was retried");
    }

    // A Retry-After longer than the server waits is passed on, not slept through.
    site.script(
        Method::GET,
        "service/tickets/7",
        answer(429, vec![("retry-after", "3600".into())], ""),
    );
    let (status, body) = server.get("/api/v1/psa/tickets/7", Some(&engineer)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_error_shape(&body, "psa_busy");

    // An answer that is not what the vendor's API gives.
    site.script(
        Method::GET,
        "service/tickets/7",
        answer(200, vec![("content-type", "text/html".into())], "<html>"),
    );
    let (status, body) = server.get("/api/v1/psa/tickets/7", Some(&engineer)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_error_shape(&body, "psa_bad_answer");

    let (status, body) = server.get("/api/v1/psa/tickets/0", Some(&engineer)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = server.get("/api/v1/psa/tickets/abc", Some(&engineer)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    site.assert_no_violations();
    server.stop().await;
}

on_every_backend!(
    a_team_admin_connects_and_the_team_looks_up_tickets,
    a_connection_that_would_leak_or_cannot_work_is_refused_and_not_stored,
    vendor_failures_are_said_plainly_and_retried_only_when_safe,
);

/// The store keeps a connection as given, a rotation re-seals it with a new key (also after a
/// rotation that stopped half-way), and a re-seal from a stale value changes nothing.
async fn the_store_keeps_and_rotation_reseals_a_connection(store: impl rf_sync_server::Store) {
    use rf_sync_server::domain::psa::StoredPsaConnection;
    use rf_sync_server::domain::users::NewUser;
    use rf_sync_server::vendors::secrets::{SecretsError, rotate};
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.key");
    let first = SecretsKeys::load_or_create(&path).unwrap();
    let admin = store
        .create_user(NewUser {
            email: "tia@rotation.example".into(),
            team: "Rotation".into(),
            role: rf_sync_server::Role::TeamAdmin,
            password_hash: "not used".into(),
        })
        .await
        .unwrap();
    let team = admin.team_id;
    let secret = br#"{"public_key":"PubKey1234","private_key":"S3cr3t-Priv/9"}"#;
    let stored = StoredPsaConnection {
        team_id: team,
        api_url: "https://cw.example.com/v4_6_release/apis/3.0/".into(),
        company_id: "contoso".into(),
        client_id: None,
        sealed_keys: first.seal(team, secret),
        public_key_hint: "…1234".into(),
        updated_at: 1_800_000_000,
        updated_by: admin.id,
    };
    store.put_psa_connection(stored.clone()).await.unwrap();
    assert_eq!(
        store.psa_connection(team).await.unwrap(),
        Some(stored.clone())
    );
    // Stored again (new keys), it replaces the row.
    let again = StoredPsaConnection {
        client_id: Some("own-client".into()),
        sealed_keys: first.seal(team, secret),
        ..stored.clone()
    };
    store.put_psa_connection(again.clone()).await.unwrap();
    assert_eq!(store.psa_connections().await.unwrap(), vec![again.clone()]);

    let rotated = rotate(&path, &store).await.unwrap();
    assert_eq!(rotated.resealed, 1);
    assert!(!dir.path().join("secrets.key.new").exists());
    let second = SecretsKeys::load(&path).unwrap();
    assert_eq!(second.sealing_id(), rotated.new_key_id);
    assert_ne!(second.sealing_id(), first.sealing_id());
    let row = store.psa_connection(team).await.unwrap().unwrap();
    assert_eq!(second.open(team, &row.sealed_keys).unwrap(), secret);
    assert!(matches!(
        first.open(team, &row.sealed_keys),
        Err(SecretsError::UnknownKey(_))
    ));
    // A re-seal from what the row no longer holds changes nothing.
    assert!(
        !store
            .reseal_psa_connection(team, again.sealed_keys.clone(), first.seal(team, b"x"))
            .await
            .unwrap()
    );
    assert_eq!(store.psa_connection(team).await.unwrap(), Some(row.clone()));

    // A rotation that stopped after writing its new key: the server knows both keys, and the
    // next rotation finishes with that key.
    let pending = dir.path().join("secrets.key.new");
    std::fs::write(&pending, format!("{}\n", "ab".repeat(32))).unwrap();
    std::fs::set_permissions(&pending, std::fs::Permissions::from_mode(0o600)).unwrap();
    let both = SecretsKeys::load(&path).unwrap();
    assert_eq!(both.open(team, &row.sealed_keys).unwrap(), secret);
    let finished = rotate(&path, &store).await.unwrap();
    assert_eq!(finished.resealed, 1);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().trim(),
        "ab".repeat(32)
    );
    let third = SecretsKeys::load(&path).unwrap();
    let row = store.psa_connection(team).await.unwrap().unwrap();
    assert_eq!(third.open(team, &row.sealed_keys).unwrap(), secret);

    assert!(store.remove_psa_connection(team).await.unwrap());
    assert!(!store.remove_psa_connection(team).await.unwrap());
    assert_eq!(store.psa_connection(team).await.unwrap(), None);
}

#[tokio::test]
async fn the_sqlite_store_keeps_and_rotation_reseals_a_connection() {
    let dir = tempfile::tempdir().unwrap();
    let store = rf_sync_server::SqliteStore::open(dir.path()).unwrap();
    the_store_keeps_and_rotation_reseals_a_connection(store).await;
}

#[tokio::test]
async fn the_postgres_store_keeps_and_rotation_reseals_a_connection() {
    let url = rf_tests::fresh_postgres_database().await;
    let store = rf_sync_server::PostgresStore::connect(&url).await.unwrap();
    the_store_keeps_and_rotation_reseals_a_connection(store).await;
}
