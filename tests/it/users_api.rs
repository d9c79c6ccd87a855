//! Team members over the API, on every back end: team admins list, add, change and remove
//! their own team's members, super admins anyone's; nobody else manages users, nobody grants a
//! role above their own or touches an account above it, nobody changes their own role or
//! removes themselves, and nobody reaches into another team. A refused change changes nothing.

use reqwest::StatusCode;
use rf_tests::{Backend, TestServer, assert_error_shape, on_every_backend};
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

/// Every account's id by e-mail, as a super admin sees them.
async fn ids(server: &TestServer, root: &str) -> std::collections::HashMap<String, String> {
    let (status, body) = server.get(USERS, Some(root)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|user| {
            (
                user["email"].as_str().unwrap().to_owned(),
                user["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn user_path(id: &str) -> String {
    format!("{USERS}/{id}")
}

/// What a refused request must leave as it was: every account's role, password and state,
/// and every login and token.
async fn accounts_fingerprint(server: &TestServer, root: &str) -> (Vec<i64>, serde_json::Value) {
    let mut counts = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM users",
        "SELECT COUNT(*) FROM users WHERE disabled_at IS NOT NULL",
        "SELECT COUNT(*) FROM users WHERE role = 'super_admin'",
        "SELECT COUNT(*) FROM users WHERE role = 'team_admin'",
        "SELECT COUNT(*) FROM users WHERE role = 'engineer'",
        "SELECT COUNT(*) FROM users WHERE role = 'viewer'",
        "SELECT COUNT(DISTINCT password_hash) FROM users",
        "SELECT COUNT(*) FROM logins",
        "SELECT COUNT(*) FROM logins WHERE revoked_at IS NOT NULL",
        "SELECT COUNT(*) FROM access_tokens",
        "SELECT COUNT(*) FROM refresh_tokens",
    ] {
        counts.push(server.count(sql).await);
    }
    let (_, listed) = server.get(USERS, Some(root)).await;
    (counts, listed)
}

async fn me(server: &TestServer, token: &str) -> StatusCode {
    server.get("/api/v1/me", Some(token)).await.0
}

async fn refresh(server: &TestServer, refresh_token: &str) -> StatusCode {
    server
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": refresh_token}),
        )
        .await
        .0
}

/// Logs in with the password; the access and refresh tokens.
async fn login_tokens(server: &TestServer, email: &str, password: &str) -> (String, String) {
    let (status, body) = server.login(email, password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn admins_change_roles_and_a_new_password_ends_every_login(backend: Backend) {
    let server = TestServer::start(backend).await;
    let root = server.issue_token("root@msp.example").await;
    let tia = server.issue_token("tia@contoso.example").await;
    let ada = server.issue_token("ada@contoso.example").await;
    let id = ids(&server, &root).await;

    // A new role takes effect at once, on tokens issued before it.
    let (status, body) = server
        .patch(
            &user_path(&id["ada@contoso.example"]),
            Some(&tia),
            json!({"role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["email"].as_str(), body["role"].as_str()),
        (Some("ada@contoso.example"), Some("viewer"))
    );
    let (_, body) = server.get("/api/v1/me", Some(&ada)).await;
    assert_eq!(body["role"], "viewer");

    // A team admin sets a member's password: every login of theirs ends at once, access and
    // refresh tokens alike, and only the new password logs in.
    let (bob_access, bob_refresh) =
        login_tokens(&server, "bob@contoso.example", rf_tests::PASSWORD).await;
    let bob_issued = server.issue_token("bob@contoso.example").await;
    let (status, body) = server
        .patch(
            &user_path(&id["bob@contoso.example"]),
            Some(&tia),
            json!({"password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "engineer", "the role is unchanged");
    assert_eq!(me(&server, &bob_access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&server, &bob_issued).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh(&server, &bob_refresh).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = server
        .login("bob@contoso.example", rf_tests::PASSWORD)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (bob_new, _) = login_tokens(&server, "bob@contoso.example", NEW_PASSWORD).await;
    assert_eq!(me(&server, &bob_new).await, StatusCode::OK);

    // Changing your own password ends your other logins and keeps the one you asked from.
    let (asking_access, asking_refresh) =
        login_tokens(&server, "tia@contoso.example", rf_tests::PASSWORD).await;
    let (other_access, other_refresh) =
        login_tokens(&server, "tia@contoso.example", rf_tests::PASSWORD).await;
    let (status, body) = server
        .patch(
            &user_path(&id["tia@contoso.example"]),
            Some(&asking_access),
            json!({"password": NEW_PASSWORD, "role": "team_admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(me(&server, &other_access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&server, &tia).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh(&server, &other_refresh).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me(&server, &asking_access).await, StatusCode::OK);
    assert_eq!(refresh(&server, &asking_refresh).await, StatusCode::OK);

    // Team admins may change each other; super admins anyone, in any team.
    let (status, body) = server
        .post(
            USERS,
            Some(&asking_access),
            json!({"email": "tom@contoso.example", "password": rf_tests::PASSWORD, "role": "team_admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let tom = body["id"].as_str().unwrap().to_owned();
    let (status, body) = server
        .patch(
            &user_path(&tom),
            Some(&asking_access),
            json!({"role": "engineer"}),
        )
        .await;
    assert_eq!(
        (status, body["role"].as_str()),
        (StatusCode::OK, Some("engineer"))
    );
    let (status, body) = server
        .patch(
            &user_path(&id["eve@fabrikam.example"]),
            Some(&root),
            json!({"role": "team_admin"}),
        )
        .await;
    assert_eq!(
        (status, body["role"].as_str()),
        (StatusCode::OK, Some("team_admin"))
    );
    server.stop().await;
}

async fn a_removed_account_loses_access_at_once_and_its_records_stay(backend: Backend) {
    let server = TestServer::start(backend).await;
    let root = server.issue_token("root@msp.example").await;
    let tia = server.issue_token("tia@contoso.example").await;
    let bob = server.issue_token("bob@contoso.example").await;
    let id = ids(&server, &root).await;
    let ada_path = user_path(&id["ada@contoso.example"]);

    // Ada records a session and pushes it with a login of hers.
    let (ada_access, ada_refresh) =
        login_tokens(&server, "ada@contoso.example", rf_tests::PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut replica, _) = rf_tests::replica_with_session(dir.path());
    let batch = replica.next_push(100, 100).unwrap().unwrap();
    let (status, body) = server
        .post("/api/v1/sync/push", Some(&ada_access), &batch)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let records = [
        "SELECT COUNT(*) FROM session_events",
        "SELECT COUNT(*) FROM sessions",
        "SELECT COUNT(*) FROM devices",
        "SELECT COUNT(*) FROM flow_versions",
        "SELECT COUNT(*) FROM flows",
    ];
    let mut before = Vec::new();
    for sql in records {
        before.push(server.count(sql).await);
    }
    assert_eq!(before, [9, 1, 1, 1, 1]);

    let (status, body) = server.delete(&ada_path, Some(&tia)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(body, serde_json::Value::Null, "no body");

    // Her tokens stop working at once, and her password answers like a wrong one.
    assert_eq!(me(&server, &ada_access).await, StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .post("/api/v1/sync/push", Some(&ada_access), &batch)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh(&server, &ada_refresh).await,
        StatusCode::UNAUTHORIZED
    );
    let removed = server
        .login("ada@contoso.example", rf_tests::PASSWORD)
        .await;
    let unknown = server
        .login("nobody@contoso.example", rf_tests::PASSWORD)
        .await;
    assert_eq!(removed.0, StatusCode::UNAUTHORIZED);
    assert_eq!(removed, unknown, "a removed account is not told apart");

    // She is no longer listed; her e-mail stays taken; she cannot be changed or removed again.
    for token in [&tia, &root] {
        let (_, listed) = server.get(USERS, Some(token)).await;
        assert!(
            !listed
                .as_array()
                .unwrap()
                .iter()
                .any(|user| user["email"] == "ada@contoso.example"),
            "{listed}"
        );
    }
    let (status, body) = server
        .post(
            USERS,
            Some(&tia),
            json!({"email": "ada@contoso.example", "password": rf_tests::PASSWORD, "role": "engineer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = server.delete(&ada_path, Some(&tia)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = server
        .patch(&ada_path, Some(&root), json!({"password": NEW_PASSWORD}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = server.login("ada@contoso.example", NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Her work is the team's: every record stays, and teammates still pull it.
    let mut after = Vec::new();
    for sql in records {
        after.push(server.count(sql).await);
    }
    assert_eq!(after, before);
    let (status, page) = server.get("/api/v1/sync/pull?since=0", Some(&bob)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["events"].as_array().unwrap().len(), 9);
    server.stop().await;
}

/// A request that must be refused: token, method, path, body, status and error code.
type Refusal<'a> = (
    Option<&'a str>,
    &'a str,
    String,
    serde_json::Value,
    StatusCode,
    &'a str,
);

async fn refused_account_changes_change_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let root = server.issue_token("root@msp.example").await;
    let tia = server.issue_token("tia@contoso.example").await;
    let ada = server.issue_token("ada@contoso.example").await;
    let vic = server.issue_token("vic@contoso.example").await;
    // A super admin in Contoso's own team: above its team admin.
    let (status, body) = server
        .post(
            USERS,
            Some(&root),
            json!({"email": "boss@contoso.example", "password": rf_tests::PASSWORD, "role": "super_admin", "team": "Contoso MSP"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = ids(&server, &root).await;
    let path = |email: &str| user_path(&id[email]);
    let unknown = user_path(&uuid::Uuid::new_v4().to_string());
    let before = accounts_fingerprint(&server, &root).await;

    let valid = json!({"password": NEW_PASSWORD});
    let cases: Vec<Refusal> = vec![
        // Another team's accounts are not there for a team admin: 404, as an unknown id.
        (
            Some(tia.as_str()),
            "PATCH",
            path("eve@fabrikam.example"),
            json!({"role": "viewer"}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Some(tia.as_str()),
            "PATCH",
            path("eve@fabrikam.example"),
            valid.clone(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Some(tia.as_str()),
            "DELETE",
            path("eve@fabrikam.example"),
            json!(null),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Some(tia.as_str()),
            "PATCH",
            path("root@msp.example"),
            valid.clone(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Some(tia.as_str()),
            "PATCH",
            unknown.clone(),
            valid.clone(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Some(root.as_str()),
            "DELETE",
            unknown.clone(),
            json!(null),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        // Nobody touches an account above their role, or grants a role above their own, even
        // with a valid password beside it.
        (
            Some(tia.as_str()),
            "PATCH",
            path("boss@contoso.example"),
            json!({"role": "viewer", "password": NEW_PASSWORD}),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            Some(tia.as_str()),
            "DELETE",
            path("boss@contoso.example"),
            json!(null),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            Some(tia.as_str()),
            "PATCH",
            path("ada@contoso.example"),
            json!({"role": "super_admin", "password": NEW_PASSWORD}),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        // Nobody changes their own role or removes themselves.
        (
            Some(tia.as_str()),
            "PATCH",
            path("tia@contoso.example"),
            json!({"role": "engineer", "password": NEW_PASSWORD}),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            Some(tia.as_str()),
            "DELETE",
            path("tia@contoso.example"),
            json!(null),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            Some(root.as_str()),
            "PATCH",
            path("root@msp.example"),
            json!({"role": "team_admin"}),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            Some(root.as_str()),
            "DELETE",
            path("root@msp.example"),
            json!(null),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        // Engineers and viewers manage nobody, themselves included.
        (
            Some(ada.as_str()),
            "PATCH",
            path("bob@contoso.example"),
            json!({"role": "viewer"}),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            Some(ada.as_str()),
            "PATCH",
            path("ada@contoso.example"),
            valid.clone(),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            Some(vic.as_str()),
            "DELETE",
            path("bob@contoso.example"),
            json!(null),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        // Bad requests.
        (
            Some(tia.as_str()),
            "PATCH",
            path("ada@contoso.example"),
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            Some(tia.as_str()),
            "PATCH",
            path("ada@contoso.example"),
            json!({"role": null, "password": null}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            Some(tia.as_str()),
            "PATCH",
            path("ada@contoso.example"),
            json!({"password": "short"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            Some(tia.as_str()),
            "PATCH",
            path("ada@contoso.example"),
            json!({"role": "owner"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
        ),
        (
            Some(tia.as_str()),
            "PATCH",
            path("ada@contoso.example"),
            json!({"role": "viewer", "nickname": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
        ),
        (
            Some(tia.as_str()),
            "PATCH",
            user_path("not-a-uuid"),
            json!({"role": "viewer"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Some(tia.as_str()),
            "DELETE",
            user_path("not-a-uuid"),
            json!(null),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            None,
            "PATCH",
            path("ada@contoso.example"),
            json!({"role": "viewer"}),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            None,
            "DELETE",
            path("ada@contoso.example"),
            json!(null),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
    ];
    for (token, method, path, body, expected, code) in &cases {
        let (status, answer) = match *method {
            "PATCH" => server.patch(path, *token, body).await,
            _ => server.delete(path, *token).await,
        };
        assert_eq!(status, *expected, "{method} {path} {body}: {answer}");
        assert_error_shape(&answer, code);
    }
    assert_eq!(accounts_fingerprint(&server, &root).await, before);

    // A team admin learns nothing from another team's id: the answer is an unknown id's.
    let foreign = server
        .delete(&path("eve@fabrikam.example"), Some(&tia))
        .await;
    let missing = server.delete(&unknown, Some(&tia)).await;
    assert_eq!(foreign, missing);
    // The self rule says whom to ask.
    let (_, answer) = server
        .delete(&path("tia@contoso.example"), Some(&tia))
        .await;
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ask another admin"),
        "{answer}"
    );
    server.stop().await;
}

const OWN_PASSWORD: &str = "/api/v1/me/password";

async fn everyone_sets_their_own_password_given_the_current_one(backend: Backend) {
    let server = TestServer::start(backend).await;
    let root = server.issue_token("root@msp.example").await;
    let (asking, _) = login_tokens(&server, "ada@contoso.example", rf_tests::PASSWORD).await;
    let (laptop, laptop_refresh) =
        login_tokens(&server, "ada@contoso.example", rf_tests::PASSWORD).await;

    // A wrong current password, a short new one, or no login: refused, nothing changed.
    let before = accounts_fingerprint(&server, &root).await;
    let wrong = json!({"current_password": "not my password!", "new_password": NEW_PASSWORD});
    let (status, body) = server.post(OWN_PASSWORD, Some(&asking), &wrong).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error_shape(&body, "wrong_password");
    let short = json!({"current_password": rf_tests::PASSWORD, "new_password": "short"});
    let (status, body) = server.post(OWN_PASSWORD, Some(&asking), &short).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let good = json!({"current_password": rf_tests::PASSWORD, "new_password": NEW_PASSWORD});
    let (status, _) = server.post(OWN_PASSWORD, None, &good).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(accounts_fingerprint(&server, &root).await, before);

    // An engineer changes theirs: the old password stops working, the other login ends, the
    // asking one goes on.
    let (status, body) = server.post(OWN_PASSWORD, Some(&asking), &good).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = server
        .login("ada@contoso.example", rf_tests::PASSWORD)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    login_tokens(&server, "ada@contoso.example", NEW_PASSWORD).await;
    assert_eq!(me(&server, &asking).await, StatusCode::OK);
    assert_eq!(me(&server, &laptop).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh(&server, &laptop_refresh).await,
        StatusCode::UNAUTHORIZED
    );

    // A viewer may too; neither may change anything else about their account.
    let vic = server.token("vic@contoso.example").await;
    let (status, body) = server.post(OWN_PASSWORD, Some(&vic), &good).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let ada_id = ids(&server, &root).await["ada@contoso.example"].clone();
    let (status, body) = server
        .patch(
            &user_path(&ada_id),
            Some(&asking),
            &json!({"role": "team_admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    server.stop().await;
}

on_every_backend!(
    team_admins_manage_their_own_team_only,
    admins_change_roles_and_a_new_password_ends_every_login,
    a_removed_account_loses_access_at_once_and_its_records_stay,
    refused_account_changes_change_nothing,
    everyone_sets_their_own_password_given_the_current_one,
);
