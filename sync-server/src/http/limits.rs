//! Bounds on what one client can make the server hold: connections, time to send a request
//! head or body, time to answer, the size of a request head, and the client address the login
//! limits count by (the socket peer, or `X-Forwarded-For` from a reverse proxy the operator
//! names). `serve` (server.rs) applies the connection settings; [`bound_requests`] the rest.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::error::AppError;

/// Resource limits of the HTTP server. Every duration and count can be set on the command line
/// (`rf-sync-server serve --help`).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; further ones wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// Time allowed to send a whole request head, counted from when the server starts waiting
    /// for it: on a new connection, and on a kept-alive one after each answer, so it is also
    /// how long an idle kept-alive connection stays open.
    pub header_timeout: Duration,
    /// Longest pause while a request body arrives.
    pub body_timeout: Duration,
    /// Time to produce an answer's head, reading the request body included. Streamed answer
    /// bodies (the poke stream, a snapshot, an attachment) are not counted: they go on as long
    /// as the client reads.
    pub request_timeout: Duration,
    /// The same for an attachment upload or a push, whose body (25 or 16 MiB at most) may take
    /// minutes on a slow link.
    pub upload_timeout: Duration,
    /// Longest request target (path and query) in bytes; longer is a JSON 414.
    pub max_uri_bytes: usize,
    /// Most bytes of header names and values; more is a JSON 431.
    pub max_header_bytes: usize,
    /// Password hashes or verifications (argon2id, 19 MiB each) run at once.
    pub password_permits: usize,
    /// Requests that may wait for a password permit; beyond, a 503 with `Retry-After`.
    pub password_queue: usize,
    /// Reverse proxies whose `X-Forwarded-For` is believed. Empty (the default): the client is
    /// the socket's peer and the header is ignored.
    pub trusted_proxies: Vec<IpAddr>,
}

/// Most header lines a request may have; more is a JSON 431 (hyper itself refuses beyond
/// [`HYPER_MAX_HEADERS`]).
pub const MAX_HEADER_COUNT: usize = 100;

/// Header lines hyper parses before it refuses a request itself, with a bare 431; above
/// [`MAX_HEADER_COUNT`] so that ordinary excess gets the JSON answer.
pub const HYPER_MAX_HEADERS: usize = 200;

impl Limits {
    /// hyper's read buffer, which bounds a request head: room for the largest head this server
    /// answers with a JSON 414 or 431, beyond which hyper answers a bare 431 itself.
    pub fn head_buffer_bytes(&self) -> usize {
        (self.max_uri_bytes + self.max_header_bytes + 16 * 1024).max(64 * 1024)
    }
}

impl Default for Limits {
    fn default() -> Limits {
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Limits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            upload_timeout: Duration::from_secs(15 * 60),
            max_uri_bytes: 8 * 1024,
            max_header_bytes: 16 * 1024,
            password_permits: cpus,
            password_queue: 4 * cpus,
            trusted_proxies: Vec::new(),
        }
    }
}

/// The client's address as the login limits count it (see [`Limits::trusted_proxies`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Set by `bound_requests`; a router driven without `serve` (no peer) counts every
        // request as one unknown client, which limits rather than exempts.
        Ok(parts
            .extensions
            .get::<ClientAddress>()
            .copied()
            .unwrap_or(ClientAddress(IpAddr::V4(Ipv4Addr::UNSPECIFIED))))
    }
}

/// The client behind `peer`: the peer itself unless it is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry not added by a trusted proxy. Entries further left were
/// written by the client and prove nothing.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let is_trusted = |address: &IpAddr| trusted.contains(&address.to_canonical());
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    for entry in entries.iter().rev() {
        let Some(address) = parse_forwarded(entry.trim()) else {
            break;
        };
        client = address.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port (`[v6]:port`, `v4:port`).
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
}

