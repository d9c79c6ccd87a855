//! Accounts and tokens over real HTTP on 127.0.0.1:0: one contract, run against the SQLite and
//! the PostgreSQL back ends (`RF_TEST_DATABASE_URL`, set by ./dev test). And the
//! `rf-sync-server user` commands as an administrator runs them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use rf_sync_server::auth::hash_password;
use rf_sync_server::store::NewUser;
use rf_sync_server::{ApiConfig, AppState, PostgresStore, Role, SqliteStore, Store, serve};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

struct Server {
    base: String,
    client: reqwest::Client,
    _data: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A new, empty database on the test PostgreSQL server, for one test.
async fn fresh_postgres_database() -> String {
    let admin = std::env::var("RF_TEST_DATABASE_URL").expect(
        "RF_TEST_DATABASE_URL is not set: run the tests with ./dev test, which starts PostgreSQL",
    );
    let name = format!("rf_test_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(&admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (server, _) = admin.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

async fn seed(store: &impl Store) {
    for (email, team, role) in [
        ("ada@contoso.example", "Contoso MSP", Role::Engineer),
        ("viv@fabrikam.example", "Fabrikam IT", Role::Viewer),
    ] {
        let password_hash = hash_password(PASSWORD).unwrap();
        store
            .create_user(NewUser {
                email: email.into(),
                team: team.into(),
                role,
                password_hash,
            })
            .await
            .unwrap();
    }
}

impl Server {
    async fn start(backend: Backend, config: ApiConfig) -> Server {
        let data = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let task = match backend {
            Backend::Sqlite => {
                let store = SqliteStore::open(data.path()).unwrap();
                seed(&store).await;
                tokio::spawn(serve(listener, AppState::new(store, config), shutdown))
            }
            Backend::Postgres => {
                let store = PostgresStore::connect(&fresh_postgres_database().await)
                    .await
                    .unwrap();
                seed(&store).await;
                tokio::spawn(serve(listener, AppState::new(store, config), shutdown))
            }
        };
        Server {
            base,
            client: reqwest::Client::new(),
            _data: data,
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/api/v1/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

fn assert_error_shape(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty()),
        "{body}"
    );
}

async fn login_gives_tokens_that_identify_the_user(backend: Backend) {
    let server = Server::start(backend, ApiConfig::default()).await;
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
    let server = Server::start(backend, ApiConfig::default()).await;
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
        .post("/api/v1/auth/login", json!({"email": "a@b.c"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error_shape(&body, "bad_request");
    let (status, body) = server.get("/api/v2/anything", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body, "not_found");
    server.stop().await;
}

async fn refresh_tokens_rotate_and_a_replayed_one_ends_the_login(backend: Backend) {
    let server = Server::start(backend, ApiConfig::default()).await;
    let (_, first) = server.login("ada@contoso.example", PASSWORD).await;
    let (status, second) = server
        .post(
            "/api/v1/auth/refresh",
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
    let server = Server::start(backend, config).await;
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
        login_max_failures: 3,
        ..ApiConfig::default()
    };
    let server = Server::start(backend, config).await;
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
    assert!(retry_after > 0 && retry_after <= 300);
    assert_error_shape(&response.json().await.unwrap(), "too_many_attempts");
    // Other accounts are unaffected.
    let (status, _) = server.login("ada@contoso.example", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

async fn oversized_bodies_are_refused(backend: Backend) {
    let server = Server::start(backend, ApiConfig::default()).await;
    let huge = "x".repeat(rf_sync_server::api::MAX_BODY_BYTES + 1);
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

#[test]
fn administrators_add_and_list_users_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str], password: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rf-sync-server"));
        command
            .arg("--data-dir")
            .arg(data.path())
            .args(args)
            .env("RF_LOG", "warn");
        match password {
            Some(password) => command.env("RF_PASSWORD", password),
            None => command.env_remove("RF_PASSWORD"),
        };
        command.output().unwrap()
    };
    let added = run(
        &[
            "user",
            "add",
            "--email",
            "lead@contoso.example",
            "--team",
            "Contoso MSP",
            "--role",
            "team_admin",
        ],
        Some(PASSWORD),
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let twice = run(
        &[
            "user",
            "add",
            "--email",
            "LEAD@contoso.example",
            "--team",
            "Contoso MSP",
            "--role",
            "engineer",
        ],
        Some(PASSWORD),
    );
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already exists"));
    let weak = run(
        &[
            "user",
            "add",
            "--email",
            "new@contoso.example",
            "--team",
            "Contoso MSP",
            "--role",
            "viewer",
        ],
        Some("short"),
    );
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 12 characters"));
    let bad_role = run(
        &[
            "user",
            "add",
            "--email",
            "x@contoso.example",
            "--team",
            "T",
            "--role",
            "god",
        ],
        Some(PASSWORD),
    );
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("unknown role"));
    let no_password = run(
        &[
            "user",
            "add",
            "--email",
            "y@contoso.example",
            "--team",
            "T",
            "--role",
            "viewer",
        ],
        None,
    );
    assert!(
        !no_password.status.success(),
        "no RF_PASSWORD and no terminal: refused"
    );
    let listed = run(&["user", "list", "--json"], None);
    let users: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(
        (users[0]["email"].as_str(), users[0]["role"].as_str()),
        (Some("lead@contoso.example"), Some("team_admin"))
    );
}

/// Every contract case, once per back end.
macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $case() {
                super::$case(super::Backend::Sqlite).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $case() {
                super::$case(super::Backend::Postgres).await;
            })*
        }
    };
}

on_every_backend!(
    login_gives_tokens_that_identify_the_user,
    wrong_credentials_and_missing_tokens_get_the_error_shape,
    refresh_tokens_rotate_and_a_replayed_one_ends_the_login,
    access_tokens_expire,
    repeated_failed_logins_are_slowed_down,
    oversized_bodies_are_refused
);
