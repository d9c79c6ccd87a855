//! The bottom layer: plain types every other layer shares (accounts, flow mutations, pushes)
//! and the error below HTTP. It imports from no other layer.

pub mod error;
pub mod flows;
pub mod psa;
pub mod push;
pub mod users;
