//! The sync protocol: the messages a replica and the sync server exchange, and the pure
//! decisions both sides make about them (yaak's `compute_sync_ops`, atuin's `operations`).
//!
//! - [`plan_push`] decides, for one client's batch, which mutations to apply, which are
//!   duplicates to acknowledge again, and where a gap must stop the batch (Replicache's
//!   per-client mutation numbers, checked in the same transaction as the effect).
//! - [`merge_flow`] is the three-way merge of a flow document: concurrent edits of different
//!   nodes or fields merge; concurrent edits of the same field keep the server's value and
//!   record the other as a [`FieldConflict`], so nothing is dropped.
//! - [`negotiate`] answers a client's protocol and schema versions.
//!
//! No IO and no clock: order comes from sequence numbers, never from timestamps.
//!
//! Modules: [`messages`] (what crosses the wire), [`planners`] (the push decisions, identity
//! clashes, negotiation) and [`merge`] (the three-way flow merge).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::version::VersionId;

mod merge;
mod messages;
mod planners;
mod records;

pub use merge::*;
pub use messages::*;
pub use planners::*;
pub use records::*;

/// The protocol this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The most JSON a replica puts in one push batch, unless its first item alone is larger.
pub const PUSH_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// The largest single item a push may carry: a session event at its limit with the flow
/// document it runs at its limit (a `put_version` mutation is smaller: one document).
pub const MAX_PUSH_ITEM_BYTES: usize =
    crate::flow::MAX_FLOW_FILE_BYTES + crate::received::MAX_EVENT_BYTES + 64 * 1024;

/// The sync server's request body limit (after decompression). It holds a full batch or a
/// batch of one item at the largest size the replica accepts, so nothing recorded locally can
/// be too large to sync; `tests` below hold the sum.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// The most JSON the server puts in one pull page (or snapshot line), unless one change alone
/// is larger (a flow document, at most `MAX_FLOW_FILE_BYTES`).
pub const PULL_PAGE_BYTES: usize = 4 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_line_up() {
        // A batch of one item at its largest, or a full batch, fits the server's body limit.
        const {
            assert!(MAX_REQUEST_BYTES >= MAX_PUSH_ITEM_BYTES + PUSH_BATCH_BYTES);
            assert!(MAX_PUSH_ITEM_BYTES > crate::flow::MAX_FLOW_FILE_BYTES);
        }
    }
}
