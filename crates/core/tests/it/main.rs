//! rf-core's integration tests, one module per subject, built as one test binary.
//!
//! Every file directly under `tests/` would be a binary of its own that links every dependency
//! again; modules of this one binary are linked once (matklad, "Delete Cargo Integration Tests").
//! Insta keeps the export snapshots in `snapshots/` beside this file, named `it__export__*`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod batch;
mod engine;
mod export;
mod format;
mod redaction_corpus;
mod schedule;
mod schema;
mod sync;
