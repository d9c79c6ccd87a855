//! Passwords (argon2id) and tokens. Tokens are 256 random bits, shown to the client once and
//! stored only as SHA-256 hashes; the prefixes (`rfa_`, `rfr_`) let secret scanners spot leaks.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, TryAcquireError};

use crate::domain::error::{StoreError, StoreResult};

pub const MIN_PASSWORD_CHARS: usize = 12;

/// Working memory of argon2 (19 MiB per hash with the defaults), kept for the next hash
/// instead of freed. Freed, it went back to whichever allocator arena the blocking thread
/// used, and glibc kept most of it: the server's resident memory grew by about a hundred MiB
/// with every burst of logins even with few hashes at once (docs/PERFORMANCE.md). Reused, it
/// is allocated once per hash running at once, which `PasswordWork` bounds.
static ARGON2_MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// Most working memories kept; more only exist while more hashes run at once than this.
const MAX_KEPT_MEMORIES: usize = 16;

/// argon2 of `password` and `salt` into `out`, in reused working memory.
fn argon2_into(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let blocks_needed = argon2.params().block_count();
    let kept = ARGON2_MEMORY
        .lock()
        .ok()
        .and_then(|mut kept| kept.pop())
        .filter(|blocks| blocks.len() == blocks_needed);
    let mut blocks = kept.unwrap_or_else(|| vec![Block::default(); blocks_needed]);
    let result = argon2.hash_password_into_with_memory(password, salt, out, &mut blocks[..]);
    if let Ok(mut kept) = ARGON2_MEMORY.lock()
        && kept.len() < MAX_KEPT_MEMORIES
    {
        kept.push(blocks);
    }
    result
}

/// Hashes a password with argon2id (the crate's defaults: 19 MiB, 2 passes) into a PHC string.
/// Slow on purpose: call it from a blocking thread (through `PasswordWork` in the server).
pub fn hash_password(password: &str) -> StoreResult<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(StoreError::Invalid(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    let internal = |what: &str, error: &dyn std::fmt::Display| {
        StoreError::Internal(format!("cannot {what}: {error}"))
    };
    let mut salt_bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut salt_bytes);
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|error| internal("encode a salt", &error))?;
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(&argon2, password.as_bytes(), &salt_bytes, &mut out)
        .map_err(|error| internal("hash the password", &error))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)
            .map_err(|error| internal("write the parameters", &error))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|error| internal("encode the hash", &error))?),
    };
    Ok(hash.to_string())
}

/// A hash of no one's password, checked when the e-mail is unknown so that a wrong e-mail takes
/// as long as a wrong password and answers cannot reveal which accounts exist.
static DUMMY_HASH: LazyLock<Option<String>> =
    LazyLock::new(|| hash_password("not-a-password-of-anyone").ok());

/// Whether `password` hashes to the PHC string `stored` (any argon2 variant, version and
/// parameters it names), compared in constant time.
fn matches_hash(password: &str, stored: &str) -> bool {
    let check = || -> Option<bool> {
        let parsed = PasswordHash::new(stored).ok()?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = match parsed.version {
            Some(version) => Version::try_from(version).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&parsed).ok()?;
        let expected = parsed.hash?;
        let mut salt_buffer = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt_buffer).ok()?;
        let mut out = vec![0u8; expected.len()];
        argon2_into(
            &Argon2::new(algorithm, version, params),
            password.as_bytes(),
            salt,
            &mut out,
        )
        .ok()?;
        // `Output`'s equality is constant-time.
        Some(Output::new(&out).ok()? == expected)
    };
    check().unwrap_or(false)
}

/// True when `password` matches `hash`; with no hash, spends the same time and says no.
pub fn verify_password(password: &str, hash: Option<&str>) -> bool {
    match hash {
        Some(hash) => matches_hash(password, hash),
        None => {
            if let Some(dummy) = DUMMY_HASH.as_deref() {
                matches_hash(password, dummy);
            }
            false
        }
    }
}

