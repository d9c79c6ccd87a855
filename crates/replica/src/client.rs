//! The sync client: logs in, keeps the tokens in a [`TokenStore`], and runs sync rounds (push
//! the outbox and event log in batches, then pull the team's changes page by page, or, into an
//! empty replica, as one streamed snapshot) over HTTP.
//! Every decision about what a message means is in `push.rs` and `pull.rs`; this only moves
//! messages, retries what failed in transit (backing off with jitter, honouring
//! `Retry-After`), and refreshes tokens.

use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ReplicaError, Result};
use crate::tokens::{Credentials, TokenStore};
use crate::{PullReport, Replica};

/// Outbox mutations and events per push request (the server takes up to 1,000 and 5,000).
pub const PUSH_MUTATIONS: usize = 500;
pub const PUSH_EVENTS: usize = 2_000;
/// Team changes per pull page.
pub const PULL_LIMIT: i64 = 5_000;

/// How a client retries what failed in transit.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Attempts per request, the first included.
    pub attempts: u32,
    /// First backoff; doubled each retry, with full jitter.
    pub backoff: Duration,
    /// Longest wait, whatever `Retry-After` asks.
    pub max_wait: Duration,
    pub timeout: Duration,
    /// Outbox mutations and session events per push request.
    pub push_mutations: usize,
    pub push_events: usize,
    /// Team changes per pull page.
    pub pull_limit: i64,
    /// An empty replica's first pull asks for the team's snapshot (one streamed answer)
    /// rather than paging; either way it ends in the same state.
    pub snapshot: bool,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            attempts: 4,
            backoff: Duration::from_millis(250),
            max_wait: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
            push_mutations: PUSH_MUTATIONS,
            push_events: PUSH_EVENTS,
            pull_limit: PULL_LIMIT,
            snapshot: true,
        }
    }
}

impl ClientOptions {
    /// How long to wait before retry number `attempt` (0 first): exponential backoff from
    /// `backoff`, capped at `max_wait`, with full jitter so clients that failed together do not
    /// come back together.
    pub fn backoff_delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .backoff
            .saturating_mul(1 << attempt.min(16))
            .min(self.max_wait);
        rand::rng().random_range(Duration::ZERO..=ceiling)
    }
}

/// What one sync round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub mutations_applied: usize,
    pub mutations_rejected: usize,
    pub events_acknowledged: usize,
    pub pulled: PullReport,
    pub pages: usize,
    /// Of `pages`, those that came in the snapshot stream of a first sync.
    pub snapshot_pages: usize,
    /// Attachment files sent to the team, and fetched from it.
    pub attachments_uploaded: usize,
    pub attachments_downloaded: usize,
    /// Attachments of pulled sessions the server does not have yet (their device has not
    /// uploaded them); fetched in a later round.
    pub attachments_waiting: usize,
    /// Attachments the server will never give as named (set aside; `rf status` counts them).
    pub attachments_set_aside: usize,
    /// Still waiting to go up after the round (0 when everything was acknowledged).
    pub pending: u64,
    /// Unresolved conflicts of the team.
    pub conflicts: usize,
    /// The server's change numbers went back below this replica's (it was restored from an
    /// older backup); this replica pulled from there and queued its events to send again.
    pub server_went_back: bool,
    /// Event kinds this device wrote that the server does not know yet: those events stay
    /// queued here until the server is updated.
    pub kinds_the_server_lacks: Vec<String>,
    /// This replica took a new device identity this round (another copy of it had used its
    /// numbers); its work went up under the new one.
    pub new_identity: Option<crate::IdentityChange>,
    /// Notes for ConnectWise tickets delivered after the round: posted (or found already
    /// posted under their key), refused for good, and still waiting (`rf session posts`).
    pub posts_posted: usize,
    pub posts_failed: usize,
    pub posts_waiting: usize,
}

impl SyncReport {
    fn add_page(&mut self, applied: PullReport) {
        self.pages += 1;
        if applied.new_identity.is_some() {
            self.new_identity = applied.new_identity;
        }
        self.pulled.versions += applied.versions;
        self.pulled.heads += applied.heads;
        self.pulled.events += applied.events;
        self.pulled.conflicts += applied.conflicts;
        self.pulled.set_aside += applied.set_aside;
        self.pulled.pins += applied.pins;
        self.pulled.records += applied.records;
        self.pulled.republished += applied.republished;
        self.pulled.resolved_again += applied.resolved_again;
    }
}

/// Names per `attachments/missing` question (the server takes up to 1,000).
const ATTACHMENTS_PER_QUESTION: usize = 500;

