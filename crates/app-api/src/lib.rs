//! The desktop app's contract: every command the Yew front end may invoke, with its argument
//! and answer types, every event the shell emits, and the shapes both show. Declared once,
//! here, so the Tauri shell (`src-tauri/`), the front end (`ui/`) and rf-replica's services
//! agree by construction. Plain data and serde only: no IO, no Tauri, and it builds for wasm32.
//!
//! Each command is a type implementing [`Command`]: its [`Command::NAME`] is the Tauri command
//! name, and it is invoked with one argument, `args`, holding [`Command::Args`].

#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize, de::DeserializeOwned};

pub mod commands;
pub mod events;
pub mod links;
pub mod views;

pub use views::*;

/// One command of the app: its name, what it takes and what it answers.
pub trait Command {
    /// The Tauri command's name (snake case, as `#[tauri::command]` registers it).
    const NAME: &'static str;
    /// The one argument the command takes, sent as `{"args": …}`.
    type Args: Serialize + DeserializeOwned;
    /// The answer on success.
    type Output: Serialize + DeserializeOwned;
}

/// What a failed command answers, in words the engineer can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandError {
    pub kind: ErrorKind,
    /// What failed and what to do, for people.
    pub message: String,
}

/// The kinds of failure the front end treats differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input cannot be used (a missing ticket, an unknown answer): fix it and retry.
    Invalid,
    /// The flow, session or conflict is not (or no longer) here.
    NotFound,
    /// More than one thing matches what was given.
    Ambiguous,
    /// Not logged in, or the login is no longer valid: log in again.
    NotLoggedIn,
    /// The replica was written by a newer ResolutionFlow: update the app.
    NewerSchema,
    /// The local store failed (a full disk, a damaged file): nothing was changed.
    Storage,
    /// The sync server or the network failed; the work is kept and syncs later.
    Sync,
}

impl CommandError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CommandError {
        CommandError {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for CommandError {}

/// The answer a command gives, as the shell returns it.
pub type CommandResult<C> = Result<<C as Command>::Output, CommandError>;

/// Wraps a command's argument the way the shell expects it (`{"args": …}`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Invocation<A> {
    pub args: A,
}
