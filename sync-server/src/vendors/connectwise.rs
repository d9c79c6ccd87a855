//! A thin client of the ConnectWise Manage REST API (version 2025.8), for one team's
//! connection: codebase discovery from a site, the headers every call carries (the vendor's
//! media type pinning the API version, `Authorization: Basic base64(company+public:private)`,
//! `clientId`), retries (429 after its `Retry-After`, 5xx and lost connections with
//! exponential backoff and jitter, never a 4xx, and never a request that may have changed
//! something unless the caller says it is safe to send again), and the vendor's errors turned
//! into words an engineer can act on. No maintained Rust crate covers this API.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use rf_core::psa::{NoteFlag, PsaMember, SystemInfo, TicketCompany, TicketSummary};

use crate::domain::psa::PsaConnection;

/// The media type every call accepts: it pins the API version the server was written for.
pub const ACCEPT: &str = "application/vnd.connectwise.com+json; version=2025.8";

/// The longest ConnectWise's own words are passed on.
const MAX_VENDOR_MESSAGE: usize = 300;

/// Why a call to ConnectWise did not give what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PsaError {
    #[error("{0}")]
    BadAddress(String),
    #[error(
        "ConnectWise has no company {0:?} at this site; check the company id you sign in to ConnectWise with"
    )]
    UnknownCompany(String),
    #[error(
        "ConnectWise refused the team's API keys (401): a team admin should check the company id and the API member's public and private keys and connect again"
    )]
    CredentialsRefused,
    #[error(
        "ConnectWise refused this to the team's API member (403{detail}): give the member's security role the right to it"
    )]
    Forbidden { detail: String },
    #[error("{0}")]
    NotFound(String),
    #[error("ConnectWise refused the request ({status}{detail})")]
    Refused { status: u16, detail: String },
    #[error("ConnectWise is limiting the team's requests (429); try again in {retry_after} s")]
    Busy { retry_after: u64 },
    #[error("ConnectWise cannot be reached or is failing ({0}); try again later")]
    Unavailable(String),
    /// The request went out and no answer came back: it may or may not have taken effect.
    #[error("ConnectWise did not answer ({0}); the request may or may not have been applied")]
    Ambiguous(String),
    #[error("ConnectWise answered in a way this server does not understand ({0})")]
    BadAnswer(String),
}

/// How calls are retried: Anthropic's and ConnectWise's SDKs both start at half a second and
/// double to a cap, with jitter.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` waited for; a longer one ends the call as [`PsaError::Busy`].
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            retries: 2,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `retry` (0 for the first), with up to a quarter off.
    pub fn backoff(&self, retry: u32) -> Duration {
        let full = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max_delay);
        let jitter = rand::random_range(0.0..0.25);
        full.mul_f64(1.0 - jitter)
    }
}