#[derive(Debug, Deserialize)]
struct MissingAttachments {
    missing: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct TokenAnswer {
    access_token: String,
    refresh_token: String,
    expires_in: i64,
    user: Account,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub team_id: Uuid,
    pub team: String,
    pub role: String,
}

#[derive(Debug, Deserialize)]
struct ErrorAnswer {
    error: ErrorBody,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

/// Error bodies read at most (a server's error is a sentence, not a download).
const ERROR_BODY_LIMIT: u64 = 64 * 1024;
/// Characters of a server's error message kept: it is shown in a status bar and a terminal.
const ERROR_MESSAGE_CHARS: usize = 500;

/// A refusal's code and message, read from at most [`ERROR_BODY_LIMIT`] bytes, the message cut
/// to [`ERROR_MESSAGE_CHARS`] and both stripped of control characters; `None` when the body is
/// not the server's error shape.
fn error_answer(response: Response) -> Option<ErrorAnswer> {
    use std::io::Read;
    let mut body = Vec::new();
    response
        .take(ERROR_BODY_LIMIT)
        .read_to_end(&mut body)
        .ok()?;
    let mut answer: ErrorAnswer = serde_json::from_slice(&body).ok()?;
    let clean = |text: &str, limit: usize| -> String {
        let mut kept: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(limit)
            .collect();
        if text.chars().count() > limit {
            kept.push('…');
        }
        kept
    };
    answer.error.code = clean(&answer.error.code, 64);
    answer.error.message = clean(&answer.error.message, ERROR_MESSAGE_CHARS);
    Some(answer)
}

/// Token expiry is kept in this device's clock (skewed or not), so it only ever compares
/// with itself; the server checks expiry with its own clock.
fn unix_now() -> i64 {
    crate::now().unix_timestamp()
}

/// Normalises a server address: scheme required, no trailing slash.
pub fn normalise_server_url(given: &str) -> Result<String> {
    let trimmed = given.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed).map_err(|error| {
        ReplicaError::Invalid(format!(
            "{given:?} is not a server address ({error}); write it like https://sync.example.com"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ReplicaError::Invalid(format!(
            "{given:?} is not an http(s) server address; write it like https://sync.example.com"
        )));
    }
    Ok(trimmed.to_owned())
}

/// An HTTP conversation with one sync server.
#[derive(Debug)]
pub struct SyncClient {
    http: Client,
    base: String,
    options: ClientOptions,
}

enum Failure {
    /// Worth retrying: the connection dropped, the server is busy or restarting.
    Transient {
        message: String,
        wait: Option<Duration>,
        /// The server answered (busy or failing) rather than being out of reach.
        answered: bool,
    },
    /// The access token is no longer accepted.
    Unauthorized(String),
    /// Retrying cannot help.
    Permanent(ReplicaError),
}

impl SyncClient {
    pub fn new(server_url: &str, options: ClientOptions) -> Result<SyncClient> {
        let base = normalise_server_url(server_url)?;
        let http = Client::builder()
            .timeout(options.timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!(
                "resolutionflow-replica/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|error| ReplicaError::Invalid(format!("cannot set up HTTP: {error}")))?;
        Ok(SyncClient {
            http,
            base,
            options,
        })
    }

    pub fn server_url(&self) -> &str {
        &self.base
    }

    fn offline(&self, detail: &str) -> ReplicaError {
        ReplicaError::Offline(format!(
            "cannot reach the sync server at {} ({detail}); your work is saved here and will sync when the connection returns",
            self.base
        ))
    }

    fn classify(
        &self,
        result: reqwest::Result<Response>,
    ) -> std::result::Result<Response, Failure> {
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                return Err(Failure::Transient {
                    message: error.to_string(),
                    wait: None,
                    answered: false,
                });
            }
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let (code, message) = match error_answer(response) {
            Some(answer) => (answer.error.code, answer.error.message),
            None => (status.as_str().to_owned(), format!("HTTP {status}")),
        };
        if status == StatusCode::UNAUTHORIZED {
            return Err(Failure::Unauthorized(message));
        }
        // The server answered for a vendor it reaches on the team's behalf (ConnectWise): it
        // has already retried what was worth retrying, and its words say what to do.
        if code.starts_with("psa_") || code.starts_with("secrets_") {
            return Err(Failure::Permanent(ReplicaError::Server {
                status: status.as_u16(),
                code,
                message,
            }));
        }
        if status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::SERVICE_UNAVAILABLE
            || status.is_server_error()
        {
            return Err(Failure::Transient {
                message: format!("{status}: {message}"),
                wait,
                answered: true,
            });
        }
        Err(Failure::Permanent(ReplicaError::Server {
            status: status.as_u16(),
            code,
            message,
        }))
    }

    /// Sends a request, retrying transient failures with exponential backoff and full jitter
    /// (or the server's `Retry-After`, capped).
    fn send(
        &self,
        build: impl Fn(&Client) -> reqwest::blocking::RequestBuilder,
    ) -> std::result::Result<Response, Failure> {
        let (mut last, mut last_answered) = (String::new(), false);
        for attempt in 0..self.options.attempts.max(1) {
            match self.classify(build(&self.http).send()) {
                Ok(response) => return Ok(response),
                Err(Failure::Transient {
                    message,
                    wait,
                    answered,
                }) => {
                    tracing::debug!(attempt, %message, "sync request failed; retrying");
                    (last, last_answered) = (message, answered);
                    if attempt + 1 < self.options.attempts {
                        let delay = wait.unwrap_or_else(|| self.options.backoff_delay(attempt));
                        std::thread::sleep(delay.min(self.options.max_wait));
                    }
                }
                Err(other) => return Err(other),
            }
        }
        Err(Failure::Transient {
            message: last,
            wait: None,
            answered: last_answered,
        })
    }

    fn permanent(&self, failure: Failure) -> ReplicaError {
        match failure {
            Failure::Transient {
                message,
                answered: true,
                ..
            } => ReplicaError::Offline(format!(
                "the sync server at {} is having trouble ({message}); your work is saved here and will sync when it recovers",
                self.base
            )),
            Failure::Transient { message, .. } => self.offline(&message),
            Failure::Unauthorized(message) => ReplicaError::LoginRequired(message),
            Failure::Permanent(error) => error,
        }
    }

    fn tokens(&self, answer: TokenAnswer) -> (Credentials, Account) {
        (
            Credentials {
                server_url: self.base.clone(),
                access_token: answer.access_token,
                access_expires_at: unix_now().saturating_add(answer.expires_in),
                refresh_token: answer.refresh_token,
            },
            answer.user,
        )
    }

    /// Logs in with an e-mail and password.
    pub fn login(&self, email: &str, password: &str) -> Result<(Credentials, Account)> {
        let url = format!("{}/api/v1/auth/login", self.base);
        let body = serde_json::json!({ "email": email, "password": password });
        let response = self
            .send(|http| http.post(&url).json(&body))
            .map_err(|failure| match failure {
                Failure::Unauthorized(message) => ReplicaError::LoginRequired(message),
                other => self.permanent(other),
            })?;
        let answer: TokenAnswer = response
            .json()
            .map_err(|error| self.offline(&format!("unreadable login answer: {error}")))?;
        Ok(self.tokens(answer))
    }

    /// Trades the refresh token for a new pair. The caller must save the new pair before
    /// using it: the old refresh token is spent.
    pub fn refresh(&self, refresh_token: &str) -> Result<(Credentials, Account)> {
        let url = format!("{}/api/v1/auth/refresh", self.base);
        let body = serde_json::json!({ "refresh_token": refresh_token });
        let response = self
            .send(|http| http.post(&url).json(&body))
            .map_err(|failure| self.permanent(failure))?;
        let answer: TokenAnswer = response
            .json()
            .map_err(|error| self.offline(&format!("unreadable token answer: {error}")))?;
        Ok(self.tokens(answer))
    }

    fn authorized<T: serde::de::DeserializeOwned>(
        &self,
        session: &mut Session<'_>,
        build: impl Fn(&Client, &str) -> reqwest::blocking::RequestBuilder,
    ) -> Result<T> {
        self.authorized_response(session, build)?
            .json()
            .map_err(|error| self.offline(&format!("unreadable answer: {error}")))
    }

    /// Sends with the session's access token, renewing it once if the server refuses it.
    fn authorized_response(
        &self,
        session: &mut Session<'_>,
        build: impl Fn(&Client, &str) -> reqwest::blocking::RequestBuilder,
    ) -> Result<Response> {
        for fresh in [false, true] {
            if fresh {
                session.renew(self)?;
            }
            let token = session.access_token(self)?;
            match self.send(|http| build(http, &token)) {
                Ok(response) => return Ok(response),
                Err(Failure::Unauthorized(_)) if !fresh => continue,
                Err(failure) => return Err(self.permanent(failure)),
            }
        }
        Err(ReplicaError::LoginRequired(
            "the server no longer accepts this login".into(),
        ))
    }
}

/// The tokens of one sync round, renewed at most once per round and saved before use.
struct Session<'a> {
    store: &'a dyn TokenStore,
    credentials: Credentials,
}

impl Session<'_> {
    fn access_token(&mut self, client: &SyncClient) -> Result<String> {
        if self.credentials.access_expires_at - unix_now() < 30 {
            self.renew(client)?;
        }
        Ok(self.credentials.access_token.clone())
    }

    fn renew(&mut self, client: &SyncClient) -> Result<()> {
        let (credentials, _) = client.refresh(&self.credentials.refresh_token)?;
        // Saved before anything uses it: the old refresh token is spent now.
        self.store.save(&credentials)?;
        self.credentials = credentials;
        Ok(())
    }
}

/// Logs this replica in: checks the password with the server, records the account in the
/// replica and the tokens in `store`.
pub fn login(
    replica: &mut Replica,
    store: &dyn TokenStore,
    server_url: &str,
    email: &str,
    password: &str,
    options: ClientOptions,
) -> Result<Account> {
    let client = SyncClient::new(server_url, options)?;
    let (credentials, account) = client.login(email, password)?;
    replica.set_sync_account(
        client.server_url(),
        account.team_id,
        account.id,
        &account.email,
    )?;
    store.save(&credentials)?;
    Ok(account)
}

/// One full sync round: everything pending pushed (in batches), then every page of the team's
/// changes pulled and applied. Nothing is lost when it fails part-way: what was acknowledged
/// is settled, the rest stays queued.
pub fn sync(
    replica: &mut Replica,
    store: &dyn TokenStore,
    options: ClientOptions,
) -> Result<SyncReport> {
    let server_url = match replica.sync_account()? {
        Some(account) => account.server_url,
        None => {
            return Err(ReplicaError::LoginRequired(
                "this replica is not logged in".into(),
            ));
        }
    };
    Syncer::new(&server_url, options)?.sync(replica, store)
}

/// Changes the account's password on the server, given the current one. The server ends the
/// account's other logins; this one goes on, so the saved tokens stay as they are.
pub fn change_password(
    replica: &Replica,
    store: &dyn TokenStore,
    current: &str,
    new: &str,
    options: ClientOptions,
) -> Result<()> {
    let body = serde_json::json!({ "current_password": current, "new_password": new });
    server_response(
        replica,
        store,
        options,
        reqwest::Method::POST,
        "/api/v1/me/password",
        &[],
        Some(&body),
    )?;
    Ok(())
}

/// Sends a request to the team's sync server as this replica's account: `method` on `path`
/// (under the server's address, like `/api/v1/psa/tickets/5`) with `query` and a JSON body,
/// renewing the login once if it has expired. The answer, once its status is a success.
pub fn server_response(
    replica: &Replica,
    store: &dyn TokenStore,
    options: ClientOptions,
    method: reqwest::Method,
    path: &str,
    query: &[(&str, String)],
    body: Option<&serde_json::Value>,
) -> Result<Response> {
    let account = replica
        .sync_account()?
        .ok_or_else(|| ReplicaError::LoginRequired("this replica is not logged in".into()))?;
    let credentials = store
        .load()?
        .ok_or_else(|| ReplicaError::LoginRequired("no saved login for this replica".into()))?;
    let client = SyncClient::new(&account.server_url, options)?;
    let mut session = Session { store, credentials };
    let url = format!("{}{path}", client.server_url());
    client.authorized_response(&mut session, |http, token| {
        let mut request = http
            .request(method.clone(), &url)
            .bearer_auth(token)
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        request
    })
}

/// As [`server_response`], reading the answer's JSON; `None` for an answer without a body
/// (204).
pub fn call_server<T: serde::de::DeserializeOwned>(
    replica: &Replica,
    store: &dyn TokenStore,
    options: ClientOptions,
    method: reqwest::Method,
    path: &str,
    query: &[(&str, String)],
    body: Option<&serde_json::Value>,
) -> Result<Option<T>> {
    let response = server_response(replica, store, options, method, path, query, body)?;
    if response.status() == StatusCode::NO_CONTENT {
        return Ok(None);
    }
    response.json().map(Some).map_err(|error| {
        ReplicaError::Offline(format!(
            "the sync server's answer could not be read: {error}"
        ))
    })
}

/// Whether the sync server at `server_url` answers its health check within `timeout`: what
/// "online" means in a replica's status. Never an error: anything but a timely 200 is offline.
pub fn server_reachable(server_url: &str, timeout: Duration) -> bool {
    let Ok(base) = normalise_server_url(server_url) else {
        return false;
    };
    Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .and_then(|http| http.get(format!("{base}/api/v1/health")).send())
        .is_ok_and(|response| response.status().is_success())
}

/// A sync client kept between rounds (the desktop's background sync), so its HTTP connections
/// are reused.
#[derive(Debug)]
pub struct Syncer {
    client: SyncClient,
}

impl Syncer {
    pub fn new(server_url: &str, options: ClientOptions) -> Result<Syncer> {
        Ok(Syncer {
            client: SyncClient::new(server_url, options)?,
        })
    }

