//! UI state as plain reducers with no web APIs, tested with `cargo test -p rf-ui` on the host.

pub mod app;
pub mod conflicts;
pub mod launcher;
pub mod library;
pub mod runner;
pub mod sessions;
pub mod settings;
pub mod start;
pub mod status;

#[cfg(test)]
mod fixtures;
pub mod pilot;
pub mod ticket_post;