/// Whether a host is this machine (only then may an upstream be plain HTTP, and only when the
/// server allows loopback upstreams at all: tests and local stand-ins).
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// Checks an upstream address: https, or http to a loopback host when `allow_loopback`; a
/// loopback host is refused otherwise (a team admin must not point the server at its own
/// machine's services). No user name or password in it, no query, no fragment.
pub fn upstream_url(given: &str, allow_loopback: bool) -> Result<Url, PsaError> {
    let bad = |why: &str| {
        PsaError::BadAddress(format!(
            "{given:?} {why}; give an https address such as https://api-na.myconnectwise.net/v4_6_release/apis/3.0/"
        ))
    };
    let url = Url::parse(given.trim()).map_err(|_| bad("is not a web address"))?;
    let host = url.host_str().ok_or_else(|| bad("names no host"))?;
    let loopback = is_loopback(host);
    if loopback && !allow_loopback {
        return Err(bad(
            "points at the server's own machine, which this server does not allow",
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(bad("is not https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "carries a user name or password; the keys are given apart",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("has a query or fragment"));
    }
    Ok(url)
}

/// The REST API's base from what a team admin gives: the address ends in `/apis/3.0/`.
pub fn api_base(given: &str, allow_loopback: bool) -> Result<Url, PsaError> {
    let mut url = upstream_url(given, allow_loopback)?;
    let path = url.path().trim_end_matches('/').to_owned();
    if !path.ends_with("/apis/3.0") {
        return Err(PsaError::BadAddress(format!(
            "{given:?} is not the REST API's address, which ends in /apis/3.0/ (like https://api-na.myconnectwise.net/v4_6_release/apis/3.0/); or give the site with --site"
        )));
    }
    url.set_path(&format!("{path}/"));
    Ok(url)
}

/// The site a team admin names (`na.myconnectwise.net`, `cw.example.com:8443`): a host and an
/// optional port, nothing else.
pub fn site_url(site: &str, allow_loopback: bool) -> Result<Url, PsaError> {
    let site = site.trim().trim_end_matches('/');
    if site.is_empty() || site.contains(['/', '?', '#', '@', ' ']) || site.contains("://") {
        return Err(PsaError::BadAddress(format!(
            "{site:?} is not a ConnectWise site; give its host name alone, like na.myconnectwise.net"
        )));
    }
    let host = site.rsplit_once(':').map_or(site, |(host, _)| host);
    let scheme = if is_loopback(host) { "http" } else { "https" };
    upstream_url(&format!("{scheme}://{site}/"), allow_loopback)
}

/// The part of `/login/companyinfo/{company}` discovery reads.
#[derive(Debug, Deserialize)]
struct CompanyInfo {
    #[serde(rename = "Codebase")]
    codebase: Option<String>,
}

/// What a caller may do again after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// Reads: any failure in transit or 5xx may be retried.
    Safe,
    /// Writes: only what surely did not reach ConnectWise (a refused connection, a 429) is
    /// retried; a lost answer or a 5xx is [`PsaError::Ambiguous`], for the caller to settle.
    OnlyIfUnsent,
}

/// Finds the REST API of a company's site: `GET https://{site}/login/companyinfo/{company}`
/// names its codebase (`v4_6_release/`), and the API is `https://{site}/{codebase}apis/3.0/`.
pub async fn discover(
    http: &reqwest::Client,
    site: &str,
    company: &str,
    allow_loopback: bool,
) -> Result<Url, PsaError> {
    let site = site_url(site, allow_loopback)?;
    let info_url = site
        .join(&format!(
            "login/companyinfo/{}",
            utf8_percent_encode_path(company)
        ))
        .map_err(|error| PsaError::BadAddress(error.to_string()))?;
    let response = http
        .get(info_url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|error| PsaError::Unavailable(transport(&error)))?;
    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        return Err(PsaError::UnknownCompany(company.to_owned()));
    }
    if !status.is_success() {
        return Err(PsaError::Unavailable(format!(
            "the site answered {status} to the company lookup"
        )));
    }
    // ConnectWise answers an unknown company with 200 and an empty body or no codebase.
    let text = response
        .text()
        .await
        .map_err(|error| PsaError::Unavailable(transport(&error)))?;
    let info: Option<CompanyInfo> = serde_json::from_str(&text).ok();
    let codebase = info
        .and_then(|info| info.codebase)
        .map(|codebase| codebase.trim_matches('/').to_owned())
        .filter(|codebase| {
            !codebase.is_empty()
                && codebase
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        })
        .ok_or_else(|| PsaError::UnknownCompany(company.to_owned()))?;
    site.join(&format!("{codebase}/apis/3.0/"))
        .map_err(|error| PsaError::BadAddress(error.to_string()))
}

/// A path segment with everything but unreserved characters percent-encoded.
fn utf8_percent_encode_path(segment: &str) -> String {
    let mut out = String::new();
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A transport failure in words, without the URL (which the caller knows).
fn transport(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "no answer in time".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "the connection failed".to_owned()
    }
}

/// ConnectWise's error body, `{"code", "message", "errors": [{"message", …}]}`.
#[derive(Debug, Deserialize)]
struct VendorError {
    message: Option<String>,
    #[serde(default)]
    errors: Vec<VendorErrorItem>,
}

#[derive(Debug, Deserialize)]
struct VendorErrorItem {
    message: Option<String>,
}

/// The vendor's words from an error body, cleaned and shortened, as `: words` (or nothing).
fn vendor_detail(body: &str) -> String {
    let Ok(error) = serde_json::from_str::<VendorError>(body) else {
        return String::new();
    };
    let mut words: Vec<String> = error.message.into_iter().collect();
    words.extend(error.errors.into_iter().filter_map(|item| item.message));
    let joined: String = words
        .join("; ")
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_VENDOR_MESSAGE)
        .collect();
    if joined.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", joined.trim())
    }
}

/// Seconds from a `Retry-After` header (seconds only; ConnectWise sends seconds).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// One team's ConnectWise, for the length of one request to our server.
#[derive(Debug)]
pub struct ConnectWise<'a> {
    http: &'a reqwest::Client,
    base: Url,
    authorization: String,
    client_id: String,
    policy: &'a RetryPolicy,
}

