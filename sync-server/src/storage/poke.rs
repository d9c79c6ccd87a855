//! The poke stream: `GET /api/v1/sync/stream` (server-sent events) tells a team's online
//! replicas that there is something new to pull, so a change on one reaches the others in
//! milliseconds instead of at the next timer. A poke carries no data, only the team's latest
//! sequence number: replicas always fetch through `pull`, so a lost or duplicated poke costs at
//! most one extra pull, and a missed one is caught by the replica's periodic sync.
//!
//! Pokes travel inside one server process on a broadcast channel; with PostgreSQL, writes made
//! through other server processes arrive as `NOTIFY rf_sync` and are forwarded to the same
//! channel (`PostgresStore::listen`).

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

/// "Team `team` has changes up to `latest`."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poke {
    pub team: Uuid,
    pub latest: i64,
}

/// The process's poke channel, and the signal that ends every stream at shutdown (a
/// long-lived response would otherwise hold graceful shutdown open for ever).
#[derive(Debug, Clone)]
pub struct Pokes {
    sender: broadcast::Sender<Poke>,
    closing: watch::Sender<bool>,
}

impl Default for Pokes {
    fn default() -> Pokes {
        Pokes::new()
    }
}

impl Pokes {
    pub fn new() -> Pokes {
        let (sender, _) = broadcast::channel(1_024);
        let (closing, _) = watch::channel(false);
        Pokes { sender, closing }
    }

    /// Tells the team's open streams; nobody listening is fine.
    pub fn send(&self, poke: Poke) {
        let _ = self.sender.send(poke);
    }

    /// Ends every open stream (graceful shutdown).
    pub fn close(&self) {
        let _ = self.closing.send(true);
    }

    /// Listens from now on; take this before reading the team's latest number for
    /// [`Pokes::stream`], so no change falls between the two.
    pub fn subscribe(&self) -> broadcast::Receiver<Poke> {
        self.sender.subscribe()
    }

    /// The SSE response for one member of `team`: a `ready` event with the team's `latest`
    /// number first (a client that is behind pulls at once, so nothing made while it connected
    /// is missed), then a `poke` for each change of the team, and keep-alive comments every
    /// 15 s.
    pub fn stream(
        &self,
        team: Uuid,
        latest: i64,
        receiver: broadcast::Receiver<Poke>,
    ) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
        let closing = self.closing.subscribe();
        let state = (receiver, closing, true);
        let events = futures_util::stream::unfold(
            state,
            move |(mut receiver, mut closing, first)| async move {
                if first {
                    let ready = Event::default()
                        .event("ready")
                        .data(format!("{{\"latest\":{latest}}}"));
                    return Some((Ok(ready), (receiver, closing, false)));
                }
                loop {
                    if *closing.borrow() {
                        return None;
                    }
                    tokio::select! {
                        message = receiver.recv() => match message {
                            Ok(poke) if poke.team == team => {
                                let event = Event::default()
                                    .event("poke")
                                    .data(format!("{{\"latest\":{}}}", poke.latest));
                                return Some((Ok(event), (receiver, closing, false)));
                            }
                            Ok(_) => continue,
                            // Fell behind: some pokes were dropped; one poke makes the client pull.
                            Err(broadcast::error::RecvError::Lagged(_)) => {
                                let event = Event::default().event("poke").data("{\"latest\":null}");
                                return Some((Ok(event), (receiver, closing, false)));
                            }
                            Err(broadcast::error::RecvError::Closed) => return None,
                        },
                        _ = closing.changed() => return None,
                    }
                }
            },
        );
        Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
    }
}