    /// One full round (see [`sync`]).
    pub fn sync(&self, replica: &mut Replica, store: &dyn TokenStore) -> Result<SyncReport> {
        let mut result = sync_round(&self.client, replica, store);
        if let Ok(report) = &mut result {
            // Queued ticket notes go once the round is through: the server can be reached.
            let options = self.client.options.clone();
            for post in crate::posts::deliver_posts(replica, store, options)? {
                match post.state {
                    crate::posts::PostState::Posted => report.posts_posted += 1,
                    crate::posts::PostState::Failed => report.posts_failed += 1,
                    crate::posts::PostState::Queued => {}
                }
            }
            report.posts_waiting = replica
                .ticket_posts(None)?
                .iter()
                .filter(|post| post.state == crate::posts::PostState::Queued)
                .count();
            // The team's members, so a hand-off is checked while offline later. An older
            // server without the list leaves the last one in place.
            match call_server::<Vec<rf_core::sync::TeamMember>>(
                replica,
                store,
                self.client.options.clone(),
                reqwest::Method::GET,
                "/api/v1/team/members",
                &[],
                None,
            ) {
                Ok(Some(members)) => replica.store_team_members(&members)?,
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "could not list the team's members"),
            }
        }
        if let Err(error) = &result {
            // Best effort: the round's own error matters more than failing to note it.
            let _ = replica.record_sync_result(Some(&error.to_string()));
        }
        result
    }
}

/// What waiting on the poke stream ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The team has changes this replica has not pulled.
    Poke,
    /// Nothing arrived within the wait; a periodic sync is due anyway.
    Timeout,
}