impl<'a> ConnectWise<'a> {
    pub fn new(
        http: &'a reqwest::Client,
        connection: &PsaConnection,
        policy: &'a RetryPolicy,
        allow_loopback: bool,
    ) -> Result<ConnectWise<'a>, PsaError> {
        let base = api_base(&connection.api_url, allow_loopback)?;
        let credentials = format!(
            "{}+{}:{}",
            connection.company_id, connection.keys.public_key, connection.keys.private_key
        );
        Ok(ConnectWise {
            http,
            base,
            authorization: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            ),
            client_id: connection.client_id.clone(),
            policy,
        })
    }

    /// Sends one call, retried as [`Resend`] allows, and reads its JSON answer. `what` names
    /// the thing asked for in a 404's words ("ticket 123").
    pub async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        resend: Resend,
        what: &str,
    ) -> Result<T, PsaError> {
        let url = self
            .base
            .join(path)
            .map_err(|error| PsaError::BadAddress(error.to_string()))?;
        let mut retry = 0;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(reqwest::header::ACCEPT, ACCEPT)
                .header(reqwest::header::AUTHORIZATION, &self.authorization)
                .header("clientId", &self.client_id);
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let failure = match request.send().await {
                Err(error) => {
                    let unsent = error.is_connect();
                    if resend == Resend::OnlyIfUnsent && !unsent {
                        return Err(PsaError::Ambiguous(transport(&error)));
                    }
                    PsaError::Unavailable(transport(&error))
                }
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let text = match response.text().await {
                        Ok(text) => text,
                        Err(error) if resend == Resend::OnlyIfUnsent && status.is_success() => {
                            return Err(PsaError::Ambiguous(transport(&error)));
                        }
                        Err(error) => {
                            // A read failure is retried like a lost connection.
                            if retry < self.policy.retries {
                                tokio::time::sleep(self.policy.backoff(retry)).await;
                                retry += 1;
                                continue;
                            }
                            return Err(PsaError::Unavailable(transport(&error)));
                        }
                    };
                    if status.is_success() {
                        return serde_json::from_str(&text).map_err(|error| {
                            PsaError::BadAnswer(format!(
                                "{status} with a body that does not read: {error}"
                            ))
                        });
                    }
                    match status {
                        StatusCode::TOO_MANY_REQUESTS => {
                            let wait = retry_after(&headers).unwrap_or(1);
                            if retry < self.policy.retries
                                && Duration::from_secs(wait) <= self.policy.max_retry_after
                            {
                                tokio::time::sleep(Duration::from_secs(wait)).await;
                                retry += 1;
                                continue;
                            }
                            return Err(PsaError::Busy { retry_after: wait });
                        }
                        StatusCode::UNAUTHORIZED => return Err(PsaError::CredentialsRefused),
                        StatusCode::FORBIDDEN => {
                            return Err(PsaError::Forbidden {
                                detail: vendor_detail(&text),
                            });
                        }
                        StatusCode::NOT_FOUND => {
                            return Err(PsaError::NotFound(format!(
                                "ConnectWise has no {what}, or the team's API member cannot see it"
                            )));
                        }
                        status if status.is_server_error() => {
                            if resend == Resend::OnlyIfUnsent {
                                return Err(PsaError::Ambiguous(format!("{status}")));
                            }
                            PsaError::Unavailable(format!("{status}{}", vendor_detail(&text)))
                        }
                        status => {
                            return Err(PsaError::Refused {
                                status: status.as_u16(),
                                detail: vendor_detail(&text),
                            });
                        }
                    }
                }
            };
            if retry >= self.policy.retries {
                return Err(failure);
            }
            tokio::time::sleep(self.policy.backoff(retry)).await;
            retry += 1;
        }
    }

    /// The server's version: the call a new connection is checked with.
    pub async fn system_info(&self) -> Result<SystemInfo, PsaError> {
        self.call(
            Method::GET,
            "system/info",
            &[],
            None,
            Resend::Safe,
            "system information",
        )
        .await
    }

    pub async fn ticket(&self, id: i64) -> Result<TicketSummary, PsaError> {
        let ticket: VendorTicket = self
            .call(
                Method::GET,
                &format!("service/tickets/{id}"),
                &[],
                None,
                Resend::Safe,
                &format!("ticket {id}"),
            )
            .await?;
        Ok(ticket.summary())
    }

    /// Tickets matching `query`, newest first, at most `limit` (1 to 100).
    pub async fn search_tickets(
        &self,
        query: &TicketQuery,
        limit: u32,
    ) -> Result<Vec<TicketSummary>, PsaError> {
        let mut parameters = vec![
            ("orderBy", "id desc".to_owned()),
            ("pageSize", limit.clamp(1, 100).to_string()),
        ];
        let conditions = query.conditions();
        if !conditions.is_empty() {
            parameters.push(("conditions", conditions));
        }
        let tickets: Vec<VendorTicket> = self
            .call(
                Method::GET,
                "service/tickets",
                &parameters,
                None,
                Resend::Safe,
                "ticket list",
            )
            .await?;
        Ok(tickets.into_iter().map(VendorTicket::summary).collect())
    }

    /// Adds a note to a ticket with these flags; its id. Never resent once it may have
    /// reached ConnectWise: a lost answer is [`PsaError::Ambiguous`].
    pub async fn post_note(
        &self,
        ticket: i64,
        text: &str,
        flags: &[NoteFlag],
    ) -> Result<i64, PsaError> {
        let note: VendorNote = self
            .call(
                Method::POST,
                &format!("service/tickets/{ticket}/notes"),
                &[],
                Some(&serde_json::json!({
                    "text": text,
                    "internalAnalysisFlag": flags.contains(&NoteFlag::Internal),
                    "detailDescriptionFlag": flags.contains(&NoteFlag::Discussion),
                    "resolutionFlag": flags.contains(&NoteFlag::Resolution),
                })),
                Resend::OnlyIfUnsent,
                &format!("ticket {ticket}"),
            )
            .await?;
        Ok(note.id)
    }

    /// The note of this ticket whose text holds `marker`, among its latest 100 (ConnectWise
    /// is asked for notes containing it, and each note's text is checked again here).
    pub async fn find_marker(&self, ticket: i64, marker: &str) -> Result<Option<i64>, PsaError> {
        let notes: Vec<VendorNote> = self
            .call(
                Method::GET,
                &format!("service/tickets/{ticket}/notes"),
                &[
                    ("conditions", format!("text contains {}", quoted(marker))),
                    ("orderBy", "id desc".to_owned()),
                    ("pageSize", "100".to_owned()),
                ],
                None,
                Resend::Safe,
                &format!("ticket {ticket}"),
            )
            .await?;
        Ok(notes
            .into_iter()
            .find(|note| {
                note.text
                    .as_deref()
                    .is_some_and(|text| text.contains(marker))
            })
            .map(|note| note.id))
    }

    /// Sets a ticket's status by name (one of its board's statuses). Setting it twice does no
    /// harm, so it is retried like a read.
    pub async fn set_status(&self, ticket: i64, status: &str) -> Result<(), PsaError> {
        let _: serde_json::Value = self
            .call(
                Method::PATCH,
                &format!("service/tickets/{ticket}"),
                &[],
                Some(&serde_json::json!([
                    {"op": "replace", "path": "status", "value": {"name": status}}
                ])),
                Resend::Safe,
                &format!("ticket {ticket}"),
            )
            .await?;
        Ok(())
    }

    /// The identifier of the active member whose primary e-mail is `email`, if one is.
    pub async fn member_by_email(&self, email: &str) -> Result<Option<String>, PsaError> {
        let found: Vec<VendorMember> = self
            .call(
                Method::GET,
                "system/members",
                &[
                    (
                        "conditions",
                        format!("primaryEmail = {} and inactiveFlag = false", quoted(email)),
                    ),
                    ("pageSize", "2".to_owned()),
                ],
                None,
                Resend::Safe,
                "member list",
            )
            .await?;
        Ok(found
            .into_iter()
            .filter_map(VendorMember::member)
            .find(|member| {
                member
                    .email
                    .as_deref()
                    .is_some_and(|found| found.eq_ignore_ascii_case(email))
            })
            .map(|member| member.identifier))
    }

    /// Records `member`'s time on a ticket; the entry's id. Never resent once it may have
    /// landed (a lost answer is [`PsaError::Ambiguous`]).
    pub async fn create_time_entry(
        &self,
        ticket: i64,
        member: &str,
        time: &rf_core::psa::PostTime,
        notes: &str,
    ) -> Result<i64, PsaError> {
        let entry: VendorNote = self
            .call(
                Method::POST,
                "time/entries",
                &[],
                Some(&serde_json::json!({
                    "chargeToId": ticket,
                    "chargeToType": "ServiceTicket",
                    "member": {"identifier": member},
                    "timeStart": time.start,
                    "timeEnd": time.end,
                    "notes": notes,
                    "addToDetailDescriptionFlag": false,
                    "addToInternalAnalysisFlag": false,
                    "addToResolutionFlag": false,
                })),
                Resend::OnlyIfUnsent,
                &format!("ticket {ticket}"),
            )
            .await?;
        Ok(entry.id)
    }

    /// The time entry on this ticket whose notes hold `marker`, among its latest 50.
    pub async fn find_time_entry(
        &self,
        ticket: i64,
        marker: &str,
    ) -> Result<Option<i64>, PsaError> {
        let entries: Vec<VendorTimeEntry> = self
            .call(
                Method::GET,
                "time/entries",
                &[
                    (
                        "conditions",
                        format!(
                            "chargeToId = {ticket} and chargeToType = \"ServiceTicket\" and notes contains {}",
                            quoted(marker)
                        ),
                    ),
                    ("orderBy", "id desc".to_owned()),
                    ("pageSize", "50".to_owned()),
                ],
                None,
                Resend::Safe,
                &format!("ticket {ticket}"),
            )
            .await?;
        Ok(entries
            .into_iter()
            .find(|entry| {
                entry
                    .notes
                    .as_deref()
                    .is_some_and(|notes| notes.contains(marker))
            })
            .map(|entry| entry.id))
    }

    /// The active members, every page of them (at most 10,000).
    pub async fn members(&self) -> Result<Vec<PsaMember>, PsaError> {
        const PAGE: usize = 1000;
        let mut members = Vec::new();
        for page in 1..=10 {
            let batch: Vec<VendorMember> = self
                .call(
                    Method::GET,
                    "system/members",
                    &[
                        ("conditions", "inactiveFlag = false".to_owned()),
                        ("orderBy", "identifier".to_owned()),
                        ("pageSize", PAGE.to_string()),
                        ("page", page.to_string()),
                    ],
                    None,
                    Resend::Safe,
                    "member list",
                )
                .await?;
            let full = batch.len() == PAGE;
            members.extend(batch.into_iter().filter_map(VendorMember::member));
            if !full {
                break;
            }
        }
        Ok(members)
    }
}

