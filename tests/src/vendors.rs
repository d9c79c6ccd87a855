//! Stand-ins for the vendors a team reaches through the sync server, made from the vendors'
//! own OpenAPI descriptions (`tests/vendor-specs/`): Prism (`@stoplight/prism-cli`, installed by
//! `./dev test`, found through `RF_TEST_PRISM`) serves each as a mock that answers 422 to any
//! request that breaks the vendor's contract. In front of the ConnectWise mock, [`ConnectWiseSite`]
//! plays the rest of a ConnectWise site: the company lookup (`/login/companyinfo/{company}`,
//! not in the vendor's spec), the codebase path the API lives under, a record of every request
//! (so tests check the headers Prism does not: `Authorization`, `clientId`) and scripted
//! answers in place of Prism's (429, 5xx, an answer that never comes).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
pub use axum::http::Method;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// The folder of the vendors' specs, kept in the repository (`tests/vendor-specs/`, copied
/// verbatim from the shared specs; see its README) so a clone anywhere has them.
pub fn specs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vendor-specs")
}

pub const CONNECTWISE_SPEC: &str = "connectwise-manage-2025.8-subset.json";
pub const ANTHROPIC_SPEC: &str = "anthropic-messages.json";

/// The `prism` command: `RF_TEST_PRISM`, else where `./dev test` installs it.
fn prism_command() -> PathBuf {
    if let Ok(path) = std::env::var("RF_TEST_PRISM") {
        return PathBuf::from(path);
    }
    let cache = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
    let found = cache.join("resolutionflow/prism-5.14.2/node_modules/.bin/prism");
    assert!(
        found.exists(),
        "Prism is not installed: run `./dev test` (it installs @stoplight/prism-cli), or set RF_TEST_PRISM"
    );
    found
}

/// A Prism mock serving one spec on 127.0.0.1, one per spec per test binary. It is started
/// under a watchdog shell that stops it when the test binary exits.
#[derive(Debug)]
pub struct Prism {
    pub base: String,
    _child: Child,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Prism {
    fn start(spec: &str) -> Prism {
        let spec = specs().join(spec);
        assert!(spec.exists(), "no vendor spec at {}", spec.display());
        let port = free_port();
        let log = std::env::temp_dir().join(format!("rf-prism-{port}.log"));
        // The watchdog: Prism runs as long as the test binary (the shell's parent) does.
        let script = r#"prism="$1"; spec="$2"; port="$3"; log="$4"; parent=$PPID
            "$prism" mock -h 127.0.0.1 -p "$port" "$spec" >"$log" 2>&1 &
            child=$!
            while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 1; done
            kill "$child" 2>/dev/null"#;
        let child = Command::new("bash")
            .arg("-c")
            .arg(script)
            .arg("prism-watchdog")
            .arg(prism_command())
            .arg(&spec)
            .arg(port.to_string())
            .arg(&log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        // Ready once it answers anything over HTTP (polled, never slept on blindly).
        loop {
            let answered = std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .and_then(|mut stream| {
                    use std::io::{Read, Write};
                    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
                    stream
                        .write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .ok()?;
                    let mut first = [0u8; 12];
                    stream.read_exact(&mut first).ok()?;
                    first.starts_with(b"HTTP/1.1").then_some(())
                });
            if answered.is_some() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Prism did not start on port {port}: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Prism {
            base,
            _child: child,
        }
    }

    /// The test binary's ConnectWise mock.
    pub fn connectwise() -> &'static Prism {
        static PRISM: OnceLock<Prism> = OnceLock::new();
        PRISM.get_or_init(|| Prism::start(CONNECTWISE_SPEC))
    }

    /// The test binary's Anthropic mock.
    pub fn anthropic() -> &'static Prism {
        static PRISM: OnceLock<Prism> = OnceLock::new();
        PRISM.get_or_init(|| Prism::start(ANTHROPIC_SPEC))
    }
}

/// One request as the site received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    /// The path under the API (`service/tickets/5`), or the whole path for the company lookup.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// What Prism answered (`None`: a scripted answer, not forwarded).
    pub prism_status: Option<StatusCode>,
    /// Prism's `sl-violations` header: how the request broke the vendor's contract.
    pub violations: Option<String>,
}