impl Syncer {
    /// Waits on the team's poke stream (`/api/v1/sync/stream`) until there is something to
    /// pull or `wait` passes. A stream that opens while the team is already ahead of this
    /// replica wakes at once, so nothing made between the last pull and the stream is missed.
    pub fn wait_for_changes(
        &self,
        replica: &Replica,
        store: &dyn TokenStore,
        wait: Duration,
    ) -> Result<Wake> {
        use std::io::BufRead;
        let credentials = store
            .load()?
            .ok_or_else(|| ReplicaError::LoginRequired("no saved login for this replica".into()))?;
        let mut session = Session { store, credentials };
        let url = format!("{}/api/v1/sync/stream", self.client.server_url());
        let response = self
            .client
            .authorized_response(&mut session, |http, token| {
                http.get(&url)
                    .bearer_auth(token)
                    .header(reqwest::header::ACCEPT, "text/event-stream")
                    .timeout(wait)
            })?;
        let pulled = replica
            .sync_account()?
            .map_or(0, |account| account.pulled_seq);
        let mut event = String::new();
        for line in std::io::BufReader::new(response).lines() {
            let Ok(line) = line else {
                // The wait ran out (or the connection dropped): time for a periodic sync.
                return Ok(Wake::Timeout);
            };
            if let Some(name) = line.strip_prefix("event:") {
                event = name.trim().to_owned();
            } else if let Some(data) = line.strip_prefix("data:") {
                let latest = serde_json::from_str::<serde_json::Value>(data.trim())
                    .ok()
                    .and_then(|value| value.get("latest").and_then(serde_json::Value::as_i64));
                match (event.as_str(), latest) {
                    // A poke of unknown extent (the server fell behind) always means pull.
                    ("poke", None) => return Ok(Wake::Poke),
                    ("poke" | "ready", Some(latest)) if latest > pulled => return Ok(Wake::Poke),
                    _ => {}
                }
            }
        }
        Ok(Wake::Timeout)
    }

