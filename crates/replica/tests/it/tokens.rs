//! The token stores on the real thing: the OS keyring through the session's Secret Service, and
//! the 0600 file.
//!
//! The keyring test needs a Secret Service. `./dev test` runs the tests inside a private D-Bus
//! session with an unlocked gnome-keyring and sets `RF_TEST_KEYRING=1`, so there it must pass;
//! a plain `cargo test` without that variable skips it (saying so) rather than touch the
//! developer's own keyring.

use rf_replica::tokens::{
    Credentials, FileTokenStore, KEYRING_SERVICE, KeyringTokenStore, TOKEN_FILE, TokenStore,
};
use uuid::Uuid;

fn credentials(access: &str, refresh: &str) -> Credentials {
    Credentials {
        server_url: "https://sync.contoso.example".into(),
        access_token: access.into(),
        access_expires_at: 1_900_000_000,
        refresh_token: refresh.into(),
    }
}

/// Whether the keyring test runs: always under `./dev test` (and CI), which set
/// `RF_TEST_KEYRING`; elsewhere it says why it does not.
fn keyring_test_enabled() -> bool {
    if std::env::var_os("RF_TEST_KEYRING").is_some() {
        return true;
    }
    eprintln!(
        "skipped: RF_TEST_KEYRING is unset, so this test does not write to your own keyring; \
         `./dev test` runs it in a private D-Bus session with gnome-keyring"
    );
    false
}

// Where this build has a keyring back end (the Secret Service).
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
#[test]
fn the_keyring_saves_loads_overwrites_and_deletes_a_login() {
    if !keyring_test_enabled() {
        return;
    }
    // A fresh device id per run, so runs never see each other's entries.
    let device_id = Uuid::new_v4();
    let store = KeyringTokenStore::for_device(device_id);
    let other_replica = KeyringTokenStore::for_device(Uuid::new_v4());
    assert_eq!(store.account(), format!("replica-{device_id}"));
    assert_eq!(KEYRING_SERVICE, "dev.resolutionflow.sync");
    assert_eq!(store.describe(), "the OS keyring (Secret Service)");

    let first_look = store.load();
    assert!(
        first_look.is_ok(),
        "RF_TEST_KEYRING is set, so the keyring must work: {}",
        first_look.unwrap_err()
    );
    assert_eq!(first_look.unwrap(), None, "nothing saved yet");
    assert!(!store.delete().unwrap(), "nothing to delete yet");

    let first = credentials("rfa_first", "rfr_first");
    store.save(&first).unwrap();
    assert_eq!(store.load().unwrap(), Some(first));
    assert_eq!(
        other_replica.load().unwrap(),
        None,
        "another data directory on this machine has its own login"
    );

    // A refresh rotates both tokens: the new pair replaces the old one in the same entry.
    let second = Credentials {
        access_expires_at: 1_900_000_900,
        ..credentials("rfa_second", "rfr_second")
    };
    store.save(&second).unwrap();
    assert_eq!(store.load().unwrap(), Some(second.clone()));
    let same_replica_again = KeyringTokenStore::for_device(device_id);
    assert_eq!(same_replica_again.load().unwrap(), Some(second));

    // A damaged entry (written by something else) asks for a new login, which replaces it.
    let same_entry = keyring::Entry::new_with_credential(Box::new(
        keyring::secret_service::SsCredential::new_with_target(
            None,
            KEYRING_SERVICE,
            store.account(),
        )
        .unwrap(),
    ));
    same_entry.set_secret(b"not json").unwrap();
    let message = store.load().unwrap_err().to_string();
    assert!(message.contains("not valid JSON"), "{message}");
    assert!(message.contains("log in again"), "{message}");
    let third = credentials("rfa_third", "rfr_third");
    store.save(&third).unwrap();
    assert_eq!(store.load().unwrap(), Some(third));

    assert!(store.delete().unwrap());
    assert_eq!(store.load().unwrap(), None);
    assert!(!store.delete().unwrap(), "a second logout finds nothing");
}

#[test]
fn the_file_store_round_trips_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileTokenStore::in_data_dir(dir.path());
    assert_eq!(store.path(), dir.path().join(TOKEN_FILE));
    assert_eq!(store.load().unwrap(), None);
    assert!(!store.delete().unwrap());

    let first = credentials("rfa_first", "rfr_first");
    store.save(&first).unwrap();
    assert_eq!(store.load().unwrap(), Some(first));
    let second = credentials("rfa_second", "rfr_second");
    store.save(&second).unwrap();
    assert_eq!(store.load().unwrap(), Some(second));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "only the user may read the tokens");
    }
    assert!(store.describe().contains("mode 0600"));

    assert!(store.delete().unwrap());
    assert_eq!(store.load().unwrap(), None);
    assert!(!store.delete().unwrap());
}

#[cfg(unix)]
#[test]
fn the_file_store_refuses_a_login_file_other_users_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = FileTokenStore::in_data_dir(dir.path());
    store.save(&credentials("rfa", "rfr")).unwrap();
    std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644)).unwrap();

    let message = store.load().unwrap_err().to_string();
    assert!(message.contains("can be read by other users"), "{message}");
    assert!(message.contains("chmod 600"), "{message}");
    assert!(message.contains("644"), "{message}");
}
