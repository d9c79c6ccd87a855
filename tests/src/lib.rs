//! Harness for cross-process tests: a sync server on 127.0.0.1:0 with a few accounts, and an
//! HTTP client that speaks to it as a replica would.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test harness: failures should be loud.

pub mod device;
pub mod proxy;
pub mod vendors;

use reqwest::StatusCode;
use rf_sync_server::domain::users::NewUser;
use rf_sync_server::rules::auth::hash_password;
use rf_sync_server::{
    ApiConfig, AppState, Attachments, PostgresStore, Role, SqliteStore, Store, serve,
};
use serde_json::{Value, json};

#[derive(Debug)]
enum Database {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

pub const PASSWORD: &str = "correct horse battery staple";

/// The accounts every test server has: two teams, every role.
pub const ACCOUNTS: &[(&str, &str, Role)] = &[
    ("ada@contoso.example", "Contoso MSP", Role::Engineer),
    ("bob@contoso.example", "Contoso MSP", Role::Engineer),
    ("vic@contoso.example", "Contoso MSP", Role::Viewer),
    ("eve@fabrikam.example", "Fabrikam IT", Role::Engineer),
    ("viv@fabrikam.example", "Fabrikam IT", Role::Viewer),
    ("tia@contoso.example", "Contoso MSP", Role::TeamAdmin),
    ("root@msp.example", "MSP operators", Role::SuperAdmin),
];

/// Asserts the one JSON error shape, `{"error": {"code", "message"}}`, with this code.
pub fn assert_error_shape(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty()),
        "{body}"
    );
}

/// Which store the server runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// PostgreSQL, with attachments in a fresh prefix of the test bucket (`RF_TEST_S3_URL`,
    /// a local S3 server that ./dev test starts): how servers that scale out run.
    PostgresAndBucket,
}

/// The test bucket (`RF_TEST_S3_URL`, `s3://bucket`), or `None` after printing why the test
/// calling this is skipped. ./dev test always sets it.
pub fn test_bucket(test: &str) -> Option<String> {
    use std::io::Write;
    match std::env::var("RF_TEST_S3_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            // Straight to stderr, past the test harness's capture, so the skip is seen.
            let _ = writeln!(
                std::io::stderr().lock(),
                "skipped {test}: RF_TEST_S3_URL is not set, so there is no S3 server to store \
                 attachments in; ./dev test starts one (moto) and sets it with the AWS_* variables"
            );
            None
        }
    }
}

/// A new, empty prefix of the test bucket, as an `--attachments-url`.
pub fn fresh_bucket_prefix() -> String {
    let bucket = std::env::var("RF_TEST_S3_URL").expect(
        "RF_TEST_S3_URL is not set: run the tests with ./dev test, which starts an S3 server",
    );
    format!(
        "{}/rf-test-{}",
        bucket.trim_end_matches('/'),
        uuid::Uuid::new_v4().simple()
    )
}

/// Every key under `url` (`s3://bucket/prefix`), read straight from the bucket with the AWS_*
/// variables: what any reader of the bucket can see.
pub async fn bucket_keys(url: &str) -> Vec<String> {
    use futures_util::TryStreamExt;
    use object_store::ObjectStore;
    let (bucket, prefix) = url.strip_prefix("s3://").unwrap().split_once('/').unwrap();
    let store = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .build()
        .unwrap();
    let prefix = object_store::path::Path::from(prefix);
    let mut keys: Vec<String> = store
        .list(Some(&prefix))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

/// A new, empty database on the test PostgreSQL server (`RF_TEST_DATABASE_URL`, started by
/// ./dev test), for one test.
/// Copies every file under `from` into `to` (which exists), keeping each file's mode: a data
/// directory as a backup or a second machine would hold it.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Empties `dir` and fills it with a copy of `from`: a data directory restored from a backup.
pub fn restore_dir(from: &std::path::Path, dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    copy_dir(from, dir);
}

/// A copy of a test server's database (see [`TestServer::backup`]).
#[derive(Debug)]
pub enum ServerBackup {
    Sqlite(tempfile::TempDir),
    /// The schema of the same database that holds the copied tables.
    Postgres(String),
}

/// The tables of the public schema (the server's).
async fn postgres_tables(transaction: &mut sqlx::PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name",
    )
    .fetch_all(transaction)
    .await
    .unwrap()
}

