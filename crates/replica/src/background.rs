//! Background sync for the desktop app: one worker thread with its own [`Replica`] runs sync
//! rounds when something asks for one, and a second thread listens to the server's poke stream.
//!
//! A round runs:
//! - shortly after a local change (changes within `debounce` of each other are one round),
//! - when the engineer asks (`sync now`), at once, even while backing off,
//! - when the server pokes (a teammate's change),
//! - every `period` regardless, which is also how a lost connection is noticed to be back.
//!
//! After a failed round the next one waits with exponential backoff and jitter (a local change
//! does not cut the wait short; asking does). Nothing here waits on the UI and the UI never
//! waits on the network: the caller hears of each round through `report`.
//!
//! The blocking HTTP client must not run inside an async runtime, so both loops are plain
//! threads. Stopping is best effort for the poke listener: it notices the stop flag when its
//! current wait (at most `period`) ends.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::client::{ClientOptions, SyncReport, Syncer, Wake};
use crate::environment::TokenStoreKind;
use crate::{Replica, ReplicaError, Result};

/// Why a round is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nudge {
    /// Something was written locally: sync soon (debounced).
    LocalChange,
    /// The engineer asked: sync now.
    SyncNow,
    /// The server said the team has changes.
    Poke,
}

/// What the worker tells its owner.
#[derive(Debug)]
pub enum Progress<'a> {
    /// A round started.
    Started,
    /// A round ended.
    Finished(&'a Result<SyncReport>),
    /// The replica is not logged in: no round ran (checked again on every nudge).
    NotLoggedIn,
}

/// How often and how soon.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Quiet time after a local change before its round.
    pub debounce: Duration,
    /// Longest time between rounds, and the longest wait on the poke stream.
    pub period: Duration,
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule {
            debounce: Duration::from_secs(1),
            period: Duration::from_secs(60),
        }
    }
}

/// The running background sync; dropping it stops the worker.
#[derive(Debug)]
pub struct Background {
    nudges: Sender<Nudge>,
    stop: Arc<AtomicBool>,
}

impl Background {
    /// Starts the worker and the poke listener on the replica in `data_dir`, each with its own
    /// connection. Fails only when the replica cannot be opened.
    pub fn spawn(
        data_dir: PathBuf,
        tokens: TokenStoreKind,
        client: ClientOptions,
        schedule: Schedule,
        report: impl FnMut(Progress<'_>) + Send + 'static,
    ) -> Result<Background> {
        let worker_replica = Replica::open(&data_dir)?;
        let listener_replica = Replica::open(&data_dir)?;
        let (nudges, inbox) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            replica: worker_replica,
            tokens,
            client: client.clone(),
            schedule: schedule.clone(),
            inbox,
            stop: stop.clone(),
            syncer: None,
        };
        spawn_thread("rf-sync", move || worker.run(report))?;
        let listener_nudges = nudges.clone();
        let listener_stop = stop.clone();
        spawn_thread("rf-sync-pokes", move || {
            listen_for_pokes(
                listener_replica,
                tokens,
                client,
                schedule.period,
                &listener_nudges,
                &listener_stop,
            );
        })?;
        Ok(Background { nudges, stop })
    }

