//! Storage written once: the primitives each back end provides ([`rows::AccountRows`]), and
//! the transactions decided over them ([`accounts`]). A back end repeats SQL, never a decision.

pub mod accounts;
pub mod pull;
pub mod push;
pub mod rows;
