//! A fault-injecting HTTP proxy on 127.0.0.1:0 for the sync client's tests: each request is
//! forwarded whole, or cut half-way to the server, or forwarded with its answer cut half-way
//! back, or answered by the proxy itself without reaching the server (429 and 503 with
//! `Retry-After: 1`, 500, or 401 while the access token is still valid, so the client must
//! refresh). Which one is drawn from a seeded generator in the order requests arrive, so a
//! client that sends its requests one at a time meets the same faults on every run.
//!
//! One request per connection: the proxy reads a request (its head and `Content-Length`
//! body), asks the server with `Connection: close`, reads the answer to its end, and closes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    Forward,
    /// Half the request reaches the server, then both connections close.
    CutRequest,
    /// The server answers; half the answer reaches the client, then the connection closes.
    CutAnswer,
    /// 429 with `Retry-After: 1`, not forwarded.
    TooManyRequests,
    /// 503 with `Retry-After: 1`, not forwarded.
    Unavailable,
    /// 500, not forwarded.
    ServerError,
    /// 401 for a request that carries a (still valid) access token, not forwarded.
    Unauthorized,
    /// 426 `upgrade_required`, as a server answers a client older than it supports; never
    /// drawn, only forced with [`FaultyProxy::answer_every_request`].
    UpgradeRequired,
}

#[derive(Debug)]
struct Schedule {
    rng: StdRng,
    /// Percent of requests that meet a fault; 0 is a healthy network.
    percent: u32,
    seen: BTreeMap<Fault, usize>,
    /// A refresh was asked for since the last request forwarded whole.
    after_refresh: bool,
    /// Every request meets this, whatever `percent` draws.
    forced: Option<Fault>,
    /// A 401 was answered to a request that did not follow a refresh: the next request must
    /// be the client's refresh.
    refresh_owed: bool,
    /// 401s the client did not answer with a refresh.
    refreshes_missed: usize,
}

#[derive(Debug)]
pub struct FaultyProxy {
    /// The proxy's address, to give the client in place of the server's.
    pub base: String,
    schedule: Arc<Mutex<Schedule>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultyProxy {
    /// A proxy in front of `upstream` (`http://127.0.0.1:port`), its faults drawn from `seed`,
    /// `percent` of requests meeting one.
    pub async fn start(upstream: &str, seed: u64, percent: u32) -> FaultyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let schedule = Arc::new(Mutex::new(Schedule {
            rng: StdRng::seed_from_u64(seed),
            percent,
            seen: BTreeMap::new(),
            after_refresh: false,
            forced: None,
            refresh_owed: false,
            refreshes_missed: 0,
        }));
        let shared = Arc::clone(&schedule);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let schedule = Arc::clone(&shared);
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    // A connection that fails part-way is what this proxy is for.
                    let _ = serve_one(client, &upstream, &schedule).await;
                });
            }
        });
        FaultyProxy {
            base,
            schedule,
            task,
        }
    }

    /// Sets the share of requests that meet a fault (0: the network heals).
    pub fn set_percent(&self, percent: u32) {
        self.schedule.lock().unwrap().percent = percent;
    }

    /// Meets every request with `fault` from now on (`None`: back to the drawn faults).
    pub fn answer_every_request(&self, fault: Option<Fault>) {
        self.schedule.lock().unwrap().forced = fault;
    }

    /// How many times the client met a 401 (with a valid token) and did not refresh its token
    /// before its next request.
    pub fn refreshes_missed(&self) -> usize {
        self.schedule.lock().unwrap().refreshes_missed
    }

    /// How many requests met each fault so far.
    pub fn seen(&self) -> BTreeMap<Fault, usize> {
        self.schedule.lock().unwrap().seen.clone()
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

impl Schedule {
    fn decide(&mut self, path: &str, authorized: bool) -> Fault {
        let refresh = path.starts_with("/api/v1/auth/refresh");
        if std::mem::take(&mut self.refresh_owed) && !refresh {
            self.refreshes_missed += 1;
            if std::env::var("RF_SIM_DEBUG").is_ok() {
                eprintln!("no refresh after a 401: the next request was {path}");
            }
        }
        let fault = if let Some(forced) = self.forced {
            forced
        } else if self.percent == 0 || self.rng.random_range(0..100) >= self.percent {
            Fault::Forward
        } else if path.starts_with("/api/v1/auth/") {
            // A lost refresh answer would spend the refresh token the client never hears of
            // (by design that ends the login); faults here never reach the server.
            [
                Fault::CutRequest,
                Fault::TooManyRequests,
                Fault::Unavailable,
                Fault::ServerError,
            ][self.rng.random_range(0..4)]
        } else {
            let faults = [
                Fault::CutRequest,
                Fault::CutAnswer,
                Fault::TooManyRequests,
                Fault::Unavailable,
                Fault::ServerError,
                Fault::Unauthorized,
            ];
            let fault = faults[self.rng.random_range(0..faults.len())];
            if fault == Fault::Unauthorized && !authorized {
                Fault::Forward
            } else {
                fault
            }
        };
        *self.seen.entry(fault).or_default() += 1;
        if std::env::var("RF_SIM_DEBUG").is_ok() {
            eprintln!("proxy: {path} {fault:?}");
        }
        // A client refreshes once per request it sends: a 401 met again by the same request
        // (retried after its refresh, or after a failure in transit) ends the round instead.
        // So a 401 owes a refresh unless one was made since the last request forwarded whole.
        self.refresh_owed = fault == Fault::Unauthorized && !self.after_refresh;
        if refresh {
            self.after_refresh = true;
        } else if fault == Fault::Forward {
            self.after_refresh = false;
        }
        fault
    }
}

/// The request's head (up to and without the blank line) and body.
async fn read_request(client: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break at;
        }
        let read = client.read(&mut chunk).await?;
        if read == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let read = client.read(&mut chunk).await?;
        if read == 0 {
            return Ok(None);
        }
        body.extend_from_slice(&chunk[..read]);
    }
    Ok(Some((head, body)))
}

