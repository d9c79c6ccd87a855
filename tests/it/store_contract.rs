//! The store contract: one set of stories, each run against every back end through the
//! `Store` trait alone (no HTTP), covering what each storage operation promises, the
//! concurrent ones included: two pushes racing for one team's sequence, a reader paging while
//! writers commit, a refresh token presented twice at once, an account changed while it logs
//! in.

use std::collections::{BTreeMap, BTreeSet};

use rf_core::sync::{PushedEvent, Rejection};
use rf_sync_server::domain::error::StoreError;
use rf_sync_server::domain::push::PushBatch;
use rf_sync_server::domain::users::{
    Actor, IssuedTokens, NewUser, Role, Rotation, User, UserUpdate,
};
use rf_sync_server::{PostgresStore, SqliteStore, Store};
use serde_json::json;
use uuid::Uuid;

const NOW: i64 = 1_800_000_000;

/// A store of each back end, empty, with the test's temporary folder kept alive.
struct Fresh<S> {
    store: S,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Fresh<SqliteStore> {
    let dir = tempfile::tempdir().unwrap();
    Fresh {
        store: SqliteStore::open(dir.path()).unwrap(),
        _dir: Some(dir),
    }
}

async fn postgres() -> Fresh<PostgresStore> {
    let url = rf_tests::fresh_postgres_database().await;
    Fresh {
        store: PostgresStore::connect(&url).await.unwrap(),
        _dir: None,
    }
}

/// Runs each story once on SQLite and once on PostgreSQL.
macro_rules! for_each_store {
    ($($story:ident),* $(,)?) => {
        mod sqlite_store {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $story() {
                let fresh = super::sqlite().await;
                super::$story(fresh.store.clone()).await;
            })*
        }
        mod postgres_store {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $story() {
                let fresh = super::postgres().await;
                super::$story(fresh.store.clone()).await;
            })*
        }
    };
}

fn new_user(email: &str, team: &str, role: Role) -> NewUser {
    NewUser {
        email: email.into(),
        team: team.into(),
        role,
        password_hash: format!("hash of {email}"),
    }
}

fn tokens(tag: &str, expires_at: i64) -> IssuedTokens {
    IssuedTokens {
        access_hash: format!("access {tag}"),
        access_expires_at: expires_at,
        refresh_hash: format!("refresh {tag}"),
        refresh_expires_at: expires_at,
    }
}

/// A logged-in account: its user, and the tag of its first token pair.
async fn logged_in(store: &impl Store, email: &str, team: &str, role: Role) -> User {
    let user = store
        .create_user(new_user(email, team, role))
        .await
        .unwrap();
    assert!(
        store
            .create_login(
                user.id,
                format!("hash of {email}"),
                tokens(email, NOW + 3_600),
                NOW
            )
            .await
            .unwrap()
    );
    user
}

async fn authenticated(store: &impl Store, tag: &str) -> Option<User> {
    store
        .authenticate(format!("access {tag}"), NOW)
        .await
        .unwrap()
}

fn event(device: Uuid, device_seq: i64, session: Uuid, session_seq: i64) -> PushedEvent {
    PushedEvent {
        device_id: device,
        device_seq,
        session_id: session,
        session_seq,
        payload: json!({"type": "note_added", "text": format!("step {device_seq}")}),
    }
}

fn batch(device: Uuid, events: Vec<PushedEvent>) -> PushBatch {
    PushBatch {
        device_id: device,
        mutations: Vec::new(),
        flow_versions: Vec::new(),
        events,
        refused_events: Vec::new(),
    }
}

/// Every event of the team, by pulling pages of at most `limit` changes from 0 to the end.
async fn pull_all(store: &impl Store, user: &User, limit: i64) -> Vec<(i64, Uuid, i64)> {
    let mut since = 0;
    let mut seen = Vec::new();
    loop {
        let page = store.pull(user.clone(), since, limit).await.unwrap();
        assert!(
            page.until >= since && page.until <= page.latest,
            "{since} {}",
            page.until
        );
        seen.extend(
            page.events
                .iter()
                .map(|event| (event.team_seq, event.device_id, event.device_seq)),
        );
        if page.until == page.latest {
            return seen;
        }
        since = page.until;
    }
}