/// A new token with its kind prefix.
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Why password work did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordWorkError {
    /// Every permit is taken and the queue is full: answer 503 and let the client come back.
    Busy,
    /// The hashing thread panicked.
    Failed,
}

/// Hashing and verifying passwords (argon2id, 19 MiB and tens of milliseconds each), at most
/// `permits` at a time on blocking threads, with at most `queue` more callers waiting for a
/// permit. Beyond that a caller is refused at once ([`PasswordWorkError::Busy`]), so a burst of
/// logins costs a bounded amount of memory and answers quickly instead of piling up.
#[derive(Debug)]
pub struct PasswordWork {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
}

/// Leaves the queue when dropped, including when the waiting request is cancelled.
struct LeaveQueue<'a>(&'a AtomicUsize);

impl Drop for LeaveQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PasswordWork {
    pub fn new(permits: usize, queue: usize) -> PasswordWork {
        PasswordWork {
            permits: Arc::new(Semaphore::new(permits.max(1))),
            waiting: AtomicUsize::new(0),
            queue,
        }
    }

    /// Runs `work` on a blocking thread once a permit is free. The permit moves into the thread,
    /// so a request that is cancelled meanwhile (client gone, request timeout) still holds it
    /// until its hash is done: the cap counts hashes, not requests.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordWorkError> {
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Err(PasswordWorkError::Busy),
            Err(TryAcquireError::NoPermits) => {
                let place = self.waiting.fetch_add(1, Ordering::SeqCst);
                let _leave = LeaveQueue(&self.waiting);
                if place >= self.queue {
                    return Err(PasswordWorkError::Busy);
                }
                Arc::clone(&self.permits)
                    .acquire_owned()
                    .await
                    .map_err(|_| PasswordWorkError::Busy)?
            }
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|_| PasswordWorkError::Failed)
    }
}

/// How failed logins are slowed down. Two limits, both answered 429 with a `Retry-After` of a
/// few seconds, and neither a lockout:
/// - per account and client address, an exponential backoff on failures: after
///   `free_failures`, each further failure doubles the wait before that address may try that
///   account again, from `first_delay` up to `max_delay`. It is counted per address so that an
///   attacker failing an account delays only themselves: the account's owner, elsewhere, logs
///   in at once, and even from the attacker's own address within `max_delay`.
/// - per client address, a token bucket against password spraying (one guess against many
///   accounts): `address_burst` attempts at once, then one more every `address_refill`. A
///   successful login gives its token back, so an office behind one address is not limited
///   by its own people logging in.
#[derive(Debug, Clone)]
pub struct LoginLimits {
    pub free_failures: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// An account and address quiet for this long start again from no failures.
    pub forget_after: Duration,
    pub address_burst: u32,
    pub address_refill: Duration,
}

impl Default for LoginLimits {
    fn default() -> LoginLimits {
        LoginLimits {
            free_failures: 3,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(4),
            forget_after: Duration::from_secs(15 * 60),
            address_burst: 20,
            address_refill: Duration::from_secs(3),
        }
    }
}

/// Client addresses as the limits count them: IPv6 by /64, the block one subscriber gets, so
/// that an attacker cannot get a fresh bucket per address of their own network.
fn address_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        v4 => v4,
    }
}

/// An e-mail as the limits count it: a fixed-size digest of its lowercase form, so a flood of
/// long made-up e-mails costs the maps no more than short ones.
fn account_key(email: &str) -> [u8; 16] {
    let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    failures: u32,
    last_failure: Instant,
    next_attempt: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Entries each map keeps; beyond, stale ones are swept and then arbitrary ones dropped, so a
/// flood of made-up e-mails or addresses cannot grow memory. Dropping an entry only forgets
/// failures, which helps a user, never locks one out.
const MAX_TRACKED: usize = 100_000;

/// Keeps `map` below [`MAX_TRACKED`] before an insert: the entries `stale` says are worthless
/// go first, then arbitrary ones down to nine tenths, so sweeping is rare.
fn make_room<K: Clone + Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    stale: impl Fn(&V) -> bool,
) {
    if map.len() < MAX_TRACKED {
        return;
    }
    map.retain(|_, value| !stale(value));
    let target = MAX_TRACKED / 10 * 9;
    if map.len() > target {
        let excess: Vec<K> = map.keys().take(map.len() - target).cloned().collect();
        for key in excess {
            map.remove(&key);
        }
    }
}

