//! rf-core: the flow model and its validation, the session navigation engine, ticket-note
//! exports with redaction, and path statistics. No IO: this crate builds for wasm32 so the UI
//! renders previews with exactly the code the CLI uses.
#![forbid(unsafe_code)]

pub mod ai;
pub mod batch;
pub mod export;
pub mod flow;
pub mod psa;
pub mod received;
pub mod redact;
pub mod schedule;
pub mod session;
pub mod sse;
pub mod stats;
pub mod sync;
pub mod text;
pub mod validate;
pub mod version;

pub use flow::{Flow, FlowKind, Node, NodeKind, Outcome, ParseError};
pub use session::{
    Choice, Command, EngineError, EventKind, FlowRef, FlowSet, SessionEvent, SessionState,
    StartRequest,
};
pub use validate::{Problem, ProblemLocation};
pub use version::{VersionId, is_sha256_hex, sha256_hex};