pub async fn fresh_postgres_database() -> String {
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

/// One argon2 hash of [`PASSWORD`] for every seeded account: hashing is deliberately slow, and
/// the simulation starts hundreds of servers.
static PASSWORD_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password(PASSWORD).unwrap());

/// Adds the test accounts ([`ACCOUNTS`], password [`PASSWORD`]) to a fresh store.
pub async fn seed_accounts(store: &impl Store) {
    seed(store).await;
}

async fn seed(store: &impl Store) {
    for (email, team, role) in ACCOUNTS {
        let password_hash = PASSWORD_HASH.clone();
        let user = NewUser {
            email: (*email).into(),
            team: (*team).into(),
            role: *role,
            password_hash,
        };
        store.create_user(user).await.unwrap();
    }
}

/// The running store, kept so the server can be stopped and started again on the same data.
#[derive(Debug, Clone)]
enum Running {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

/// Sends a request, with the bearer token if there is one: the status and the JSON body
/// (`Null` when there is none).
async fn answer(request: reqwest::RequestBuilder, token: Option<&str>) -> (StatusCode, Value) {
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[derive(Debug)]
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    database: Database,
    running: Running,
    config: ApiConfig,
    /// The bucket prefix its attachments go to, if not a directory.
    bucket: Option<String>,
    data: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        TestServer::start_with(backend, ApiConfig::default()).await
    }

