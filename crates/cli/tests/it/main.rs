//! rf-cli's integration tests, one module per subject, built as one test binary.
//!
//! Every file directly under `tests/` would be a binary of its own that links every dependency
//! (the sync server and rf-tests among them) again; modules of this one binary are linked once
//! (matklad, "Delete Cargo Integration Tests").

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod ai;
mod cli;
mod clock_skew;
mod crash;
mod psa;
mod sync_crash;
mod work;