    /// Background sync until `stop` says so: a round, then wait for a poke (or `period`), and
    /// again. Failures back off exponentially with jitter (capped at `options.max_wait`);
    /// `report` hears of every round.
    pub fn watch(
        &self,
        replica: &mut Replica,
        store: &dyn TokenStore,
        period: Duration,
        stop: &dyn Fn() -> bool,
        report: &mut dyn FnMut(&Result<SyncReport>),
    ) {
        let mut failures: u32 = 0;
        while !stop() {
            let result = self.sync(replica, store);
            let failed = result.is_err();
            report(&result);
            if matches!(result, Err(ReplicaError::LoginRequired(_))) {
                return;
            }
            if failed {
                failures = failures.saturating_add(1);
                std::thread::sleep(self.client.options.backoff_delay(failures));
                continue;
            }
            failures = 0;
            if let Err(error) = self.wait_for_changes(replica, store, period) {
                let result = Err(error);
                report(&result);
                std::thread::sleep(self.client.options.backoff);
            }
        }
    }
}

fn sync_round(
    client: &SyncClient,
    replica: &mut Replica,
    store: &dyn TokenStore,
) -> Result<SyncReport> {
    let account = replica
        .sync_account()?
        .ok_or_else(|| ReplicaError::LoginRequired("this replica is not logged in".into()))?;
    if account.server_url != client.server_url() {
        return Err(ReplicaError::LoginRequired(format!(
            "this replica now syncs with {}",
            account.server_url
        )));
    }
    let credentials = store
        .load()?
        .ok_or_else(|| ReplicaError::LoginRequired("no saved login for this replica".into()))?;
    let options = &client.options;
    let (push_mutations, push_events, pull_limit) = (
        options.push_mutations.clamp(1, PUSH_MUTATIONS),
        options.push_events.clamp(1, PUSH_EVENTS),
        options.pull_limit.clamp(1, PULL_LIMIT),
    );
    let mut session = Session { store, credentials };
    let mut report = SyncReport::default();
    let push_url = format!("{}/api/v1/sync/push", client.server_url());
    // A second pass only when the server turned out to have gone back (restored from an
    // older backup): the events it lost go up again in the same round.
    let mut passes = 0;
    let mut moved_in_pull = false;
    loop {
        // Batches are bounded in bytes as well as counts; a server that still finds one too large
        // (413: a smaller limit than ours) gets it split in half until it fits.
        let (mut push_mutations, mut push_events, mut push_bytes) =
            (push_mutations, push_events, rf_core::sync::PUSH_BATCH_BYTES);
        while let Some(batch) = replica.next_push_within(push_mutations, push_events, push_bytes)? {
            // Files before the events that name them, so the team can fetch what it pulls.
            report.attachments_uploaded +=
                upload_attachments(client, &mut session, replica, &batch)?;
            let answer: rf_core::sync::PushResponse = match client
                .authorized(&mut session, |http, token| {
                    http.post(&push_url).bearer_auth(token).json(&batch)
                }) {
                Ok(answer) => answer,
                Err(ReplicaError::Server {
                    status: 413,
                    code,
                    message,
                }) => {
                    if batch.mutations.len() + batch.events.len() > 1 {
                        push_mutations = (batch.mutations.len() / 2).max(1);
                        push_events = (batch.events.len() / 2).max(1);
                        push_bytes /= 2;
                        tracing::info!(
                            push_mutations,
                            push_events,
                            push_bytes,
                            "the server found a push too large; splitting it"
                        );
                        continue;
                    }
                    // One item the server will not take at any size it accepts.
                    if let Some(mutation) = batch.mutations.first() {
                        replica.reject_queued_mutation(
                        mutation.mutation_id,
                        &format!("larger than the sync server accepts ({message}); ask its administrator to raise the limit, then change it again"),
                    )?;
                        report.mutations_rejected += 1;
                        continue;
                    }
                    return Err(ReplicaError::Server {
                        status: 413,
                        code,
                        message: format!(
                            "{message}; one session event is larger than this sync server accepts, so it stays queued here: ask its administrator to raise the limit"
                        ),
                    });
                }
                Err(error) => return Err(error),
            };
            for kind in &answer.unknown_event_kinds {
                if !report.kinds_the_server_lacks.contains(kind) {
                    report.kinds_the_server_lacks.push(kind.clone());
                }
            }
            let applied = replica.apply_push_response(&batch, &answer)?;
            report.mutations_applied += applied.applied;
            report.mutations_rejected += applied.rejected;
            report.events_acknowledged += applied.events_acknowledged;
            report.server_went_back |= applied.server_restored;
            if applied.new_identity.is_some() {
                if report.new_identity.is_some() {
                    // Twice in one round: something is wrong with the server's answers; the
                    // work stays queued under the new identity for the next round.
                    tracing::warn!(
                        "a second new device identity in one round; pushing no more this round"
                    );
                    report.new_identity = applied.new_identity;
                    break;
                }
                // The rest goes up under the new identity, in this round.
                report.new_identity = applied.new_identity;
                continue;
            }
            if applied.applied
                + applied.rejected
                + applied.events_acknowledged
                + applied.events_to_resend
                + applied.mutations_renumbered
                == 0
            {
                // The server took nothing from this batch (a gap it is waiting on): stop here
                // rather than loop; the work stays queued for the next round.
                break;
            }
        }
        if options.snapshot && account.pulled_seq == 0 {
            pull_snapshot(client, &mut session, replica, pull_limit, &mut report)?;
        }
        // Pages on from wherever the snapshot ended (or was cut), up to the team's latest.
        let pull_url = format!("{}/api/v1/sync/pull", client.server_url());
        loop {
            let since = replica
                .sync_account()?
                .map_or(0, |account| account.pulled_seq);
            let page: rf_core::sync::PullResponse =
                client.authorized(&mut session, |http, token| {
                    http.get(&pull_url).bearer_auth(token).query(&[
                        ("since", since.to_string()),
                        ("limit", pull_limit.to_string()),
                        ("protocol", rf_core::sync::PROTOCOL_VERSION.to_string()),
                    ])
                })?;
            if let Some(epoch) = &page.epoch
                && replica.server_epoch()?.is_some_and(|known| known != *epoch)
            {
                // Restored from a backup: pull everything from the start and send this
                // device's events again, whatever the server's numbers say now.
                replica.server_was_restored(epoch)?;
                report.server_went_back = true;
                continue;
            }
            if page.latest < since {
                // The server lost changes this replica has (restored from an older backup): pull
                // on from where it now is, and send this device's events again next round.
                replica.server_went_back(page.latest)?;
                report.server_went_back = true;
                continue;
            }
            let applied = replica.apply_pull(&page)?;
            moved_in_pull |= applied.new_identity.is_some() || applied.push_first;
            if applied.push_first {
                break;
            }
            report.add_page(applied);
            if page.until >= page.latest {
                break;
            }
        }
        passes += 1;
        // A second pass when the server turned out to have gone back, or a pull showed another
        // copy of this device (its work moved to a new identity goes up now).
        if !(report.server_went_back || moved_in_pull) || passes > 1 {
            break;
        }
    }
    download_attachments(client, &mut session, replica, &mut report)?;
    report.pending = replica.sync_backlog()?.pending();
    report.conflicts = replica.conflicts(false)?.len();
    Ok(report)
}

