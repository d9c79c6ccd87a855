//! The team's ConnectWise through its sync server, for the CLI and the app: the connection a
//! team admin stores, ticket lookup and search, members. The keys go to the server once, when
//! connecting, and are never kept here.

use std::time::Duration;

use reqwest::Method;
use rf_core::psa::{MappedMember, PsaConnectRequest, PsaConnectionView, TicketSummary};

use crate::Replica;
use crate::client::{ClientOptions, call_server};
use crate::error::{ReplicaError, Result};
use crate::tokens::TokenStore;

/// The server retries ConnectWise itself (for up to its vendor timeout, 30 s by default, per
/// call); a client waits for that rather than giving up first.
pub(crate) fn patient(mut options: ClientOptions) -> ClientOptions {
    options.timeout = options.timeout.max(Duration::from_secs(90));
    options
}

fn answered<T>(answer: Option<T>) -> Result<T> {
    answer.ok_or_else(|| ReplicaError::Offline("the sync server gave an empty answer".into()))
}

/// Stores the team's connection (team admins), once ConnectWise accepts the keys.
pub fn connect(
    replica: &Replica,
    store: &dyn TokenStore,
    client: ClientOptions,
    request: &PsaConnectRequest,
) -> Result<PsaConnectionView> {
    let body = serde_json::to_value(request)
        .map_err(|error| ReplicaError::Invalid(format!("cannot write the request: {error}")))?;
    answered(call_server(
        replica,
        store,
        patient(client),
        Method::PUT,
        "/api/v1/psa/connection",
        &[],
        Some(&body),
    )?)
}

/// The team's connection, without its keys.
pub fn connection(
    replica: &Replica,
    store: &dyn TokenStore,
    client: ClientOptions,
) -> Result<PsaConnectionView> {
    answered(call_server(
        replica,
        store,
        patient(client),
        Method::GET,
        "/api/v1/psa/connection",
        &[],
        None,
    )?)
}

/// One ticket.
pub fn ticket(
    replica: &Replica,
    store: &dyn TokenStore,
    client: ClientOptions,
    id: i64,
) -> Result<TicketSummary> {
    answered(call_server(
        replica,
        store,
        patient(client),
        Method::GET,
        &format!("/api/v1/psa/tickets/{id}"),
        &[],
        None,
    )?)
}

/// ConnectWise's active members, with the team accounts they map to.
pub fn members(
    replica: &Replica,
    store: &dyn TokenStore,
    client: ClientOptions,
) -> Result<Vec<MappedMember>> {
    answered(call_server(
        replica,
        store,
        patient(client),
        Method::GET,
        "/api/v1/psa/members",
        &[],
        None,
    )?)
}

/// Maps the team account with `email` to a ConnectWise member (team admins); `None` goes back
/// to matching by e-mail.
pub fn map_member(
    replica: &Replica,
    store: &dyn TokenStore,
    client: ClientOptions,
    email: &str,
    member: Option<String>,
) -> Result<()> {
    let accounts: Vec<serde_json::Value> = answered(call_server(
        replica,
        store,
        patient(client.clone()),
        Method::GET,
        "/api/v1/users",
        &[],
        None,
    )?)?;
    let account = accounts
        .iter()
        .find(|account| {
            account["email"]
                .as_str()
                .is_some_and(|found| found.eq_ignore_ascii_case(email.trim()))
        })
        .and_then(|account| account["id"].as_str())
        .ok_or_else(|| {
            ReplicaError::Invalid(format!("no account of your team has the e-mail {email:?}"))
        })?
        .to_owned();
    let body = serde_json::json!({ "member_identifier": member });
    call_server::<serde_json::Value>(
        replica,
        store,
        patient(client),
        Method::PUT,
        &format!("/api/v1/psa/members/{account}"),
        &[],
        Some(&body),
    )?;
    Ok(())
}