/// An answer given in Prism's place, to the next request whose method and path match.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// This status, headers and body, without asking Prism.
    Answer {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Forward to Prism, then never answer (the request took effect; its answer is lost).
    ForwardThenHang,
    /// Forward to Prism as usual (to let one request through before scripted ones).
    Forward,
}

/// A note the site keeps, as a ConnectWise ticket would (Prism keeps nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub id: i64,
    pub ticket: i64,
    pub text: String,
    pub internal: bool,
    pub discussion: bool,
    pub resolution: bool,
}

/// A time entry the site keeps. Time entries are not in the vendor's spec subset, so the
/// site answers them itself, in the vendor's shape (`/time/entries`, `chargeToId`,
/// `chargeToType`, `member.identifier`, `timeStart`, `timeEnd`, `notes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeEntry {
    pub id: i64,
    pub ticket: i64,
    pub member: String,
    pub start: String,
    pub end: String,
    pub notes: String,
}

#[derive(Debug, Default)]
struct SiteState {
    seen: Vec<Seen>,
    script: VecDeque<(Method, String, Scripted)>,
    notes: Vec<Note>,
    time_entries: Vec<TimeEntry>,
}

#[derive(Debug, Clone)]
struct Shared {
    state: Arc<Mutex<SiteState>>,
    prism: String,
    company: String,
    codebase: String,
    http: reqwest::Client,
}