/// The login limits' state (in memory: a restart forgets, which only ever helps a user).
#[derive(Debug)]
pub struct LoginGuard {
    limits: LoginLimits,
    accounts: Mutex<HashMap<([u8; 16], IpAddr), Backoff>>,
    addresses: Mutex<HashMap<IpAddr, Bucket>>,
}

impl LoginGuard {
    pub fn new(limits: LoginLimits) -> LoginGuard {
        LoginGuard {
            limits,
            accounts: Mutex::new(HashMap::new()),
            addresses: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `address` may try `email`'s password now: `Err(wait)` if not. An admitted
    /// attempt has taken a token of the address's bucket; [`LoginGuard::failed`],
    /// [`LoginGuard::succeeded`] or [`LoginGuard::not_tried`] says how it ended.
    pub fn admit(&self, email: &str, address: IpAddr, now: Instant) -> Result<(), Duration> {
        let address = address_key(address);
        if let Ok(accounts) = self.accounts.lock()
            && let Some(backoff) = accounts.get(&(account_key(email), address))
            && backoff.next_attempt > now
        {
            return Err(backoff.next_attempt - now);
        }
        let Ok(mut addresses) = self.addresses.lock() else {
            return Ok(());
        };
        let burst = f64::from(self.limits.address_burst.max(1));
        let refill = self.limits.address_refill.as_secs_f64().max(1e-3);
        let bucket = self.refilled(&addresses, address, now);
        if bucket.tokens < 1.0 {
            return Err(Duration::from_secs_f64((1.0 - bucket.tokens) * refill));
        }
        make_room(&mut addresses, |bucket| {
            bucket.tokens + now.saturating_duration_since(bucket.updated).as_secs_f64() / refill
                >= burst
        });
        addresses.insert(
            address,
            Bucket {
                tokens: bucket.tokens - 1.0,
                updated: now,
            },
        );
        Ok(())
    }

    /// The address's bucket as of `now` (full if it has none).
    fn refilled(
        &self,
        addresses: &HashMap<IpAddr, Bucket>,
        address: IpAddr,
        now: Instant,
    ) -> Bucket {
        let burst = f64::from(self.limits.address_burst.max(1));
        let refill = self.limits.address_refill.as_secs_f64().max(1e-3);
        match addresses.get(&address) {
            Some(bucket) => Bucket {
                tokens: (bucket.tokens
                    + now.saturating_duration_since(bucket.updated).as_secs_f64() / refill)
                    .min(burst),
                updated: now,
            },
            None => Bucket {
                tokens: burst,
                updated: now,
            },
        }
    }

    /// A wrong password (or unknown account): the account's backoff for this address grows.
    pub fn failed(&self, email: &str, address: IpAddr, now: Instant) {
        let Ok(mut accounts) = self.accounts.lock() else {
            return;
        };
        let key = (account_key(email), address_key(address));
        let limits = &self.limits;
        let forget_after = limits.forget_after;
        let previous = accounts
            .get(&key)
            .filter(|backoff| now.saturating_duration_since(backoff.last_failure) < forget_after)
            .map_or(0, |backoff| backoff.failures);
        let failures = previous.saturating_add(1);
        let delay = match failures.checked_sub(limits.free_failures) {
            None | Some(0) => Duration::ZERO,
            Some(beyond) => {
                let doublings = (beyond - 1).min(16);
                limits
                    .first_delay
                    .saturating_mul(1 << doublings)
                    .min(limits.max_delay)
            }
        };
        make_room(&mut accounts, |backoff| {
            now.saturating_duration_since(backoff.last_failure) >= forget_after
        });
        accounts.insert(
            key,
            Backoff {
                failures,
                last_failure: now,
                next_attempt: now + delay,
            },
        );
    }

    /// The right password: the account's failures from this address are forgotten and the
    /// address's token is given back.
    pub fn succeeded(&self, email: &str, address: IpAddr, now: Instant) {
        if let Ok(mut accounts) = self.accounts.lock() {
            accounts.remove(&(account_key(email), address_key(address)));
        }
        self.not_tried(address, now);
    }

    /// The attempt was admitted but the password was never checked (the server was busy):
    /// the address's token is given back.
    pub fn not_tried(&self, address: IpAddr, now: Instant) {
        let address = address_key(address);
        let Ok(mut addresses) = self.addresses.lock() else {
            return;
        };
        let burst = f64::from(self.limits.address_burst.max(1));
        if addresses.contains_key(&address) {
            let mut bucket = self.refilled(&addresses, address, now);
            bucket.tokens = (bucket.tokens + 1.0).min(burst);
            addresses.insert(address, bucket);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_short_ones_are_refused() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", Some(&hash)));
        assert!(!verify_password("wrong horse battery", Some(&hash)));
        assert!(!verify_password("correct horse battery", None));
        assert!(matches!(
            hash_password("short"),
            Err(StoreError::Invalid(_))
        ));
    }

    /// Hashes made before working memory was reused (argon2's own `PasswordHasher`) still
    /// verify, and ours verify with argon2's own `PasswordVerifier`.
    #[test]
    fn hashes_agree_with_argon2s_own_phc_strings() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = Argon2::default()
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string();
        assert!(verify_password("correct horse battery", Some(&theirs)));
        assert!(!verify_password("correct horse batterY", Some(&theirs)));
        let ours = hash_password("correct horse battery").unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
        assert!(!verify_password(
            "correct horse battery",
            Some("not a hash")
        ));
    }

    #[test]
    fn tokens_are_unique_and_hashed() {
        let (a, b) = (new_token("rfa_"), new_token("rfa_"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 64);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    fn address(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn failures_back_off_exponentially_per_account_and_address_up_to_a_cap() {
        let limits = LoginLimits {
            address_burst: 1000,
            ..LoginLimits::default()
        };
        let guard = LoginGuard::new(limits);
        let (attacker, owner) = (address("203.0.113.7"), address("198.51.100.9"));
        let start = Instant::now();
        // (failures so far, wait the attacker is told before trying again)
        let expected = [
            (1, 0),
            (2, 0),
            (3, 0),
            (4, 500),
            (5, 1000),
            (6, 2000),
            (7, 4000),
            (8, 4000),
            (50, 4000),
        ];
        let mut now = start;
        let mut failures = 0;
        for (after, wait_ms) in expected {
            while failures < after {
                // Each failure comes as soon as the last wait is over.
                if let Err(wait) = guard.admit("Ada@x.example", attacker, now) {
                    now += wait;
                }
                assert!(guard.admit("ada@x.example", attacker, now).is_ok());
                guard.failed("ada@x.example", attacker, now);
                failures += 1;
            }
            let told = guard
                .admit("ada@x.example", attacker, now)
                .err()
                .unwrap_or_default();
            assert_eq!(
                told,
                Duration::from_millis(wait_ms),
                "after {after} failures"
            );
            // The owner, from elsewhere, is never held back by the attacker's failures.
            assert!(guard.admit("ada@x.example", owner, now).is_ok());
        }
        // The right password from the attacker's own address works once the wait is over, and
        // clears the failures.
        now += Duration::from_secs(4);
        assert!(guard.admit("ada@x.example", attacker, now).is_ok());
        guard.succeeded("ada@x.example", attacker, now);
        guard.failed("ada@x.example", attacker, now);
        assert!(guard.admit("ada@x.example", attacker, now).is_ok());
        // Another account from the attacker's address is not delayed.
        assert!(guard.admit("bob@x.example", attacker, now).is_ok());
        // A quiet quarter of an hour forgets.
        for _ in 0..10 {
            guard.failed("eve@x.example", attacker, now);
        }
        let later = now + Duration::from_secs(15 * 60 + 5);
        guard.failed("eve@x.example", attacker, later);
        assert!(guard.admit("eve@x.example", attacker, later).is_ok());
    }

    #[test]
    fn one_address_spraying_many_accounts_runs_out_of_tokens() {
        let limits = LoginLimits {
            address_burst: 5,
            address_refill: Duration::from_secs(2),
            ..LoginLimits::default()
        };
        let guard = LoginGuard::new(limits);
        let sprayer = address("2001:db8:1:2:3:4:5:6");
        let neighbour = address("2001:db8:1:2:ffff::1");
        let elsewhere = address("2001:db8:1:3::1");
        let now = Instant::now();
        for index in 0..5 {
            let email = format!("user{index}@x.example");
            assert!(guard.admit(&email, sprayer, now).is_ok());
            guard.failed(&email, sprayer, now);
        }
        assert_eq!(
            guard.admit("user5@x.example", sprayer, now),
            Err(Duration::from_secs(2))
        );
        // The same /64 is the same subscriber; another /64 is someone else.
        assert!(guard.admit("user5@x.example", neighbour, now).is_err());
        assert!(guard.admit("user5@x.example", elsewhere, now).is_ok());
        // Tokens come back with time, and for a success or an attempt never checked.
        let later = now + Duration::from_secs(2);
        assert!(guard.admit("user5@x.example", sprayer, later).is_ok());
        assert!(guard.admit("user6@x.example", sprayer, later).is_err());
        guard.not_tried(sprayer, later);
        assert!(guard.admit("user6@x.example", sprayer, later).is_ok());
        guard.succeeded("user6@x.example", sprayer, later);
        assert!(guard.admit("user7@x.example", sprayer, later).is_ok());
        // IPv4 inside IPv6 counts as the IPv4 address.
        let v4 = address("192.0.2.1");
        let mapped = address("::ffff:192.0.2.1");
        for _ in 0..5 {
            assert!(guard.admit("a@x.example", v4, now).is_ok());
        }
        assert!(guard.admit("a@x.example", mapped, now).is_err());
    }

    #[test]
    fn the_maps_stay_bounded() {
        let guard = LoginGuard::new(LoginLimits::default());
        let now = Instant::now();
        for index in 0..(MAX_TRACKED + 10) {
            let address = IpAddr::V4(std::net::Ipv4Addr::from(u32::try_from(index).unwrap()));
            guard.failed(&format!("{index}@x.example"), address, now);
            assert!(guard.admit("a@x.example", address, now).is_ok());
        }
        assert!(guard.accounts.lock().unwrap().len() <= MAX_TRACKED);
        assert!(guard.addresses.lock().unwrap().len() <= MAX_TRACKED);
    }

    #[tokio::test]
    async fn password_work_runs_a_bounded_number_at_once_and_refuses_beyond_the_queue() {
        let work = Arc::new(PasswordWork::new(1, 1));
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (started, mut running) = tokio::sync::mpsc::unbounded_channel::<()>();
        let first = {
            let work = Arc::clone(&work);
            tokio::spawn(async move {
                work.run(move || {
                    let _ = started.send(());
                    let _ = released.recv();
                })
                .await
            })
        };
        running.recv().await.unwrap();
        // One waits for the permit; the next finds the queue full.
        let second = {
            let work = Arc::clone(&work);
            tokio::spawn(async move { work.run(|| 2).await })
        };
        while work.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(work.run(|| 3).await, Err(PasswordWorkError::Busy));
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(()));
        assert_eq!(second.await.unwrap(), Ok(2));
        assert_eq!(work.run(|| 4).await, Ok(4));
        assert_eq!(work.waiting.load(Ordering::SeqCst), 0);
    }
}
