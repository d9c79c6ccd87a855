//! rf-tests' cross-process tests, one module per subject, built as one test binary. The harness
//! they share (`TestServer`, `Device`, `on_every_backend!`, `FaultyProxy`…) is the library in
//! `../src/`.
//!
//! Every file directly under `tests/` would be a binary of its own that links every dependency
//! again; modules of this one binary are linked once (matklad, "Delete Cargo Integration Tests").

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod ai;
mod attachments;
mod attachments_bucket;
mod auth;
mod batches;
mod compression;
mod converge;
mod flow_access;
mod handoff;
mod hardening;
mod openapi;
mod psa;
mod psa_posts;
mod simulation;
mod store_contract;
mod sync_pull;
mod sync_push;
mod users_api;
