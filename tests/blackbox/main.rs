//! keystep's black-box tests: one test binary, one module per area. Each test makes its own
//! backends (SQLite file, fresh PostgreSQL database, private Redis prefix) and, where HTTP is
//! involved, its own server on 127.0.0.1:0.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod account;
mod concurrency;
mod config_files;
mod demo;
mod ephemeral;
mod faults;
mod language;
mod login;
mod methods;
mod mfa;
mod nodes;
mod oidc;
mod server;
mod storage;