    pub async fn start_with(backend: Backend, mut config: ApiConfig) -> TestServer {
        let data = tempfile::tempdir().unwrap();
        let bucket = match backend {
            Backend::PostgresAndBucket => Some(fresh_bucket_prefix()),
            Backend::Sqlite | Backend::Postgres => None,
        };
        config.attachments = match &bucket {
            Some(url) => Attachments::in_bucket(url).await.unwrap(),
            None => Attachments::in_directory(data.path().join("attachments")),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let (running, database) = match backend {
            Backend::Sqlite => {
                let store = SqliteStore::open(data.path()).unwrap();
                seed(&store).await;
                (
                    Running::Sqlite(store),
                    Database::Sqlite(
                        data.path()
                            .join(rf_sync_server::storage::sqlite::SQLITE_FILE),
                    ),
                )
            }
            Backend::Postgres | Backend::PostgresAndBucket => {
                let url = fresh_postgres_database().await;
                let store = PostgresStore::connect(&url).await.unwrap();
                seed(&store).await;
                (Running::Postgres(store), Database::Postgres(url))
            }
        };
        let task = spawn_server(&running, listener, config.clone(), shutdown);
        TestServer {
            base,
            client: reqwest::Client::new(),
            database,
            running,
            config,
            bucket,
            data,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Where this server keeps attachments when it uses the test bucket (`s3://bucket/prefix`).
    pub fn bucket(&self) -> Option<&str> {
        self.bucket.as_deref()
    }

    /// The directory its attachments go to, if not a bucket.
    pub fn attachments_dir(&self) -> Option<std::path::PathBuf> {
        self.bucket
            .is_none()
            .then(|| self.data.path().join("attachments"))
    }

    /// Another server on the same PostgreSQL database, as several stateless servers behind a
    /// load balancer run: its own store, connection pool and poke listener, so what one hears
    /// of the other's changes comes through PostgreSQL (`NOTIFY`).
    pub async fn beside(&self) -> TestServer {
        let Database::Postgres(url) = &self.database else {
            panic!("only servers on PostgreSQL share a database");
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = Running::Postgres(PostgresStore::connect(url).await.unwrap());
        let shutdown = async {
            let _ = stopped.await;
        };
        // The same directory, or the same bucket through a client of its own.
        let mut config = self.config.clone();
        if let Some(bucket) = &self.bucket {
            config.attachments = Attachments::in_bucket(bucket).await.unwrap();
        }
        let task = spawn_server(&running, listener, config.clone(), shutdown);
        TestServer {
            base,
            client: reqwest::Client::new(),
            database: Database::Postgres(url.clone()),
            running,
            config,
            bucket: self.bucket.clone(),
            data: tempfile::tempdir().unwrap(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops serving (in-flight requests finish); the data stays for [`TestServer::resume`].
    pub async fn pause(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    /// A process restart: stops serving (in-flight requests finish), drops the store and opens
    /// a new one on the same data (the SQLite file in the data directory, or the same
    /// PostgreSQL database), then serves again on the same address. Unlike
    /// [`TestServer::pause`] and [`TestServer::resume`], which keep the same store object,
    /// nothing held in memory survives.
    pub async fn restart(&mut self) {
        self.pause().await;
        let reopened = match &self.database {
            Database::Sqlite(_) => Running::Sqlite(SqliteStore::open(self.data.path()).unwrap()),
            Database::Postgres(url) => {
                Running::Postgres(PostgresStore::connect(url).await.unwrap())
            }
        };
        drop(std::mem::replace(&mut self.running, reopened));
        self.resume().await;
    }

    /// A backup of the server's database as it is now, taken while it serves (SQLite's
    /// `VACUUM INTO`; on PostgreSQL a copy of every table in a schema of its own).
    pub async fn backup(&self) -> ServerBackup {
        match &self.database {
            Database::Sqlite(path) => {
                let dir = tempfile::tempdir().unwrap();
                let copy = dir.path().join("backup.sqlite3");
                let connection = rusqlite::Connection::open(path).unwrap();
                connection
                    .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
                    .unwrap();
                ServerBackup::Sqlite(dir)
            }
            Database::Postgres(url) => {
                let schema = format!("rf_backup_{}", uuid::Uuid::new_v4().simple());
                let pool = sqlx::PgPool::connect(url).await.unwrap();
                let mut transaction = pool.begin().await.unwrap();
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    .execute(&mut *transaction)
                    .await
                    .unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&mut *transaction)
                    .await
                    .unwrap();
                for table in postgres_tables(&mut transaction).await {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "CREATE TABLE {schema}.{table} AS SELECT * FROM public.{table}"
                    )))
                    .execute(&mut *transaction)
                    .await
                    .unwrap();
                }
                transaction.commit().await.unwrap();
                pool.close().await;
                ServerBackup::Postgres(schema)
            }
        }
    }

    /// The server restored from `backup`: stopped, its database put back as the backup holds
    /// it (everything since is gone), and started again on the same address. Attachment files
    /// stay as they are.
    pub async fn restore(&mut self, backup: &ServerBackup) {
        self.pause().await;
        match (&self.database, backup) {
            (Database::Sqlite(path), ServerBackup::Sqlite(dir)) => {
                // The store lets go of the file before it is replaced.
                let elsewhere = tempfile::tempdir().unwrap();
                drop(std::mem::replace(
                    &mut self.running,
                    Running::Sqlite(SqliteStore::open(elsewhere.path()).unwrap()),
                ));
                for suffix in ["-wal", "-shm"] {
                    let mut side = path.clone().into_os_string();
                    side.push(suffix);
                    let _ = std::fs::remove_file(side);
                }
                std::fs::copy(dir.path().join("backup.sqlite3"), path).unwrap();
            }
            (Database::Postgres(url), ServerBackup::Postgres(schema)) => {
                let pool = sqlx::PgPool::connect(url).await.unwrap();
                let mut transaction = pool.begin().await.unwrap();
                // Foreign keys are not checked while the tables are refilled in any order.
                sqlx::query("SET LOCAL session_replication_role = replica")
                    .execute(&mut *transaction)
                    .await
                    .unwrap();
                for table in postgres_tables(&mut transaction).await {
                    for statement in [
                        format!("DELETE FROM public.{table}"),
                        format!("INSERT INTO public.{table} SELECT * FROM {schema}.{table}"),
                    ] {
                        sqlx::query(sqlx::AssertSqlSafe(statement))
                            .execute(&mut *transaction)
                            .await
                            .unwrap();
                    }
                }
                transaction.commit().await.unwrap();
                pool.close().await;
            }
            _ => panic!("a backup is restored to the back end it was taken from"),
        }
        self.restart().await;
        // As the operator does after a restore (`rf-sync-server new-epoch`).
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        match &self.running {
            Running::Sqlite(store) => store.new_epoch(now).await.unwrap(),
            Running::Postgres(store) => store.new_epoch(now).await.unwrap(),
        };
    }

    /// Serves again on the same address and data.
    pub async fn resume(&mut self) {
        let address = self.base.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind(&address).await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        self.task = Some(spawn_server(
            &self.running,
            listener,
            self.config.clone(),
            shutdown,
        ));
        self.stop = Some(stop);
    }

    /// An access token for one of [`ACCOUNTS`] issued straight by the store (no password check,
    /// so no argon2): for tests that start many servers. The token is as real as a login's.
    pub async fn issue_token(&self, email: &str) -> String {
        self.issue_login(email).await.0
    }

    /// A login for one of [`ACCOUNTS`] issued straight by the store, as [`TestServer::issue_token`]:
    /// its access token (valid for an hour) and its refresh token.
    pub async fn issue_login(&self, email: &str) -> (String, String) {
        use rf_sync_server::domain::users::IssuedTokens;
        use rf_sync_server::rules::auth::{new_token, token_hash};
        let access = new_token("rfa_");
        let refresh = new_token("rfr_");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let issued = IssuedTokens {
            access_hash: token_hash(&access),
            access_expires_at: now + 3600,
            refresh_hash: token_hash(&refresh),
            refresh_expires_at: now + 86_400,
        };
        match &self.running {
            Running::Sqlite(store) => {
                let (user, hash) = store.credentials(email.into()).await.unwrap().unwrap();
                assert!(
                    store
                        .create_login(user.id, hash, issued, now)
                        .await
                        .unwrap()
                );
            }
            Running::Postgres(store) => {
                let (user, hash) = store.credentials(email.into()).await.unwrap().unwrap();
                assert!(
                    store
                        .create_login(user.id, hash, issued, now)
                        .await
                        .unwrap()
                );
            }
        }
        (access, refresh)
    }

    /// A number read straight from the server's database, for a query built at run time.
    pub async fn count_query(&self, sql: String) -> i64 {
        match &self.database {
            Database::Sqlite(path) => {
                let connection = rusqlite::Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .unwrap();
                connection.query_row(&sql, [], |row| row.get(0)).unwrap()
            }
            Database::Postgres(url) => {
                let pool = sqlx::PgPool::connect(url).await.unwrap();
                let value: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                value
            }
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
        body: impl serde::Serialize,
    ) -> (StatusCode, Value) {
        let request = self.client.post(format!("{}{path}", self.base)).json(&body);
        answer(request, token).await
    }

    pub async fn put(
        &self,
        path: &str,
        token: Option<&str>,
        body: impl serde::Serialize,
    ) -> (StatusCode, Value) {
        let request = self.client.put(format!("{}{path}", self.base)).json(&body);
        answer(request, token).await
    }

    pub async fn patch(
        &self,
        path: &str,
        token: Option<&str>,
        body: impl serde::Serialize,
    ) -> (StatusCode, Value) {
        let request = self
            .client
            .patch(format!("{}{path}", self.base))
            .json(&body);
        answer(request, token).await
    }

    /// A DELETE; the body is `Null` when there is none (204).
    pub async fn delete(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        answer(self.client.delete(format!("{}{path}", self.base)), token).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        answer(self.client.get(format!("{}{path}", self.base)), token).await
    }

    pub async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// A number read straight from the server's database, whichever back end it runs on.
    pub async fn count(&self, sql: &'static str) -> i64 {
        match &self.database {
            Database::Sqlite(path) => {
                let connection = rusqlite::Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .unwrap();
                connection.query_row(sql, [], |row| row.get(0)).unwrap()
            }
            Database::Postgres(url) => {
                let pool = sqlx::PgPool::connect(url).await.unwrap();
                let value: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
                pool.close().await;
                value
            }
        }
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

fn spawn_server(
    running: &Running,
    listener: tokio::net::TcpListener,
    config: ApiConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    match running.clone() {
        Running::Sqlite(store) => {
            tokio::spawn(serve(listener, AppState::new(store, config), shutdown))
        }
        Running::Postgres(store) => {
            tokio::spawn(serve(listener, AppState::new(store, config), shutdown))
        }
    }
}

/// Defines each listed `async fn case(backend: Backend)` as three tests, `sqlite::case`,
/// `postgres::case` and `bucket::case` (PostgreSQL with attachments in the test bucket,
/// skipped with a printed reason when `RF_TEST_S3_URL` is unset): for the tests of what the
/// attachment store keeps.
#[macro_export]
macro_rules! on_every_store {
    ($($case:ident),* $(,)?) => {
        $crate::on_every_backend!($($case),*);
        mod bucket {
            $(#[tokio::test]
            async fn $case() {
                if $crate::test_bucket(concat!("bucket::", stringify!($case))).is_none() {
                    return;
                }
                super::$case($crate::Backend::PostgresAndBucket).await;
            })*
        }
    };
}

/// Defines each listed `async fn case(backend: Backend)` as two tests, `sqlite::case` and
/// `postgres::case`: one contract, every back end.
#[macro_export]
macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $case() {
                super::$case($crate::Backend::Sqlite).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $case() {
                super::$case($crate::Backend::Postgres).await;
            })*
        }
    };
}

/// The small printer flow the push and account tests record sessions on.
pub fn printer_flow() -> rf_core::Flow {
    rf_core::Flow::parse(
        r#"{"format": "resolutionflow/v1", "id": "3f1a2b3c-4d5e-4f60-8a71-92b3c4d5e6f7",
            "kind": "troubleshooting", "title": "Printer offline", "start": "ping",
            "nodes": [
              {"id": "ping", "type": "question", "title": "Does the printer answer ping?",
               "answers": [{"label": "Yes", "next": "ok"}, {"label": "No", "next": "power"}]},
              {"id": "power", "type": "action", "title": "Check power and cabling", "next": "ping"},
              {"id": "ok", "type": "resolution", "title": "Printer back", "outcome": "resolved"}
            ]}"#,
    )
    .unwrap()
}

/// A replica with one finished session: start 2, three answers 2 each, finish 1 = 9 events;
/// and one flow mutation.
pub fn replica_with_session(dir: &std::path::Path) -> (rf_replica::Replica, uuid::Uuid) {
    use rf_core::session::{Choice, Command, StartRequest};
    let mut replica = rf_replica::Replica::open(dir).unwrap();
    let flow_id = replica
        .import_flow(printer_flow(), rf_replica::WriteSource::Import)
        .unwrap()
        .flow_id;
    let request = StartRequest {
        ticket: "CW-1".into(),
        client: "Contoso".into(),
        engineer: "ada".into(),
        ..StartRequest::default()
    };
    let session = replica.start_session(flow_id, request).unwrap().id;
    for choice in ["no", "done", "yes"] {
        replica
            .run_command(
                session,
                Command::Answer {
                    choice: Choice::parse(choice),
                },
            )
            .unwrap();
    }
    replica
        .run_command(
            session,
            Command::Finish {
                outcome: rf_core::Outcome::Resolved,
                summary: None,
                next_steps: None,
            },
        )
        .unwrap();
    (replica, session)
}

/// Everything a user can see on a replica, and what is still pending.
///
/// Most of it must be identical on every replica of a team once they have all synced: flow
/// heads (as shown, and the team's head with its number), versions, session logs and
/// projections, path statistics, conflicts with their resolution, events pulled and still
/// waiting for their session (`stashed`), and what was set aside. [`Fingerprint::team`] is that
/// part. Pins are the user's own (the same on each of their devices, [`Fingerprint::user`]),
/// and rejected mutations and refused events belong to the device that wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub heads: std::collections::BTreeSet<String>,
    pub versions: std::collections::BTreeSet<String>,
    pub events: std::collections::BTreeSet<String>,
    pub sessions: std::collections::BTreeSet<String>,
    pub conflicts: std::collections::BTreeSet<String>,
    /// Each flow's team head and the team number it was read at (`flows.team_head`).
    pub team_heads: std::collections::BTreeSet<String>,
    /// Path statistics per flow, node and answer.
    pub path_stats: std::collections::BTreeSet<String>,
    /// Other devices' events pulled and held until their session is complete up to them.
    pub stashed: std::collections::BTreeSet<String>,
    /// What this replica pulled and could not use, with the reason.
    pub set_aside: std::collections::BTreeSet<String>,
    /// The user's pins, in order.
    pub pins: std::collections::BTreeSet<String>,
    /// Team records (batches, target lists, schedules) with their bodies.
    pub records: std::collections::BTreeSet<String>,
    /// This device's mutations the server refused for good, with the reason.
    pub rejected: std::collections::BTreeSet<String>,
    /// The versions of this device's refused edits that no session runs: kept here (versions
    /// are never deleted), never sent to the team.
    pub refused_versions: std::collections::BTreeSet<String>,
    /// This device's events the server refused, with the reason.
    pub refused: std::collections::BTreeSet<String>,
    pub pending: u64,
}

impl Fingerprint {
    /// What every replica of the team must agree on: without pins (the user's own), rejected
    /// mutations, their versions and refused events (the device's own).
    pub fn team(&self) -> Fingerprint {
        Fingerprint {
            pins: Default::default(),
            ..self.user()
        }
    }

    /// What every device of one user must agree on: without the device's own rejected
    /// mutations, their versions and refused events.
    pub fn user(&self) -> Fingerprint {
        Fingerprint {
            rejected: Default::default(),
            refused_versions: Default::default(),
            refused: Default::default(),
            ..self.clone()
        }
    }

    /// The rows of each part that differ between `self` and `other`, for a failure message.
    pub fn differences(&self, other: &Fingerprint) -> String {
        let parts = [
            ("heads", &self.heads, &other.heads),
            ("versions", &self.versions, &other.versions),
            ("events", &self.events, &other.events),
            ("sessions", &self.sessions, &other.sessions),
            ("conflicts", &self.conflicts, &other.conflicts),
            ("team heads", &self.team_heads, &other.team_heads),
            ("path statistics", &self.path_stats, &other.path_stats),
            ("stashed events", &self.stashed, &other.stashed),
            ("set aside", &self.set_aside, &other.set_aside),
            ("pins", &self.pins, &other.pins),
            ("team records", &self.records, &other.records),
            ("rejected mutations", &self.rejected, &other.rejected),
            (
                "versions of refused edits",
                &self.refused_versions,
                &other.refused_versions,
            ),
            ("refused events", &self.refused, &other.refused),
        ];
        let mut text = format!("pending {} vs {}", self.pending, other.pending);
        for (name, mine, theirs) in parts {
            let shorten = |row: &String| row.chars().take(200).collect::<String>();
            let only_mine: Vec<_> = mine.difference(theirs).map(shorten).collect();
            let only_theirs: Vec<_> = theirs.difference(mine).map(shorten).collect();
            if !only_mine.is_empty() || !only_theirs.is_empty() {
                text.push_str(&format!(
                    "\n{name}: only on the first: {only_mine:#?}\n  only on the second: {only_theirs:#?}"
                ));
            }
        }
        text
    }
}

/// A flow version (`v`) that only this device holds: the version of an edit the server refused
/// for good (kept here, as every version is), which no session event runs.
const REFUSED_HERE: &str =
    "v.content_hash IN (SELECT json_extract(payload, '$.version') FROM outbox_rejected
                        WHERE json_extract(payload, '$.version') IS NOT NULL)
     AND NOT EXISTS (SELECT 1 FROM session_events e WHERE instr(e.payload, v.content_hash) > 0)";

pub fn fingerprint(replica: &rf_replica::Replica) -> Fingerprint {
    let connection = replica.connection();
    let rows = |sql: &str| -> std::collections::BTreeSet<String> {
        let mut statement = connection.prepare(sql).unwrap();
        statement
            .query_map([], |row| row.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    Fingerprint {
        heads: rows(
            "SELECT f.id || ' ' || v.content_hash || ' ' || f.title FROM flows f
             JOIN flow_versions v ON v.flow_id = f.id AND v.version = f.latest_version",
        ),
        versions: rows(&format!(
            "SELECT flow_id || ' ' || content_hash FROM flow_versions v WHERE NOT ({REFUSED_HERE})"
        )),
        refused_versions: rows(&format!(
            "SELECT flow_id || ' ' || content_hash FROM flow_versions v WHERE {REFUSED_HERE}"
        )),
        events: rows(
            "SELECT device_id || ' ' || device_seq || ' ' || session_id || ' ' || session_seq || ' ' || payload
             FROM session_events",
        ),
        sessions: rows(
            "SELECT id || ' ' || status || ' ' || COALESCE(outcome, '') || ' ' || event_count
                    || ' ' || COALESCE(batch_id, '-') || ' ' || COALESCE(target, '-') FROM sessions",
        ),
        // The resolution last, so `ends_with("open")` tells an open conflict.
        conflicts: rows(
            "SELECT id || ' ' || flow_id || ' ' || path || ' base=' || COALESCE(base, '-')
                    || ' kept=' || COALESCE(kept, '-') || ' other=' || COALESCE(other, '-')
                    || ' ' || kept_version || ' ' || other_version || ' ' || raised_by
                    || ' ' || team_seq || ' ' || COALESCE(resolution, 'open')
             FROM conflicts",
        ),
        team_heads: rows(
            "SELECT id || ' ' || COALESCE(team_head, '-') || ' ' || team_head_seq FROM flows",
        ),
        path_stats: rows(
            "SELECT 'flow ' || flow_id || ' ' || sessions || ' ' || resolved FROM path_stats_flows
             UNION ALL
             SELECT 'node ' || flow_id || ' ' || node_id || ' ' || reached || ' ' || answered
                    || ' ' || resolved FROM path_stats_nodes
             UNION ALL
             SELECT 'answer ' || flow_id || ' ' || node_id || ' ' || label || ' ' || chosen
                    || ' ' || resolved FROM path_stats_answers",
        ),
        stashed: rows(
            "SELECT device_id || ' ' || device_seq || ' ' || session_id || ' ' || session_seq
                    || ' ' || payload FROM pulled_events",
        ),
        set_aside: rows(
            "SELECT kind || ' ' || item || ' ' || COALESCE(team_seq, '-') || ' ' || reason
                    || ' ' || COALESCE(payload, '-') FROM set_aside",
        ),
        pins: rows("SELECT position || ' ' || flow_id FROM pins"),
        records: rows("SELECT kind || ' ' || id || ' ' || COALESCE(body, '-') FROM team_records"),
        rejected: rows(
            "SELECT mutation_id || ' ' || entity || ' ' || entity_id || ' ' || operation
                    || ' ' || reason FROM outbox_rejected",
        ),
        refused: rows(
            "SELECT device_seq || ' ' || session_id || ' ' || reason FROM refused_events",
        ),
        pending: replica.sync_backlog().unwrap().pending(),
    }
}