/// Accounts: a new team is made with its first account, an e-mail is taken once, the list
/// leaves removed accounts out, and a removed account can neither log in nor use its tokens.
async fn accounts_are_made_listed_and_removed(store: impl Store) {
    let ada = store
        .create_user(new_user("ada@contoso.example", "Contoso", Role::Engineer))
        .await
        .unwrap();
    let tia = store
        .create_user(new_user("tia@contoso.example", "Contoso", Role::TeamAdmin))
        .await
        .unwrap();
    let eve = store
        .create_user(new_user("eve@fabrikam.example", "Fabrikam", Role::Engineer))
        .await
        .unwrap();
    assert_eq!(ada.team_id, tia.team_id, "one team, made once");
    assert_ne!(ada.team_id, eve.team_id);
    let again = store
        .create_user(new_user("ada@contoso.example", "Fabrikam", Role::Viewer))
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let listed: Vec<String> = store
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|user| user.email)
        .collect();
    assert_eq!(
        listed,
        [
            "ada@contoso.example",
            "tia@contoso.example",
            "eve@fabrikam.example"
        ]
    );
    let (found, hash) = store
        .credentials("ada@contoso.example".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found, hash.as_str()),
        (ada.clone(), "hash of ada@contoso.example")
    );

    assert!(
        store
            .create_login(
                ada.id,
                "hash of ada@contoso.example".into(),
                tokens("ada", NOW + 60),
                NOW
            )
            .await
            .unwrap()
    );
    assert_eq!(authenticated(&store, "ada").await, Some(ada.clone()));
    let admin = Actor::Account {
        user_id: tia.id,
        access_hash: String::new(),
    };
    store.remove_user(admin.clone(), ada.id, NOW).await.unwrap();
    assert_eq!(authenticated(&store, "ada").await, None);
    assert_eq!(
        store
            .rotate_refresh("refresh ada".into(), tokens("ada 2", NOW + 60), NOW)
            .await
            .unwrap(),
        Rotation::Invalid
    );
    assert!(
        !store
            .create_login(
                ada.id,
                "hash of ada@contoso.example".into(),
                tokens("ada 3", NOW + 60),
                NOW
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .credentials("ada@contoso.example".into())
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.users().await.unwrap().len(), 2);
    // Removed twice, or from another team: the same answer as an unknown id.
    for (actor, id) in [(admin.clone(), ada.id), (admin, eve.id)] {
        let result = store.remove_user(actor, id, NOW).await;
        assert!(matches!(result, Err(StoreError::NotFound(_))), "{result:?}");
    }
}