/// The quoted form of a value in a `conditions` expression: in double quotes, a backslash or
/// a double quote inside escaped with a backslash, control characters dropped.
pub fn quoted(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars().filter(|c| !c.is_control()) {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A ticket search, turned into ConnectWise's `conditions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// Words the summary contains.
    pub summary: Option<String>,
    /// The company's identifier (`ACME`) or name.
    pub company: Option<String>,
    /// The board's name.
    pub board: Option<String>,
    /// Open tickets only (`closedFlag = false`); all tickets when false or left out.
    pub open: Option<bool>,
}

impl TicketQuery {
    pub fn conditions(&self) -> String {
        let mut parts = Vec::new();
        let given = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(quoted)
        };
        if let Some(summary) = given(&self.summary) {
            parts.push(format!("summary contains {summary}"));
        }
        if let Some(company) = given(&self.company) {
            parts.push(format!(
                "(company/identifier = {company} or company/name contains {company})"
            ));
        }
        if let Some(board) = given(&self.board) {
            parts.push(format!("board/name = {board}"));
        }
        if self.open == Some(true) {
            parts.push("closedFlag = false".to_owned());
        }
        parts.join(" and ")
    }
}

/// A reference as ConnectWise writes them (`{"id", "name", "identifier", "_info"}`); any part
/// may be missing or null.
#[derive(Debug, Clone, Default, Deserialize)]
struct VendorRef {
    id: Option<i64>,
    name: Option<String>,
    identifier: Option<String>,
}