/// Uploads the files of the batch's attachment events that the team does not have yet.
/// Returns how many went up. A file missing here or not matching its name (damaged on this
/// disk) cannot be sent: it is skipped with a warning rather than holding the events back
/// for ever; the events still say what was attached.
fn upload_attachments(
    client: &SyncClient,
    session: &mut Session<'_>,
    replica: &Replica,
    batch: &rf_core::sync::PushRequest,
) -> Result<usize> {
    use rf_core::session::{EventKind, SessionEvent};
    let mut names: Vec<String> = batch
        .events
        .iter()
        .filter_map(|event| SessionEvent::deserialize(&event.payload).ok())
        .filter_map(|event| match event.kind {
            EventKind::AttachmentAdded { attachment } => Some(attachment.sha256),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    let mut uploaded = 0;
    for chunk in names.chunks(ATTACHMENTS_PER_QUESTION) {
        let url = format!("{}/api/v1/attachments/missing", client.server_url());
        let answer: MissingAttachments = client.authorized(session, |http, token| {
            http.post(&url)
                .bearer_auth(token)
                .json(&serde_json::json!({ "sha256": chunk }))
        })?;
        for sha256 in answer.missing {
            let path = replica.attachment_path(&sha256);
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(error) => {
                    tracing::warn!(%sha256, path = %path.display(), %error, "an attachment's file is missing here; its events go up without it");
                    continue;
                }
            };
            let url = format!("{}/api/v1/attachments/{sha256}", client.server_url());
            match client.authorized_response(session, |http, token| {
                http.put(&url)
                    .bearer_auth(token)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(bytes.clone())
            }) {
                Ok(_) => uploaded += 1,
                Err(ReplicaError::Server { status: 422, .. }) => {
                    tracing::warn!(%sha256, path = %path.display(), "an attachment's file does not match its name (damaged on this disk); its events go up without it");
                }
                Err(error) => return Err(error),
            }
        }
    }
    Ok(uploaded)
}

/// Downloads the files of pulled attachment events that this replica does not have. One the
/// server does not have yet (its device has not uploaded it) stays on the list for the next
/// round.
fn download_attachments(
    client: &SyncClient,
    session: &mut Session<'_>,
    replica: &mut Replica,
    report: &mut SyncReport,
) -> Result<()> {
    for wanted in replica.attachment_downloads()? {
        if !rf_core::is_sha256_hex(&wanted.sha256) {
            // Listed by an older build that did not check names; never a path to follow.
            replica.set_aside_download(&wanted, "its name is not a SHA-256")?;
            continue;
        }
        let url = format!(
            "{}/api/v1/attachments/{}",
            client.server_url(),
            wanted.sha256
        );
        let response = match client
            .authorized_response(session, |http, token| http.get(&url).bearer_auth(token))
        {
            Ok(response) => response,
            Err(ReplicaError::Server { status: 404, .. }) => {
                report.attachments_waiting += 1;
                continue;
            }
            Err(ReplicaError::Server {
                status, message, ..
            }) if (400..500).contains(&status) => {
                // The server will never give this file (a name it refuses, say): one bad item
                // must not stop every later download.
                replica.set_aside_download(
                    &wanted,
                    &format!("the server answered {status}: {message}"),
                )?;
                report.attachments_set_aside += 1;
                continue;
            }
            Err(error) => return Err(error),
        };
        // Never more than the largest attachment, whatever the server sends.
        let limit = rf_core::received::MAX_ATTACHMENT_BYTES;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(response, limit + 1), &mut bytes)
            .map_err(|error| client.offline(&format!("attachment download cut short: {error}")))?;
        let stored = if bytes.len() as u64 > limit {
            Err(format!("the server sent more than {limit} bytes"))
        } else {
            match replica.store_downloaded_attachment(&wanted, &bytes) {
                Ok(()) => Ok(()),
                Err(ReplicaError::Invalid(message)) => Err(message),
                Err(error) => return Err(error),
            }
        };
        match stored {
            Ok(()) => report.attachments_downloaded += 1,
            Err(reason) => {
                replica.set_aside_download(&wanted, &reason)?;
                report.attachments_set_aside += 1;
            }
        }
    }
    Ok(())
}