/// Requests whose body may take minutes on a slow link: an attachment upload (up to 25 MiB)
/// and a push (a batch of up to 16 MiB). Within the request timeout, a push over a poor
/// hotel or 3G link would be cut every time and never go through; the body timeout still
/// ends one that stalls.
fn is_upload(request: &Request) -> bool {
    let path = request.uri().path();
    (request.method() == Method::PUT && path.starts_with("/api/v1/attachments/"))
        || (request.method() == Method::POST && path == "/api/v1/sync/push")
}

/// Every request passes here first: a request head over the limits is answered in the JSON
/// shape (414, 431), the client address is settled, the body gets its pause limit, and the
/// answer's head must come within the request timeout (else a 503 with `Retry-After`).
pub async fn bound_requests(
    State(limits): State<Arc<Limits>>,
    mut request: Request,
    next: Next,
) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if target > limits.max_uri_bytes {
        return AppError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!(
                "the request path and query are {target} bytes, more than the {} this server reads",
                limits.max_uri_bytes
            ),
        )
        .into_response();
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > limits.max_header_bytes || request.headers().len() > MAX_HEADER_COUNT {
        return AppError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the request headers are too large: at most {} bytes in at most {MAX_HEADER_COUNT} headers",
                limits.max_header_bytes
            ),
        )
        .into_response();
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
    let client = client_address(peer, request.headers(), &limits.trusted_proxies);
    request.extensions_mut().insert(ClientAddress(client));
    let timeout = if is_upload(&request) {
        limits.upload_timeout
    } else {
        limits.request_timeout
    };
    let body_timeout = limits.body_timeout;
    let request = request.map(|body| {
        axum::body::Body::new(tower_http::timeout::TimeoutBody::new(body_timeout, body))
    });
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(seconds = timeout.as_secs(), "request timed out");
            AppError::busy(
                format!(
                    "the server did not answer within {} s; try again",
                    timeout.as_secs()
                ),
                1,
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let proxy = ip("10.0.0.2");
        let inner_proxy = ip("10.0.0.3");
        let trusted = [proxy, inner_proxy];
        // (peer, X-Forwarded-For headers, trusted proxies, client)
        let cases: &[(&str, &[&str], &[IpAddr], &str)] = &[
            ("198.51.100.9", &["203.0.113.7"], &[], "198.51.100.9"),
            ("198.51.100.9", &["203.0.113.7"], &trusted, "198.51.100.9"),
            ("10.0.0.2", &[], &trusted, "10.0.0.2"),
            ("10.0.0.2", &["203.0.113.7"], &trusted, "203.0.113.7"),
            // The client wrote the left-most entry itself: only the proxy's own is believed.
            (
                "10.0.0.2",
                &["1.2.3.4, 203.0.113.7"],
                &trusted,
                "203.0.113.7",
            ),
            (
                "10.0.0.2",
                &["1.2.3.4", "203.0.113.7"],
                &trusted,
                "203.0.113.7",
            ),
            // Through two trusted proxies.
            (
                "10.0.0.2",
                &["1.2.3.4, 203.0.113.7, 10.0.0.3"],
                &trusted,
                "203.0.113.7",
            ),
            // Garbage stops the walk at the last address known good.
            ("10.0.0.2", &["nonsense"], &trusted, "10.0.0.2"),
            ("10.0.0.2", &["203.0.113.7:4711"], &trusted, "203.0.113.7"),
            ("10.0.0.2", &["[2001:db8::1]:4711"], &trusted, "2001:db8::1"),
            ("::ffff:10.0.0.2", &["203.0.113.7"], &trusted, "203.0.113.7"),
        ];
        for (peer, forwarded, trusted, client) in cases {
            let mut headers = HeaderMap::new();
            for value in *forwarded {
                headers.append("x-forwarded-for", value.parse().unwrap());
            }
            assert_eq!(
                client_address(ip(peer), &headers, trusted),
                ip(client),
                "{peer} {forwarded:?}"
            );
        }
    }
}