async fn answer_with(client: &mut TcpStream, status: &str, code: &str) -> std::io::Result<()> {
    let body = format!(
        r#"{{"error": {{"code": "{code}", "message": "the test proxy answered {status}"}}}}"#
    );
    let retry_after = if status.starts_with("429") || status.starts_with("503") {
        "Retry-After: 1\r\n"
    } else {
        ""
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{retry_after}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    client.write_all(response.as_bytes()).await?;
    client.shutdown().await
}

async fn serve_one(
    mut client: TcpStream,
    upstream: &str,
    schedule: &Mutex<Schedule>,
) -> std::io::Result<()> {
    let Some((head, body)) = read_request(&mut client).await? else {
        return Ok(());
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
    let headers: Vec<&str> = lines
        .filter(|line| {
            !line
                .split_once(':')
                .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("connection"))
        })
        .collect();
    let authorized = headers.iter().any(|line| {
        line.split_once(':')
            .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("authorization"))
    });
    let fault = schedule.lock().unwrap().decide(&path, authorized);
    match fault {
        Fault::TooManyRequests => {
            return answer_with(&mut client, "429 Too Many Requests", "rate_limited").await;
        }
        Fault::Unavailable => {
            return answer_with(&mut client, "503 Service Unavailable", "unavailable").await;
        }
        Fault::ServerError => {
            return answer_with(&mut client, "500 Internal Server Error", "internal").await;
        }
        Fault::Unauthorized => {
            return answer_with(&mut client, "401 Unauthorized", "unauthorized").await;
        }
        Fault::UpgradeRequired => {
            return answer_with(&mut client, "426 Upgrade Required", "upgrade_required").await;
        }
        Fault::Forward | Fault::CutRequest | Fault::CutAnswer => {}
    }
    let mut request = format!("{request_line}\r\n");
    for line in headers {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("Connection: close\r\n\r\n");
    let mut request = request.into_bytes();
    request.extend_from_slice(&body);
    let mut server = TcpStream::connect(upstream).await?;
    if fault == Fault::CutRequest {
        // Half the request (at least its first byte), then both sides go away unanswered.
        let cut = (request.len() / 2).max(1);
        server.write_all(&request[..cut]).await?;
        return Ok(());
    }
    server.write_all(&request).await?;
    let mut response = Vec::new();
    server.read_to_end(&mut response).await?;
    if fault == Fault::CutAnswer {
        client.write_all(&response[..response.len() / 2]).await?;
        return Ok(());
    }
    client.write_all(&response).await?;
    client.shutdown().await
}
