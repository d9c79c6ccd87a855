//! The account transactions, written once over [`AccountRows`]: adding an account, changing
//! or removing one under the rules of [`crate::rules::accounts::check_change`], starting a login and
//! rotating its refresh token. Each back end runs one inside its write transaction and
//! commits when it returns `Ok`.

use uuid::Uuid;

use crate::domain::error::{StoreError, StoreResult};
use crate::domain::users::{Actor, IssuedTokens, NewUser, Rotation, User, UserUpdate};
use crate::rules::accounts::{Change, check_change, no_such_account};
use crate::storage::rows::{AccountRows, NewAccount};

/// Adds an account (and its team, when the team is new).
pub async fn create_user(
    rows: &mut impl AccountRows,
    user: &NewUser,
    now: i64,
) -> StoreResult<User> {
    let team_id = rows.team_named(&user.team, Uuid::new_v4(), now).await?;
    let id = Uuid::new_v4();
    let inserted = rows
        .insert_account(NewAccount {
            id,
            team_id,
            email: &user.email,
            role: user.role,
            password_hash: &user.password_hash,
            now,
        })
        .await?;
    if !inserted {
        return Err(StoreError::Conflict(format!(
            "a user with the e-mail {} already exists",
            user.email
        )));
    }
    let (created, _) = rows.account(id).await?.ok_or_else(no_such_account)?;
    Ok(created)
}

/// The target of an account change, once [`check_change`] allows `actor` to make it, decided
/// on both accounts' rows as they are inside the change's transaction (held until it ends).
async fn checked_target(
    rows: &mut impl AccountRows,
    actor: &Actor,
    id: Uuid,
    change: Change,
) -> StoreResult<User> {
    let mut ids = vec![id];
    if let Actor::Account { user_id, .. } = actor {
        ids.push(*user_id);
    }
    rows.lock_accounts(&ids).await?;
    let Some((target, removed)) = rows.account(id).await? else {
        return Err(no_such_account());
    };
    let actor = match actor {
        Actor::Operator => None,
        Actor::Account { user_id, .. } => match rows.account(*user_id).await? {
            Some((user, false)) => Some(user),
            _ => return Err(StoreError::Forbidden("your account was removed".into())),
        },
    };
    check_change(actor.as_ref(), &target, removed, change)?;
    Ok(target)
}

/// Ends every login of `user_id` but the one `keep_access_hash` belongs to (if any).
async fn revoke_logins_but(
    rows: &mut impl AccountRows,
    user_id: Uuid,
    keep_access_hash: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    let keep = match keep_access_hash {
        Some(hash) => rows.login_of_access_token(hash).await?,
        None => None,
    };
    rows.revoke_logins(user_id, keep, now).await
}

/// Changes an account's role, password or both. A new password ends every login of the
/// account but the asking one.
pub async fn update_user(
    rows: &mut impl AccountRows,
    actor: &Actor,
    id: Uuid,
    update: &UserUpdate,
    now: i64,
) -> StoreResult<User> {
    let target = checked_target(rows, actor, id, Change::Update { role: update.role }).await?;
    if let Some(role) = update.role {
        rows.set_role(target.id, role).await?;
    }
    if let Some(password_hash) = &update.password_hash {
        rows.set_password_hash(target.id, password_hash).await?;
        let keep = match actor {
            Actor::Account { access_hash, .. } => Some(access_hash.as_str()),
            Actor::Operator => None,
        };
        revoke_logins_but(rows, target.id, keep, now).await?;
    }
    let (updated, _) = rows.account(target.id).await?.ok_or_else(no_such_account)?;
    Ok(updated)
}

/// Removes an account: it can no longer log in, and every login it had ends.
pub async fn remove_user(
    rows: &mut impl AccountRows,
    actor: &Actor,
    id: Uuid,
    now: i64,
) -> StoreResult<()> {
    let target = checked_target(rows, actor, id, Change::Remove).await?;
    rows.mark_removed(target.id, now).await?;
    rows.revoke_logins(target.id, None, now).await
}

/// Starts a login with its first token pair, unless the account was removed or its password
/// changed since `password_hash` was checked (false).
pub async fn create_login(
    rows: &mut impl AccountRows,
    user_id: Uuid,
    password_hash: &str,
    tokens: &IssuedTokens,
    now: i64,
) -> StoreResult<bool> {
    if !rows.has_password(user_id, password_hash).await? {
        return Ok(false);
    }
    let login_id = Uuid::new_v4();
    rows.insert_login(login_id, user_id, now).await?;
    rows.insert_tokens(login_id, tokens).await?;
    Ok(true)
}

/// Spends a refresh token for the `next` pair. A token presented again after it was spent
/// ends its login everywhere: whoever holds the newer one may be a thief, or the thief may
/// hold this one, and the user signs in again.
pub async fn rotate_refresh(
    rows: &mut impl AccountRows,
    presented_hash: &str,
    next: &IssuedTokens,
    now: i64,
) -> StoreResult<Rotation> {
    let Some(token) = rows.refresh_token(presented_hash).await? else {
        return Ok(Rotation::Invalid);
    };
    if token.ended || token.expires_at <= now {
        return Ok(Rotation::Invalid);
    }
    if token.rotated_at.is_some() {
        rows.end_login(token.login_id, now).await?;
        return Ok(Rotation::ReuseDetected);
    }
    rows.spend_refresh_token(presented_hash, now).await?;
    rows.insert_tokens(token.login_id, next).await?;
    Ok(Rotation::Rotated(rows.user_of_login(token.login_id).await?))
}