#[derive(Debug, Deserialize)]
struct VendorTicket {
    id: i64,
    summary: Option<String>,
    company: Option<VendorRef>,
    contact: Option<VendorRef>,
    #[serde(rename = "contactName")]
    contact_name: Option<String>,
    #[serde(rename = "contactEmailAddress")]
    contact_email: Option<String>,
    board: Option<VendorRef>,
    status: Option<VendorRef>,
    priority: Option<VendorRef>,
    #[serde(rename = "closedFlag")]
    closed: Option<bool>,
}

impl VendorTicket {
    fn summary(self) -> TicketSummary {
        let name = |reference: Option<VendorRef>| reference.and_then(|reference| reference.name);
        TicketSummary {
            id: self.id,
            summary: self.summary.unwrap_or_default(),
            company: self.company.map(|company| TicketCompany {
                id: company.id,
                identifier: company.identifier,
                name: company.name,
            }),
            contact: self.contact_name.or_else(|| name(self.contact)),
            contact_email: self.contact_email,
            board: name(self.board),
            status: name(self.status),
            priority: name(self.priority),
            closed: self.closed.unwrap_or(false),
        }
    }
}

#[derive(Debug, Deserialize)]
struct VendorTimeEntry {
    id: i64,
    notes: Option<String>,
}

