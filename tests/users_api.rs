//! Team members over the API, on every back end: team admins list and add their own team's
//! members, super admins anyone; nobody else manages users, nobody grants a role above their
//! own, and nobody reaches into another team.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use reqwest::StatusCode;
use rf_tests::{Backend, TestServer, on_every_backend};
use serde_json::json;

const USERS: &str = "/api/v1/users";

async fn team_admins_manage_their_own_team_only(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tia = server.issue_token("tia@contoso.example").await;
    let ada = server.issue_token("ada@contoso.example").await;
    let vic = server.issue_token("vic@contoso.example").await;
    let root = server.issue_token("root@msp.example").await;
    let users_before = server.count("SELECT COUNT(*) FROM users").await;

    // The team admin sees Contoso only.
    let (status, body) = server.get(USERS, Some(&tia)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let emails: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["email"].as_str().unwrap())
        .collect();
    assert!(emails.contains(&"ada@contoso.example"));
    assert!(
        !emails
            .iter()
            .any(|email| email.ends_with("fabrikam.example"))
    );

    // Adds an engineer, who can then log in.
    let new = json!({"email": "New.Tech@Contoso.example", "password": "a long enough password", "role": "engineer"});
    let (status, body) = server.post(USERS, Some(&tia), &new).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["email"], "new.tech@contoso.example");
    assert_eq!(body["team"], "Contoso MSP");
    let (status, _) = server
        .login("new.tech@contoso.example", "a long enough password")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.post(USERS, Some(&tia), &new).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Refused, changing nothing: another team, a higher role, non-admins, bad fields.
    let refused = [
        (
            &tia,
            json!({"email": "x@fabrikam.example", "password": "a long enough password", "role": "engineer", "team": "Fabrikam IT"}),
            StatusCode::FORBIDDEN,
        ),
        (
            &tia,
            json!({"email": "boss@contoso.example", "password": "a long enough password", "role": "super_admin"}),
            StatusCode::FORBIDDEN,
        ),
        (
            &ada,
            json!({"email": "friend@contoso.example", "password": "a long enough password", "role": "engineer"}),
            StatusCode::FORBIDDEN,
        ),
        (
            &vic,
            json!({"email": "friend@contoso.example", "password": "a long enough password", "role": "viewer"}),
            StatusCode::FORBIDDEN,
        ),
        (
            &tia,
            json!({"email": "short@contoso.example", "password": "short", "role": "viewer"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            &tia,
            json!({"email": "not an address", "password": "a long enough password", "role": "viewer"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            &tia,
            json!({"email": "a@contoso.example", "password": "a long enough password", "role": "owner"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (token, body, expected) in refused {
        let (status, answer) = server.post(USERS, Some(token), &body).await;
        assert_eq!(status, expected, "{body}: {answer}");
        assert!(answer["error"]["code"].is_string(), "{answer}");
    }
    let (status, _) = server.get(USERS, Some(&ada)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server.get(USERS, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM users").await,
        users_before + 1
    );

    // A super admin sees every team and may start a new one with its first admin.
    let (_, body) = server.get(USERS, Some(&root)).await;
    assert!(
        body.as_array()
            .unwrap()
            .iter()
            .any(|user| user["team"] == "Fabrikam IT")
    );
    let (status, body) = server
        .post(
            USERS,
            Some(&root),
            json!({"email": "lead@adatum.example", "password": "a long enough password", "role": "team_admin", "team": "Adatum"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["team"], "Adatum");
    server.stop().await;
}

on_every_backend!(team_admins_manage_their_own_team_only);