    /// Asks for a round (see [`Nudge`]). Never blocks.
    pub fn nudge(&self, why: Nudge) {
        // A worker that has stopped has nobody left to sync for.
        let _ = self.nudges.send(why);
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn spawn_thread(name: &str, body: impl FnOnce() + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(body)
        .map(drop)
        .map_err(ReplicaError::io("start the background sync thread", name))
}

/// Whether a round's result says the server answered: `Some(false)` when it could not be
/// reached, `Some(true)` when it answered (even to refuse), `None` when the round failed here
/// before asking.
pub fn reached_server(result: &Result<SyncReport>) -> Option<bool> {
    match result {
        Ok(_) => Some(true),
        Err(ReplicaError::Offline(_)) => Some(false),
        Err(ReplicaError::Server { .. } | ReplicaError::LoginRequired(_)) => Some(true),
        Err(_) => None,
    }
}

struct Worker {
    replica: Replica,
    tokens: TokenStoreKind,
    client: ClientOptions,
    schedule: Schedule,
    inbox: Receiver<Nudge>,
    stop: Arc<AtomicBool>,
    /// Kept between rounds so its connections are reused; rebuilt when the server changes.
    syncer: Option<(String, Syncer)>,
}

impl Worker {
    fn run(mut self, mut report: impl FnMut(Progress<'_>)) {
        let mut failures: u32 = 0;
        // The first round runs at once: the app just started.
        let mut due = Some(Instant::now());
        while !self.stop.load(Ordering::SeqCst) {
            let wait = due.map_or(self.schedule.period, |at| {
                at.saturating_duration_since(Instant::now())
            });
            match self.inbox.recv_timeout(wait) {
                Ok(Nudge::SyncNow | Nudge::Poke) => due = Some(Instant::now()),
                Ok(Nudge::LocalChange) => {
                    // Debounced; and after a failure the backoff stands.
                    let soon = Instant::now() + self.schedule.debounce;
                    due = Some(match due {
                        Some(at) if failures > 0 => at.max(soon),
                        _ => soon,
                    });
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let now = Instant::now();
            if due.is_some_and(|at| at > now) {
                continue;
            }
            // Due (or the period passed with nothing asked): one round.
            match self.round(&mut report) {
                Some(true) => {
                    failures = 0;
                    due = None;
                }
                Some(false) => {
                    failures = failures.saturating_add(1);
                    due = Some(
                        Instant::now()
                            + self.client.backoff_delay(failures).max(
                                // Never spin: at least the debounce between failed rounds.
                                self.schedule.debounce,
                            ),
                    );
                }
                None => due = None,
            }
        }
    }

    /// One round; `Some(succeeded)`, or `None` when not logged in.
    fn round(&mut self, report: &mut impl FnMut(Progress<'_>)) -> Option<bool> {
        let account = match self.replica.sync_account() {
            Ok(Some(account)) => account,
            Ok(None) => {
                report(Progress::NotLoggedIn);
                return None;
            }
            Err(error) => {
                report(Progress::Finished(&Err(error)));
                return Some(false);
            }
        };
        report(Progress::Started);
        let result =
            cached(&mut self.syncer, &account.server_url, &self.client).and_then(|syncer| {
                let store = self.tokens.open(&self.replica)?;
                syncer.sync(&mut self.replica, store.as_ref())
            });
        report(Progress::Finished(&result));
        match result {
            Ok(_) => Some(true),
            // Logging in again is the engineer's move; a round will not fix it.
            Err(ReplicaError::LoginRequired(_)) => None,
            Err(_) => Some(false),
        }
    }
}

/// The sync client for `server_url`, kept between rounds so its connections are reused and
/// made again when the replica is logged in to another server.
fn cached<'a>(
    cache: &'a mut Option<(String, Syncer)>,
    server_url: &str,
    client: &ClientOptions,
) -> Result<&'a Syncer> {
    if cache
        .as_ref()
        .is_none_or(|(url, _)| url.as_str() != server_url)
    {
        *cache = Some((
            server_url.to_string(),
            Syncer::new(server_url, client.clone())?,
        ));
    }
    match cache {
        Some((_, syncer)) => Ok(syncer),
        // Filled just above.
        None => Err(ReplicaError::Invalid("no sync client".into())),
    }
}

fn listen_for_pokes(
    replica: Replica,
    tokens: TokenStoreKind,
    client: ClientOptions,
    period: Duration,
    nudges: &Sender<Nudge>,
    stop: &AtomicBool,
) {
    let mut failures: u32 = 0;
    let mut syncer: Option<(String, Syncer)> = None;
    while !stop.load(Ordering::SeqCst) {
        let account = match replica.sync_account() {
            Ok(Some(account)) => account,
            // Not logged in (yet): look again later.
            Ok(None) | Err(_) => {
                std::thread::sleep(period.min(Duration::from_secs(5)));
                continue;
            }
        };
        let waited = cached(&mut syncer, &account.server_url, &client).and_then(|syncer| {
            let store = tokens.open(&replica)?;
            syncer.wait_for_changes(&replica, store.as_ref(), period)
        });
        match waited {
            Ok(Wake::Poke) => {
                failures = 0;
                if nudges.send(Nudge::Poke).is_err() {
                    return;
                }
            }
            Ok(Wake::Timeout) => failures = 0,
            Err(_) => {
                // Offline, or the login is gone: the worker's rounds say so; just wait.
                failures = failures.saturating_add(1);
                std::thread::sleep(client.backoff_delay(failures).max(Duration::from_secs(1)));
            }
        }
    }
}
