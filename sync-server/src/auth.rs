//! Passwords (argon2id) and tokens. Tokens are 256 random bits, shown to the client once and
//! stored only as SHA-256 hashes; the prefixes (`rfa_`, `rfr_`) let secret scanners spot leaks.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{StoreError, StoreResult};

pub const MIN_PASSWORD_CHARS: usize = 12;

/// Hashes a password with argon2id (the crate's defaults: 19 MiB, 2 passes). Slow on purpose:
/// call it from a blocking thread.
pub fn hash_password(password: &str) -> StoreResult<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(StoreError::Invalid(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    let mut salt_bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|error| StoreError::Internal(format!("cannot encode a salt: {error}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| StoreError::Internal(format!("cannot hash the password: {error}")))
}

/// A hash of no one's password, checked when the e-mail is unknown so that a wrong e-mail takes
/// as long as a wrong password and answers cannot reveal which accounts exist.
static DUMMY_HASH: LazyLock<Option<String>> =
    LazyLock::new(|| hash_password("not-a-password-of-anyone").ok());

/// True when `password` matches `hash`; with no hash, spends the same time and says no.
pub fn verify_password(password: &str, hash: Option<&str>) -> bool {
    let stored = hash.map(str::to_owned).or_else(|| DUMMY_HASH.clone());
    let matches = stored
        .as_deref()
        .and_then(|stored| PasswordHash::new(stored).ok())
        .is_some_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        });
    matches && hash.is_some()
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

/// Failed logins per e-mail in a sliding window: after `max_failures`, further attempts are
/// refused until the window passes. In memory: a restart forgets, which only ever helps a user.
#[derive(Debug)]
pub struct LoginLimiter {
    window: Duration,
    max_failures: u32,
    failures: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Entries kept before old ones are swept, so a flood of made-up e-mails cannot grow memory.
const MAX_TRACKED: usize = 100_000;

impl LoginLimiter {
    pub fn new(window: Duration, max_failures: u32) -> LoginLimiter {
        LoginLimiter {
            window,
            max_failures,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` when this e-mail has failed too often lately.
    pub fn check(&self, email: &str) -> Result<(), u64> {
        let Ok(failures) = self.failures.lock() else {
            return Ok(());
        };
        match failures.get(&email.to_lowercase()) {
            Some((since, count))
                if *count >= self.max_failures && since.elapsed() < self.window =>
            {
                Err((self.window - since.elapsed()).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, email: &str) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() >= MAX_TRACKED {
            let window = self.window;
            failures.retain(|_, (since, _)| since.elapsed() < window);
        }
        let entry = failures
            .entry(email.to_lowercase())
            .or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }

    pub fn record_success(&self, email: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&email.to_lowercase());
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

    #[test]
    fn tokens_are_unique_and_hashed() {
        let (a, b) = (new_token("rfa_"), new_token("rfa_"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 64);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn the_limiter_counts_failures_per_email() {
        let limiter = LoginLimiter::new(Duration::from_secs(60), 2);
        limiter.record_failure("A@x.com");
        assert!(limiter.check("a@x.com").is_ok());
        limiter.record_failure("a@x.com");
        assert!(limiter.check("a@X.com").is_err());
        assert!(limiter.check("b@x.com").is_ok());
        limiter.record_success("a@x.com");
        assert!(limiter.check("a@x.com").is_ok());
    }
}
