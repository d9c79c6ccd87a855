//! Accounts as every layer sees them: roles, users, who asks for a change, token pairs.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    SuperAdmin,
    TeamAdmin,
    Engineer,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "super_admin",
            Role::TeamAdmin => "team_admin",
            Role::Engineer => "engineer",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        [
            Role::SuperAdmin,
            Role::TeamAdmin,
            Role::Engineer,
            Role::Viewer,
        ]
        .into_iter()
        .find(|role| role.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub team_id: Uuid,
    pub team: String,
    pub role: Role,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub team: String,
    pub role: Role,
    pub password_hash: String,
}

/// Who asks for a change to an account.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A logged-in account: the rules of [`crate::rules::accounts::check_change`] apply, decided inside
    /// the change's transaction. `access_hash` names the login that asks, which a change of
    /// the account's own password keeps.
    Account { user_id: Uuid, access_hash: String },
    /// The server's operator at the command line (`rf-sync-server user …`), who may change
    /// any account, as they may add any.
    Operator,
}

/// A change to an account's role, password or both (at least one).
#[derive(Debug, Clone)]
pub struct UserUpdate {
    pub role: Option<Role>,
    /// Already hashed; a new password ends every login of the account but the asking one.
    pub password_hash: Option<String>,
}

/// The hashes and expiry times (Unix seconds) of a freshly issued token pair.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_hash: String,
    pub access_expires_at: i64,
    pub refresh_hash: String,
    pub refresh_expires_at: i64,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current: it is now spent and the new pair belongs to the same login.
    Rotated(User),
    /// The token had already been rotated: someone replayed it, so the login is revoked.
    ReuseDetected,
    /// Unknown, expired, or its login revoked.
    Invalid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_their_names() {
        for role in [
            Role::SuperAdmin,
            Role::TeamAdmin,
            Role::Engineer,
            Role::Viewer,
        ] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
