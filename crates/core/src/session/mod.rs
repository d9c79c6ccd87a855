//! Sessions: the append-only event log, the state computed from it, and the navigation engine
//! that turns an engineer's command into new events.
//!
//! The split is decide/evolve. [`decide`] looks at the state and the flow documents and returns
//! the events a command produces (or an error, changing nothing). [`SessionState::apply`] folds
//! one event into the state and needs no flow document, because every event records its decision
//! (the node entered, its title, the label chosen). So a session's state is a pure function of
//! its events, whatever happens to the flows later.
//!
//! Modules: [`event`] (the event format and the flow references in it), [`state`] (the fold of
//! events into a session's state), [`engine`] (commands decided into events, with the limits
//! and errors they answer) and [`view`] (the step in front of the engineer).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::flow::{Flow, FlowKind, IntakeField, Node, NodeKind, Outcome, substitute};
use crate::version::VersionId;
mod engine;
mod event;
mod handoff;
mod state;
mod view;

pub use engine::*;
pub use event::*;
pub use handoff::*;
pub use state::*;
pub use view::*;
