//! keystep-core: the domain of the keystep OpenID provider without any web framework —
//! configuration types, storage on SQLite or PostgreSQL, users and passwords, clients, the
//! ephemeral store (memory or Redis), the secret box, mail, the audit log and the clock.
//! It must never depend on actix or handlebars (CI checks it with `cargo tree`).

pub mod account;
pub mod audit;
pub mod clients;
pub mod clock;
pub mod config;
pub mod db;
pub mod ephemeral;
pub mod error;
pub mod mail;
pub mod opaque;
pub mod password;
pub mod refresh_tokens;
pub mod schema;
pub mod secret_box;
pub mod services;
pub mod sessions;
pub mod signin;
pub mod signing_keys;
pub mod signout;
pub mod sms;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod throttle;
pub mod users;

pub use error::{Error, Result};
pub use services::Services;