/// Account changes follow the rules on the rows as they are inside the change; a new password
/// ends every login but the asking one; a login checked against a password that has changed
/// since is not started.
async fn account_changes_follow_the_rules_inside_their_transaction(store: impl Store) {
    let tia = logged_in(&store, "tia@contoso.example", "Contoso", Role::TeamAdmin).await;
    let ada = logged_in(&store, "ada@contoso.example", "Contoso", Role::Engineer).await;
    assert!(
        store
            .create_login(
                ada.id,
                "hash of ada@contoso.example".into(),
                tokens("ada laptop", NOW + 60),
                NOW
            )
            .await
            .unwrap()
    );
    let as_tia = Actor::Account {
        user_id: tia.id,
        access_hash: "access tia@contoso.example".into(),
    };
    let raise = store
        .update_user(
            as_tia.clone(),
            ada.id,
            UserUpdate {
                role: Some(Role::SuperAdmin),
                password_hash: None,
            },
            NOW,
        )
        .await;
    assert!(matches!(raise, Err(StoreError::Forbidden(_))), "{raise:?}");
    let own = store
        .update_user(
            as_tia.clone(),
            tia.id,
            UserUpdate {
                role: Some(Role::Engineer),
                password_hash: None,
            },
            NOW,
        )
        .await;
    assert!(matches!(own, Err(StoreError::Forbidden(_))), "{own:?}");
    assert_eq!(
        store
            .users()
            .await
            .unwrap()
            .iter()
            .map(|user| user.role)
            .collect::<Vec<_>>(),
        [Role::Engineer, Role::TeamAdmin],
        "a refused change changes nothing"
    );

    // Ada changes her own password from her laptop: the laptop's login goes on, the other ends.
    let as_ada = Actor::Account {
        user_id: ada.id,
        access_hash: "access ada laptop".into(),
    };
    let changed = store
        .update_user(
            as_ada,
            ada.id,
            UserUpdate {
                role: None,
                password_hash: Some("new hash".into()),
            },
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(changed.role, Role::Engineer);
    assert_eq!(authenticated(&store, "ada laptop").await, Some(ada.clone()));
    assert_eq!(authenticated(&store, "ada@contoso.example").await, None);
    assert_eq!(
        store
            .rotate_refresh(
                "refresh ada@contoso.example".into(),
                tokens("late", NOW + 60),
                NOW
            )
            .await
            .unwrap(),
        Rotation::Invalid
    );
    // A login whose password check saw the old hash is not started.
    assert!(
        !store
            .create_login(
                ada.id,
                "hash of ada@contoso.example".into(),
                tokens("stale", NOW + 60),
                NOW
            )
            .await
            .unwrap()
    );
    assert_eq!(authenticated(&store, "stale").await, None);
    // The operator may change anyone.
    let promoted = store
        .update_user(
            Actor::Operator,
            ada.id,
            UserUpdate {
                role: Some(Role::TeamAdmin),
                password_hash: None,
            },
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(promoted.role, Role::TeamAdmin);
}

/// Refresh tokens rotate once: the next presentation of a spent one ends the login everywhere;
/// an expired one is refused; an access token past its time is not accepted.
async fn refresh_tokens_rotate_once(store: impl Store) {
    let ada = logged_in(&store, "ada@contoso.example", "Contoso", Role::Engineer).await;
    let first = "refresh ada@contoso.example".to_owned();
    assert_eq!(
        store
            .rotate_refresh(first.clone(), tokens("second", NOW + 60), NOW)
            .await
            .unwrap(),
        Rotation::Rotated(ada.clone())
    );
    assert_eq!(authenticated(&store, "second").await, Some(ada.clone()));
    assert_eq!(
        store
            .rotate_refresh(first, tokens("thief", NOW + 60), NOW)
            .await
            .unwrap(),
        Rotation::ReuseDetected
    );
    assert_eq!(
        authenticated(&store, "second").await,
        None,
        "the login ended"
    );
    assert_eq!(
        store
            .rotate_refresh("refresh second".into(), tokens("third", NOW + 60), NOW)
            .await
            .unwrap(),
        Rotation::Invalid
    );
    assert_eq!(
        store
            .rotate_refresh("refresh nobody".into(), tokens("x", NOW + 60), NOW)
            .await
            .unwrap(),
        Rotation::Invalid
    );
    assert!(
        store
            .create_login(
                ada.id,
                "hash of ada@contoso.example".into(),
                tokens("short", NOW + 10),
                NOW
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .authenticate("access short".into(), NOW + 10)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .rotate_refresh("refresh short".into(), tokens("later", NOW + 60), NOW + 10)
            .await
            .unwrap(),
        Rotation::Invalid
    );
}

/// One refresh token presented twice at once (a client retrying, or a thief racing it): one
/// presentation rotates, the other is reuse, and the login ends, so neither holder keeps it.
async fn a_refresh_token_presented_twice_at_once_rotates_once(store: impl Store) {
    for round in 0..8 {
        let email = format!("ada{round}@contoso.example");
        logged_in(&store, &email, "Contoso", Role::Engineer).await;
        let presented = format!("refresh {email}");
        let (one, two) = tokio::join!(
            store.rotate_refresh(
                presented.clone(),
                tokens(&format!("{round} a"), NOW + 60),
                NOW
            ),
            store.rotate_refresh(presented, tokens(&format!("{round} b"), NOW + 60), NOW),
        );
        let outcomes = [one.unwrap(), two.unwrap()];
        let rotated = outcomes
            .iter()
            .filter(|outcome| matches!(outcome, Rotation::Rotated(_)))
            .count();
        let reused = outcomes
            .iter()
            .filter(|outcome| **outcome == Rotation::ReuseDetected)
            .count();
        assert_eq!((rotated, reused), (1, 1), "round {round}: {outcomes:?}");
        for tag in ["a", "b"] {
            assert_eq!(authenticated(&store, &format!("{round} {tag}")).await, None);
        }
    }
}

/// A push stores each event once under the team's next numbers, acknowledges the contiguous
/// prefix (held events beyond a gap wait for it), answers a retry the same way, refuses a
/// device or a session of another user, and a pull pages through exactly what was stored.
async fn pushes_store_each_event_once_and_pulls_page_through_them(store: impl Store) {
    let ada = store
        .create_user(new_user("ada@contoso.example", "Contoso", Role::Engineer))
        .await
        .unwrap();
    let bob = store
        .create_user(new_user("bob@contoso.example", "Contoso", Role::Engineer))
        .await
        .unwrap();
    assert_eq!(store.team_latest(ada.team_id).await.unwrap(), 0);
    let (device, session) = (Uuid::new_v4(), Uuid::new_v4());
    // Events 1, 2 and 4: 4 waits beyond the gap.
    let first = batch(
        device,
        vec![
            event(device, 1, session, 0),
            event(device, 2, session, 1),
            event(device, 4, session, 3),
        ],
    );
    let settled = store.push(ada.clone(), first.clone(), NOW).await.unwrap();
    assert_eq!(
        (
            settled.events_stored,
            settled.events_acknowledged_through,
            settled.latest_before,
            settled.latest
        ),
        (3, 2, 0, 3)
    );
    assert_eq!(settled.epoch, store.epoch().await.unwrap());
    // The same push again: nothing new, the same answer.
    let again = store.push(ada.clone(), first, NOW).await.unwrap();
    assert_eq!(
        (
            again.events_stored,
            again.events_acknowledged_through,
            again.latest
        ),
        (0, 2, 3)
    );
    // 3 fills the gap: the prefix runs through 4.
    let filled = store
        .push(
            ada.clone(),
            batch(device, vec![event(device, 3, session, 2)]),
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(
        (filled.events_stored, filled.events_acknowledged_through),
        (1, 4)
    );
    // Bob may use neither Ada's device nor her session.
    let foreign_device = store
        .push(
            bob.clone(),
            batch(device, vec![event(device, 5, session, 4)]),
            NOW,
        )
        .await;
    assert!(
        matches!(foreign_device, Err(StoreError::Forbidden(_))),
        "{foreign_device:?}"
    );
    let bobs = Uuid::new_v4();
    let foreign_session = store
        .push(
            bob.clone(),
            batch(bobs, vec![event(bobs, 1, session, 4)]),
            NOW,
        )
        .await
        .unwrap();
    // Refused on its own, with the reason, so Bob's device is not wedged by it.
    assert_eq!(foreign_session.events_stored, 0);
    assert_eq!(foreign_session.refused_events.len(), 1);
    assert!(
        foreign_session.refused_events[0]
            .reason
            .contains("another engineer"),
        "{foreign_session:?}"
    );
    assert_eq!(
        store.team_latest(ada.team_id).await.unwrap(),
        4,
        "a refused push stores nothing"
    );

    let pulled = pull_all(&store, &bob, 1).await;
    assert_eq!(
        pulled,
        [
            (1, device, 1),
            (2, device, 2),
            (3, device, 4),
            (4, device, 3)
        ]
    );
    // Another team sees none of it.
    let eve = store
        .create_user(new_user("eve@fabrikam.example", "Fabrikam", Role::Engineer))
        .await
        .unwrap();
    let page = store.pull(eve, 0, 100).await.unwrap();
    assert_eq!((page.latest, page.events.len()), (0, 0));
}

/// A mutation number is settled once: applied in order, refused for good with its reason, a
/// gap waits, and every refusal among the settled numbers is in every later answer.
async fn mutations_settle_in_order_once(store: impl Store) {
    use rf_sync_server::domain::flows::Checked;
    let ada = store
        .create_user(new_user("ada@contoso.example", "Contoso", Role::Engineer))
        .await
        .unwrap();
    let device = Uuid::new_v4();
    let mutation = |id: i64, flow: Uuid| rf_core::sync::Mutation {
        mutation_id: id,
        entity: rf_core::sync::PIN_ENTITY.into(),
        entity_id: flow.to_string(),
        operation: rf_core::sync::PIN.into(),
        base_version: None,
        payload: json!({}),
    };
    let (pinned, refused) = (Uuid::new_v4(), Uuid::new_v4());
    let mut push = batch(device, Vec::new());
    push.mutations = vec![
        (
            mutation(1, pinned),
            Checked::Pin {
                flow_id: pinned,
                pinned: true,
            },
        ),
        (
            mutation(2, refused),
            Checked::Invalid("not for this server".into()),
        ),
        // 4 waits: 3 has not come.
        (
            mutation(4, pinned),
            Checked::Pin {
                flow_id: pinned,
                pinned: false,
            },
        ),
    ];
    let settled = store.push(ada.clone(), push.clone(), NOW).await.unwrap();
    let refusal = vec![Rejection {
        mutation_id: 2,
        reason: "not for this server".into(),
    }];
    assert_eq!((settled.last_mutation_id, &settled.rejected), (2, &refusal));
    let again = store.push(ada.clone(), push, NOW).await.unwrap();
    assert_eq!((again.last_mutation_id, &again.rejected), (2, &refusal));
    let page = store.pull(ada.clone(), 0, 100).await.unwrap();
    let pins: Vec<(Uuid, bool)> = page
        .pins
        .iter()
        .map(|pin| (pin.flow_id, pin.pinned))
        .collect();
    assert_eq!(pins, [(pinned, true)]);
}

/// Two devices of two engineers push at the same moment, many times: the team's numbers are
/// taken once each, with no gap, and every event is stored once.
async fn pushes_racing_for_one_teams_sequence_take_each_number_once(store: impl Store) {
    let mut users = Vec::new();
    for name in ["ada", "bob", "cyd", "dan"] {
        users.push(
            store
                .create_user(new_user(
                    &format!("{name}@contoso.example"),
                    "Contoso",
                    Role::Engineer,
                ))
                .await
                .unwrap(),
        );
    }
    const ROUNDS: i64 = 12;
    const PER_PUSH: i64 = 5;
    let mut tasks = Vec::new();
    for user in users.clone() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let (device, session) = (Uuid::new_v4(), Uuid::new_v4());
            for round in 0..ROUNDS {
                let events = (1..=PER_PUSH)
                    .map(|offset| {
                        let seq = round * PER_PUSH + offset;
                        event(device, seq, session, seq - 1)
                    })
                    .collect();
                let settled = store
                    .push(user.clone(), batch(device, events), NOW)
                    .await
                    .unwrap();
                assert_eq!(settled.events_stored, PER_PUSH as usize);
                assert_eq!(settled.events_acknowledged_through, (round + 1) * PER_PUSH);
                assert!(settled.latest >= settled.latest_before + PER_PUSH);
            }
            device
        }));
    }
    let mut devices = Vec::new();
    for task in tasks {
        devices.push(task.await.unwrap());
    }
    let total = users.len() as i64 * ROUNDS * PER_PUSH;
    assert_eq!(store.team_latest(users[0].team_id).await.unwrap(), total);
    let pulled = pull_all(&store, &users[0], 7).await;
    let numbers: Vec<i64> = pulled.iter().map(|row| row.0).collect();
    assert_eq!(
        numbers,
        (1..=total).collect::<Vec<_>>(),
        "each number once, no gap"
    );
    let mut per_device: BTreeMap<Uuid, Vec<i64>> = BTreeMap::new();
    for (_, device, seq) in pulled {
        per_device.entry(device).or_default().push(seq);
    }
    assert_eq!(per_device.len(), devices.len());
    for seqs in per_device.values() {
        assert_eq!(
            seqs,
            &(1..=ROUNDS * PER_PUSH).collect::<Vec<_>>(),
            "in order, once"
        );
    }
}

