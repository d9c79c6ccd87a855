//! Pure rules over the domain types, decided once without storage or HTTP: which account
//! changes are allowed, how a pushed mutation is checked and a flow change planned, where a
//! pull page ends, how passwords are hashed and logins limited. Imports only `domain`.

pub mod accounts;
pub mod auth;
pub mod flows;
pub mod paging;
pub mod psa;
pub mod push;
pub mod records;
pub mod sessions;
