//! The layer that talks to other companies' services for a team (ConnectWise Manage, the PSA;
//! Anthropic, FlowPilot's model) and keeps the secrets that takes: the server's secrets keys
//! and the sealing of team secrets ([`secrets`]), the ConnectWise client ([`connectwise`]),
//! FlowPilot's model ([`anthropic`]).
//! Imports `domain`, `rules` and `storage`.

pub mod anthropic;
pub mod connectwise;
pub mod secrets;
