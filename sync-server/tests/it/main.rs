//! rf-sync-server's integration tests: the real `rf-sync-server` binary run as a child process
//! (`env!("CARGO_BIN_EXE_rf-sync-server")`, which cargo sets only for this package's own tests),
//! one module per subject, built as one test binary. What they share is in `common`; the
//! in-process tests over HTTP are in the rf-tests package (`tests/it/`).
//!
//! Every file directly under `tests/` would be a binary of its own that links every dependency
//! again; modules of this one binary are linked once (matklad, "Delete Cargo Integration Tests").

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod common;
mod kill;
mod login_burst;
mod process;
mod users;