#[derive(Debug, Deserialize)]
struct VendorNote {
    id: i64,
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct VendorMember {
    id: Option<i64>,
    identifier: Option<String>,
    #[serde(rename = "firstName")]
    first_name: Option<String>,
    #[serde(rename = "lastName")]
    last_name: Option<String>,
    #[serde(rename = "primaryEmail")]
    primary_email: Option<String>,
}

impl VendorMember {
    fn member(self) -> Option<PsaMember> {
        let name = [self.first_name, self.last_name]
            .into_iter()
            .flatten()
            .map(|part| part.trim().to_owned())
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        Some(PsaMember {
            id: self.id?,
            identifier: self.identifier?,
            name,
            email: self.primary_email.filter(|email| email.contains('@')),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_addresses_are_https_and_loopback_only_when_allowed() {
        assert!(
            upstream_url(
                "https://api-na.myconnectwise.net/v4_6_release/apis/3.0/",
                false
            )
            .is_ok()
        );
        for refused in [
            "http://api-na.myconnectwise.net/",
            "ftp://example.com/",
            "https://127.0.0.1/",
            "https://localhost/",
            "https://[::1]/",
            "https://user:pass@example.com/",
            "https://example.com/?x=1",
            "not a url",
        ] {
            assert!(upstream_url(refused, false).is_err(), "{refused}");
        }
        assert!(upstream_url("http://127.0.0.1:8080/", true).is_ok());
        assert!(upstream_url("http://localhost:8080/", true).is_ok());
        assert!(upstream_url("http://example.com/", true).is_err());
    }

    #[test]
    fn the_api_base_ends_in_apis_3_0_with_one_slash() {
        assert_eq!(
            api_base("https://cw.example.com/v4_6_release/apis/3.0", false)
                .unwrap()
                .as_str(),
            "https://cw.example.com/v4_6_release/apis/3.0/"
        );
        assert!(api_base("https://cw.example.com/", false).is_err());
        assert_eq!(
            site_url("na.myconnectwise.net", false).unwrap().as_str(),
            "https://na.myconnectwise.net/"
        );
        assert_eq!(
            site_url("127.0.0.1:4010", true).unwrap().as_str(),
            "http://127.0.0.1:4010/"
        );
        for refused in ["https://na.myconnectwise.net", "a/b", "", "x y"] {
            assert!(site_url(refused, true).is_err(), "{refused}");
        }
    }

    #[test]
    fn conditions_quote_and_escape_every_value() {
        assert_eq!(quoted(r#"say "hi" \ bye"#), r#""say \"hi\" \\ bye""#);
        let query = TicketQuery {
            summary: Some("DNS \"down\"".into()),
            company: Some("ACME".into()),
            board: Some(" ".into()),
            open: Some(true),
        };
        assert_eq!(
            query.conditions(),
            r#"summary contains "DNS \"down\"" and (company/identifier = "ACME" or company/name contains "ACME") and closedFlag = false"#
        );
        assert_eq!(TicketQuery::default().conditions(), "");
    }

    #[test]
    fn vendor_errors_are_read_cleaned_and_shortened() {
        let body = r#"{"code":"InvalidObject","message":"Ticket object is invalid","errors":[{"code":"Required","message":"company is required\u0007","resource":"ticket","field":"company"}]}"#;
        assert_eq!(
            vendor_detail(body),
            ": Ticket object is invalid; company is required"
        );
        assert_eq!(vendor_detail("<html>"), "");
        let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(5000));
        assert_eq!(vendor_detail(&long).len(), 2 + MAX_VENDOR_MESSAGE);
    }

    #[test]
    fn backoff_doubles_to_its_cap_with_at_most_a_quarter_off() {
        let policy = RetryPolicy::default();
        for (retry, full) in [(0, 500), (1, 1000), (2, 2000), (5, 8000), (30, 8000)] {
            let pause = policy.backoff(retry).as_millis();
            assert!(pause <= full && pause >= full * 3 / 4, "{retry}: {pause}");
        }
    }
}
