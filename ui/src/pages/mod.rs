//! The screens, one module each.

pub mod conflicts;
pub mod flow_detail;
pub mod home;
pub mod library;
pub mod pilot;
pub mod runner;
pub mod session_detail;
pub mod sessions;
pub mod settings;
pub mod start;
pub mod ticket_post;
