//! Harness for cross-process tests: a sync server on 127.0.0.1:0 with a few accounts, and an
//! HTTP client that speaks to it as a replica would.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test harness: failures should be loud.

use reqwest::StatusCode;
use rf_sync_server::auth::hash_password;
use rf_sync_server::store::NewUser;
use rf_sync_server::{ApiConfig, AppState, Role, SqliteStore, Store, serve};
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery staple";

/// The accounts every test server has: two teams, every role.
pub const ACCOUNTS: &[(&str, &str, Role)] = &[
    ("ada@contoso.example", "Contoso MSP", Role::Engineer),
    ("bob@contoso.example", "Contoso MSP", Role::Engineer),
    ("vic@contoso.example", "Contoso MSP", Role::Viewer),
    ("eve@fabrikam.example", "Fabrikam IT", Role::Engineer),
];

#[derive(Debug)]
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    _data: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let data = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(data.path()).unwrap();
        for (email, team, role) in ACCOUNTS {
            let password_hash = hash_password(PASSWORD).unwrap();
            let user = NewUser {
                email: (*email).into(),
                team: (*team).into(),
                role: *role,
                password_hash,
            };
            store.create_user(user).await.unwrap();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            listener,
            AppState::new(store, ApiConfig::default()),
            async {
                let _ = stopped.await;
            },
        ));
        TestServer {
            base,
            client: reqwest::Client::new(),
            _data: data,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// An access token for one of [`ACCOUNTS`].
    pub async fn token(&self, email: &str) -> String {
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                None,
                &json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &impl serde::Serialize,
    ) -> (StatusCode, Value) {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A number read straight from the server's database (a second, read-only connection).
    pub fn count(&self, sql: &str) -> i64 {
        let path = self._data.path().join(rf_sync_server::store::SQLITE_FILE);
        let connection = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        connection.query_row(sql, [], |row| row.get(0)).unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}