/// A reader pages through the team's changes while writers commit: every page is a
/// consistent prefix (no number is skipped and seen later, none twice), and once the writers
/// stop, the reader has every event exactly once.
async fn a_reader_paging_while_writers_commit_misses_nothing(store: impl Store) {
    let ada = store
        .create_user(new_user("ada@contoso.example", "Contoso", Role::Engineer))
        .await
        .unwrap();
    let bob = store
        .create_user(new_user("bob@contoso.example", "Contoso", Role::Engineer))
        .await
        .unwrap();
    const PUSHES: i64 = 40;
    let writers: Vec<_> = [ada.clone(), bob.clone()]
        .into_iter()
        .map(|user| {
            let store = store.clone();
            tokio::spawn(async move {
                let (device, session) = (Uuid::new_v4(), Uuid::new_v4());
                for seq in 1..=PUSHES {
                    store
                        .push(
                            user.clone(),
                            batch(device, vec![event(device, seq, session, seq - 1)]),
                            NOW,
                        )
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let mut since = 0;
    let mut seen: Vec<i64> = Vec::new();
    let mut pages = 0;
    loop {
        let finished = writers.iter().all(|writer| writer.is_finished());
        let page = store.pull(ada.clone(), since, 3).await.unwrap();
        let numbers: BTreeSet<i64> = page.events.iter().map(|event| event.team_seq).collect();
        // Every number in (since, until] is there: a page never shows a later number while
        // an earlier one is still uncommitted.
        assert_eq!(
            numbers,
            (since + 1..=page.until).collect::<BTreeSet<_>>(),
            "page after {since}"
        );
        seen.extend(numbers);
        since = page.until;
        pages += 1;
        if finished && page.until == page.latest {
            break;
        }
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(seen, (1..=2 * PUSHES).collect::<Vec<_>>());
    assert!(
        pages > 2,
        "the reader paged while the writers wrote ({pages} pages)"
    );
}

/// The epoch is the same until the operator replaces it after a restore, and every push and
/// pull carries the current one.
async fn the_epoch_changes_only_when_replaced(store: impl Store) {
    let ada = store
        .create_user(new_user("ada@contoso.example", "Contoso", Role::Engineer))
        .await
        .unwrap();
    let first = store.epoch().await.unwrap();
    assert!(!first.is_empty());
    assert_eq!(store.epoch().await.unwrap(), first);
    let replaced = store.new_epoch(NOW).await.unwrap();
    assert_ne!(replaced, first);
    assert_eq!(store.epoch().await.unwrap(), replaced);
    assert_eq!(
        store.pull(ada.clone(), 0, 10).await.unwrap().epoch,
        Some(replaced.clone())
    );
    let device = Uuid::new_v4();
    let settled = store
        .push(
            ada,
            batch(device, vec![event(device, 1, Uuid::new_v4(), 0)]),
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(settled.epoch, replaced);
}

/// An account's password changed, or the account removed, while it logs in with the old
/// password: whichever commits first, no login from the old password works afterwards (a login
/// started first is ended by the change; one checked before the change but written after it is
/// not started).
async fn an_account_changed_while_it_logs_in_keeps_no_stale_login(store: impl Store) {
    for round in 0..64 {
        let email = format!("ada{round}@contoso.example");
        let ada = store
            .create_user(new_user(&email, "Contoso", Role::Engineer))
            .await
            .unwrap();
        let tag = format!("racing {round}");
        let login = store.create_login(
            ada.id,
            format!("hash of {email}"),
            tokens(&tag, NOW + 60),
            NOW,
        );
        let (changed, started) = if round % 2 == 0 {
            let change = store.update_user(
                Actor::Operator,
                ada.id,
                UserUpdate {
                    role: None,
                    password_hash: Some("new hash".into()),
                },
                NOW,
            );
            let (changed, started) = tokio::join!(change, login);
            (changed.map(|_| ()), started)
        } else {
            tokio::join!(store.remove_user(Actor::Operator, ada.id, NOW), login)
        };
        changed.unwrap();
        let started = started.unwrap();
        assert_eq!(
            authenticated(&store, &tag).await,
            None,
            "round {round} (login started: {started})"
        );
        assert_eq!(
            store
                .rotate_refresh(
                    format!("refresh {tag}"),
                    tokens(&format!("{tag} next"), NOW + 60),
                    NOW
                )
                .await
                .unwrap(),
            Rotation::Invalid,
            "round {round}"
        );
    }
}

for_each_store!(
    accounts_are_made_listed_and_removed,
    account_changes_follow_the_rules_inside_their_transaction,
    refresh_tokens_rotate_once,
    a_refresh_token_presented_twice_at_once_rotates_once,
    pushes_store_each_event_once_and_pulls_page_through_them,
    mutations_settle_in_order_once,
    pushes_racing_for_one_teams_sequence_take_each_number_once,
    a_reader_paging_while_writers_commit_misses_nothing,
    the_epoch_changes_only_when_replaced,
    an_account_changed_while_it_logs_in_keeps_no_stale_login,
);

/// A database written by a newer build is refused at open, naming both schema versions, and
/// left as it was: on either back end, the migration runner decides with `rf_sqlite::pending`.
#[tokio::test]
async fn a_store_newer_than_this_build_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let file = dir
        .path()
        .join(rf_sync_server::storage::sqlite::SQLITE_FILE);
    let connection = rusqlite::Connection::open(&file).unwrap();
    connection
        .execute(
            "INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')",
            [],
        )
        .unwrap();
    drop(connection);
    let refused = SqliteStore::open(dir.path()).map(|_| ());
    assert!(
        matches!(&refused, Err(StoreError::SchemaTooNew(too_new)) if too_new.found == 999),
        "{refused:?}"
    );

    let url = rf_tests::fresh_postgres_database().await;
    drop(PostgresStore::connect(&url).await.unwrap());
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query("INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')")
        .execute(&pool)
        .await
        .unwrap();
    let refused = PostgresStore::connect(&url).await.map(|_| ());
    assert!(
        matches!(&refused, Err(StoreError::SchemaTooNew(too_new)) if too_new.found == 999),
        "{refused:?}"
    );
    let versions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        versions,
        rf_sync_server::storage::postgres::POSTGRES_MIGRATIONS.len() as i64 + 1
    );
}