/// A ConnectWise site on 127.0.0.1:0 in front of the Prism mock.
#[derive(Debug)]
pub struct ConnectWiseSite {
    /// `127.0.0.1:port`: what `--site` takes.
    pub site: String,
    /// The REST API's address (`http://127.0.0.1:port/v2025_1/apis/3.0/`).
    pub api_url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl ConnectWiseSite {
    /// A site where `company` is known, its API under the codebase `v2025_1/`.
    pub async fn start(company: &str) -> ConnectWiseSite {
        let prism = tokio::task::spawn_blocking(|| Prism::connectwise().base.clone())
            .await
            .unwrap();
        let codebase = "v2025_1/".to_owned();
        let shared = Shared {
            state: Arc::default(),
            prism,
            company: company.to_owned(),
            codebase: codebase.clone(),
            http: reqwest::Client::new(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let site = listener.local_addr().unwrap().to_string();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ConnectWiseSite {
            api_url: format!("http://{site}/{codebase}apis/3.0/"),
            site,
            shared,
            task,
        }
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.state.lock().unwrap().seen.clone()
    }

    /// Answers the next `method` request whose API path starts with `path` as `scripted`.
    pub fn script(&self, method: Method, path: &str, scripted: Scripted) {
        self.shared
            .state
            .lock()
            .unwrap()
            .script
            .push_back((method, path.to_owned(), scripted));
    }

    /// The notes posted to `ticket`, oldest first.
    pub fn notes(&self, ticket: i64) -> Vec<Note> {
        self.shared
            .state
            .lock()
            .unwrap()
            .notes
            .iter()
            .filter(|note| note.ticket == ticket)
            .cloned()
            .collect()
    }

    /// The time entries recorded on `ticket`, oldest first.
    pub fn time_entries(&self, ticket: i64) -> Vec<TimeEntry> {
        self.shared
            .state
            .lock()
            .unwrap()
            .time_entries
            .iter()
            .filter(|entry| entry.ticket == ticket)
            .cloned()
            .collect()
    }

    /// Asserts that Prism found no request in breach of the vendor's contract.
    pub fn assert_no_violations(&self) {
        let broken: Vec<String> = self
            .seen()
            .iter()
            .filter(|seen| {
                seen.prism_status == Some(StatusCode::UNPROCESSABLE_ENTITY)
                    || seen.violations.is_some()
            })
            .map(|seen| format!("{} {}: {:?}", seen.method, seen.path, seen.violations))
            .collect();
        assert!(
            broken.is_empty(),
            "requests against the vendor's contract: {broken:#?}"
        );
    }
}

impl Drop for ConnectWiseSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().map(str::to_owned);
    if let Some(company) = path.strip_prefix("/login/companyinfo/") {
        let known = company.eq_ignore_ascii_case(&shared.company);
        shared.state.lock().unwrap().seen.push(Seen {
            method,
            path: path.clone(),
            query,
            headers,
            body,
            prism_status: None,
            violations: None,
        });
        // Like ConnectWise: an unknown company is a 200 with an empty body.
        return if known {
            axum::Json(serde_json::json!({
                "CompanyName": "Contoso MSP",
                "Codebase": shared.codebase,
                "VersionCode": "v2025.1",
                "CompanyID": shared.company,
                "IsCloud": false,
            }))
            .into_response()
        } else {
            StatusCode::OK.into_response()
        };
    }
    let prefix = format!("/{}apis/3.0/", shared.codebase);
    let Some(api_path) = path.strip_prefix(&prefix).map(str::to_owned) else {
        return (StatusCode::NOT_FOUND, "not a ConnectWise path").into_response();
    };
    let scripted = {
        let mut state = shared.state.lock().unwrap();
        let at = state
            .script
            .iter()
            .position(|(m, p, _)| *m == method && api_path.starts_with(p.as_str()));
        at.and_then(|at| state.script.remove(at)).map(|(_, _, s)| s)
    };
    let mut seen = Seen {
        method: method.clone(),
        path: api_path.clone(),
        query: query.clone(),
        headers: headers.clone(),
        body: body.clone(),
        prism_status: None,
        violations: None,
    };
    if let Some(Scripted::Answer {
        status,
        headers: answer_headers,
        body,
    }) = &scripted
    {
        shared.state.lock().unwrap().seen.push(seen);
        let mut response = (StatusCode::from_u16(*status).unwrap(), body.clone()).into_response();
        for (name, value) in answer_headers {
            response.headers_mut().insert(*name, value.parse().unwrap());
        }
        return response;
    }
    if api_path == "time/entries" {
        return time_entries(&shared, seen, scripted).await;
    }
    let mut url = format!("{}/{api_path}", shared.prism);
    if let Some(query) = &query {
        url = format!("{url}?{query}");
    }
    let mut request = shared.http.request(method, url).body(body);
    for name in ["accept", "content-type", "authorization", "clientid"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    let answer = request.send().await.unwrap();
    let status = answer.status();
    seen.prism_status = Some(status);
    seen.violations = answer
        .headers()
        .get("sl-violations")
        .map(|value| value.to_str().unwrap_or("").to_owned());
    let content_type = answer.headers().get("content-type").cloned();
    let mut text = answer.bytes().await.unwrap();
    // Notes: kept here, since Prism keeps nothing, so a ticket's notes read back what was posted.
    let notes_of = api_path
        .strip_prefix("service/tickets/")
        .and_then(|rest| rest.strip_suffix("/notes"))
        .and_then(|ticket| ticket.parse::<i64>().ok());
    if let (Some(ticket), true) = (notes_of, status.is_success()) {
        let mut state = shared.state.lock().unwrap();
        if seen.method == Method::POST {
            let posted: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
            let flag = |name: &str| posted[name].as_bool().unwrap_or(false);
            let note = Note {
                id: 1001 + i64::try_from(state.notes.len()).unwrap(),
                ticket,
                text: posted["text"].as_str().unwrap_or_default().to_owned(),
                internal: flag("internalAnalysisFlag"),
                discussion: flag("detailDescriptionFlag"),
                resolution: flag("resolutionFlag"),
            };
            let mut answer: serde_json::Value = serde_json::from_slice(&text).unwrap();
            answer["id"] = note.id.into();
            answer["text"] = note.text.clone().into();
            text = serde_json::to_vec(&answer).unwrap().into();
            state.notes.push(note);
        } else if seen.method == Method::GET {
            let listed: Vec<serde_json::Value> = state
                .notes
                .iter()
                .rev()
                .filter(|note| note.ticket == ticket)
                .map(|note| {
                    serde_json::json!({
                        "id": note.id, "ticketId": ticket, "text": note.text,
                        "internalAnalysisFlag": note.internal,
                        "detailDescriptionFlag": note.discussion,
                        "resolutionFlag": note.resolution,
                    })
                })
                .collect();
            text = serde_json::to_vec(&listed).unwrap().into();
        }
    }
    shared.state.lock().unwrap().seen.push(seen);
    if matches!(scripted, Some(Scripted::ForwardThenHang)) {
        std::future::pending::<()>().await;
    }
    let mut response = (status, text).into_response();
    if let Some(content_type) = content_type {
        response.headers_mut().insert("content-type", content_type);
    }
    response
}

/// The Anthropic key type, for tests that cannot name the sync server's crate.
pub use rf_sync_server::vendors::anthropic::ApiKey as AnthropicKey;

/// The client id the test servers send ConnectWise.
pub const CLIENT_ID: &str = "rf-test-client-id";

/// A server configuration that reaches the stand-ins: loopback upstreams allowed, a secrets
/// key of its own, quick retries.
pub fn vendor_config() -> rf_sync_server::ApiConfig {
    use rf_sync_server::vendors::connectwise::RetryPolicy;
    rf_sync_server::ApiConfig {
        psa: rf_sync_server::PsaSettings {
            client_id: Some(CLIENT_ID.into()),
            keys: Some(Arc::new(
                rf_sync_server::vendors::secrets::SecretsKeys::ephemeral(),
            )),
            allow_loopback: true,
            retry: RetryPolicy {
                base_delay: Duration::from_millis(20),
                max_delay: Duration::from_millis(100),
                ..RetryPolicy::default()
            },
            timeout: Duration::from_secs(10),
            post_lease: Duration::from_secs(30),
        },
        ..rf_sync_server::ApiConfig::default()
    }
}

/// `/time/entries` as ConnectWise answers it: a POST records an entry, a GET lists a ticket's
/// (the `chargeToId = N` of its conditions), newest first.
async fn time_entries(shared: &Shared, seen: Seen, scripted: Option<Scripted>) -> Response {
    let method = seen.method.clone();
    let (status, body) = {
        let mut state = shared.state.lock().unwrap();
        let answer = if method == Method::POST {
            let posted: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
            let entry = TimeEntry {
                id: 5001 + i64::try_from(state.time_entries.len()).unwrap(),
                ticket: posted["chargeToId"].as_i64().unwrap(),
                member: posted["member"]["identifier"].as_str().unwrap().to_owned(),
                start: posted["timeStart"].as_str().unwrap().to_owned(),
                end: posted["timeEnd"].as_str().unwrap().to_owned(),
                notes: posted["notes"].as_str().unwrap_or_default().to_owned(),
            };
            assert_eq!(posted["chargeToType"], "ServiceTicket");
            let body = serde_json::json!({"id": entry.id, "chargeToId": entry.ticket,
                "chargeToType": "ServiceTicket", "member": {"identifier": entry.member},
                "timeStart": entry.start, "timeEnd": entry.end, "notes": entry.notes});
            state.time_entries.push(entry);
            (StatusCode::CREATED, body)
        } else {
            let query = seen.query.clone().unwrap_or_default();
            let conditions: String = url_pairs(&query)
                .into_iter()
                .find(|(name, _)| name == "conditions")
                .map(|(_, value)| value)
                .unwrap_or_default();
            let ticket: Option<i64> = conditions
                .split("chargeToId = ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|number| number.parse().ok());
            let listed: Vec<serde_json::Value> = state
                .time_entries
                .iter()
                .rev()
                .filter(|entry| Some(entry.ticket) == ticket)
                .map(|entry| serde_json::json!({"id": entry.id, "notes": entry.notes}))
                .collect();
            (StatusCode::OK, serde_json::Value::from(listed))
        };
        state.seen.push(seen);
        answer
    };
    if matches!(scripted, Some(Scripted::ForwardThenHang)) {
        std::future::pending::<()>().await;
    }
    (status, axum::Json(body)).into_response()
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|url| {
            url.query_pairs()
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// One request as the Anthropic stand-in received it.
#[derive(Debug, Clone)]
pub struct SeenMessage {
    pub headers: HeaderMap,
    pub body: serde_json::Value,
    /// What Prism answered the same request (422: it broke the vendor's contract).
    pub prism_status: StatusCode,
    pub violations: Option<String>,
}

/// An answer the Anthropic stand-in gives in place of Prism's (which cannot stream).
#[derive(Debug, Clone)]
pub enum Canned {
    /// A 200 with these server-sent events (`event`, `data`).
    Stream(Vec<(String, String)>),
    /// This status, headers and body.
    Status {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
}

/// The events of a whole answer whose text is `text`, as Anthropic streams it: the message
/// start with its usage, a ping, the text in small deltas, an event type of the future, the
/// usage at the end.
pub fn answer_stream(text: &str, model: &str) -> Canned {
    let event = |name: &str, data: serde_json::Value| (name.to_owned(), data.to_string());
    let mut events = vec![
        event(
            "message_start",
            serde_json::json!({"type": "message_start", "message": {"id": "msg_test", "type": "message",
                "role": "assistant", "model": model, "content": [], "stop_reason": null,
                "usage": {"input_tokens": 420, "output_tokens": 1,
                          "cache_creation_input_tokens": 1800, "cache_read_input_tokens": 0}}}),
        ),
        event(
            "content_block_start",
            serde_json::json!({"type": "content_block_start", "index": 0,
                               "content_block": {"type": "text", "text": ""}}),
        ),
        event("ping", serde_json::json!({"type": "ping"})),
    ];
    let chars: Vec<char> = text.chars().collect();
    for piece in chars.chunks(7) {
        events.push(event(
            "content_block_delta",
            serde_json::json!({"type": "content_block_delta", "index": 0,
                               "delta": {"type": "text_delta", "text": piece.iter().collect::<String>()}}),
        ));
    }
    events.push(event(
        "brand_new_event",
        serde_json::json!({"type": "brand_new_event", "detail": "from a later API"}),
    ));
    events.push(event(
        "content_block_stop",
        serde_json::json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(event(
        "message_delta",
        serde_json::json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 57}}),
    ));
    events.push(event(
        "message_stop",
        serde_json::json!({"type": "message_stop"}),
    ));
    Canned::Stream(events)
}

#[derive(Debug, Default)]
struct AnthropicState {
    seen: Vec<SeenMessage>,
    script: VecDeque<Canned>,
}

#[derive(Debug, Clone)]
struct AnthropicShared {
    state: Arc<Mutex<AnthropicState>>,
    prism: String,
    http: reqwest::Client,
}

/// Anthropic's Messages API on 127.0.0.1:0: each request is checked by Prism against the
/// vendor's spec, recorded, and answered from the script (by default, a streamed answer).
#[derive(Debug)]
pub struct AnthropicStandIn {
    pub base: String,
    shared: AnthropicShared,
    task: tokio::task::JoinHandle<()>,
}

impl AnthropicStandIn {
    pub async fn start() -> AnthropicStandIn {
        let prism = tokio::task::spawn_blocking(|| Prism::anthropic().base.clone())
            .await
            .unwrap();
        let shared = AnthropicShared {
            state: Arc::default(),
            prism,
            http: reqwest::Client::new(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/v1/messages", axum::routing::post(messages))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        AnthropicStandIn { base, shared, task }
    }

    /// Answers the next request with `canned`.
    pub fn script(&self, canned: Canned) {
        self.shared.state.lock().unwrap().script.push_back(canned);
    }

    pub fn seen(&self) -> Vec<SeenMessage> {
        self.shared.state.lock().unwrap().seen.clone()
    }

    pub fn assert_no_violations(&self) {
        let broken: Vec<String> = self
            .seen()
            .iter()
            .filter(|seen| seen.prism_status == StatusCode::UNPROCESSABLE_ENTITY)
            .map(|seen| format!("{:?}", seen.violations))
            .collect();
        assert!(
            broken.is_empty(),
            "requests against Anthropic's contract: {broken:#?}"
        );
    }
}

impl Drop for AnthropicStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn messages(
    State(shared): State<AnthropicShared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut check = shared
        .http
        .post(format!("{}/v1/messages", shared.prism))
        .body(body.clone());
    for name in ["content-type", "x-api-key", "anthropic-version"] {
        if let Some(value) = headers.get(name) {
            check = check.header(name, value);
        }
    }
    let checked = check.send().await.unwrap();
    let seen = SeenMessage {
        headers: headers.clone(),
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        prism_status: checked.status(),
        violations: checked
            .headers()
            .get("sl-violations")
            .map(|value| value.to_str().unwrap_or("").to_owned()),
    };
    let canned = {
        let mut state = shared.state.lock().unwrap();
        state.seen.push(seen);
        state.script.pop_front()
    };
    let model = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|body| body["model"].as_str().map(str::to_owned))
        .unwrap_or_default();
    match canned.unwrap_or_else(|| answer_stream("ANSWER: Yes — the default answer", &model)) {
        Canned::Stream(events) => {
            let text: String = events
                .iter()
                .map(|(event, data)| format!("event: {event}\ndata: {data}\n\n"))
                .collect();
            ([("content-type", "text/event-stream")], text).into_response()
        }
        Canned::Status {
            status,
            headers,
            body,
        } => {
            let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
            response
                .headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            for (name, value) in headers {
                response.headers_mut().insert(name, value.parse().unwrap());
            }
            response
        }
    }
}