/// A first sync: the team's snapshot, one streamed answer of pull pages, each applied (in its
/// own transaction, as a pulled page is) as it arrives. A thread reads and parses the next page
/// while this one is written. A stream cut short is not an error here: every page applied
/// stays applied, and the caller pages on from there with `pull`. A server without snapshots
/// (404) is paged from the start.
fn pull_snapshot(
    client: &SyncClient,
    session: &mut Session<'_>,
    replica: &mut Replica,
    limit: i64,
    report: &mut SyncReport,
) -> Result<()> {
    use std::io::BufRead;
    let url = format!("{}/api/v1/sync/snapshot", client.server_url());
    let response = match client.authorized_response(session, |http, token| {
        http.get(&url).bearer_auth(token).query(&[
            ("since", "0".to_owned()),
            ("limit", limit.to_string()),
            ("protocol", rf_core::sync::PROTOCOL_VERSION.to_string()),
        ])
    }) {
        Ok(response) => response,
        Err(ReplicaError::Server { status: 404, .. }) => return Ok(()),
        Err(error) => return Err(error),
    };
    let (pages, received) = std::sync::mpsc::sync_channel::<
        std::result::Result<rf_core::sync::PullResponse, String>,
    >(1);
    // Detached on purpose: if applying fails, this returns at once and the reader stops after
    // the line it is reading (its send fails), or at the connection's read timeout.
    std::thread::spawn(move || {
        for line in std::io::BufReader::with_capacity(1 << 16, response).lines() {
            let page = line
                .map_err(|error| error.to_string())
                .and_then(|line| serde_json::from_str(&line).map_err(|error| error.to_string()));
            let last = page.is_err();
            if pages.send(page).is_err() || last {
                break;
            }
        }
    });
    for page in received {
        match page {
            Ok(page) => {
                let applied = replica.apply_pull(&page)?;
                if applied.push_first {
                    // Another copy of this device shows: the pages go on after a push.
                    break;
                }
                report.add_page(applied);
                report.snapshot_pages += 1;
            }
            Err(message) => {
                tracing::info!(%message, "the snapshot stream was cut; paging on from the last page applied");
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// A server on 127.0.0.1 that answers every request with `status` and `body`.
    fn answering(status: &'static str, body: String) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut request = [0u8; 16 * 1024];
                let _ = stream.read(&mut request);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        base
    }

    fn refusal(base: &str) -> (u16, String, String) {
        let client = SyncClient::new(base, ClientOptions::default()).unwrap();
        match client.login("ada@contoso.example", "password").unwrap_err() {
            ReplicaError::Server {
                status,
                code,
                message,
            } => (status, code, message),
            other => panic!("{other}"),
        }
    }

    /// What a server says when it refuses ends up in a status bar: a hostile or broken one
    /// cannot make it megabytes long or put control characters in it.
    #[test]
    fn a_refusal_is_read_within_bounds_and_kept_short() {
        let long = "x".repeat(10_000);
        let body = format!(
            r#"{{"error": {{"code": "upgrade_required", "message": "update\u001b[2J {long}"}}}}"#
        );
        let (status, code, message) = refusal(&answering("426 Upgrade Required", body));
        assert_eq!((status, code.as_str()), (426, "upgrade_required"));
        assert!(message.starts_with("update [2J x"), "{message:.40}");
        assert_eq!(message.chars().count(), ERROR_MESSAGE_CHARS + 1);
        assert!(message.ends_with('…'));

        // Larger than any error needs: not read whole, answered by its status alone.
        let huge = format!(
            r#"{{"error": {{"code": "upgrade_required", "message": "{}"}}}}"#,
            "y".repeat(5 * 1024 * 1024)
        );
        let (status, code, message) = refusal(&answering("426 Upgrade Required", huge));
        assert_eq!(status, 426);
        assert_eq!(code, "426");
        assert_eq!(message, "HTTP 426 Upgrade Required");
    }
}
