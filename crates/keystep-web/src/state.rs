//! Application state and the blocking-pool helper.

use std::sync::Arc;

use actix_web::web;
use keystep_core::db::DbConn;
use keystep_core::Services;

use crate::error::WebError;
use crate::templates::Templates;

/// What every handler can reach. Cloned per worker; cheap (all `Arc`s).
#[derive(Debug, Clone)]
pub struct AppState {
    /// Database, ephemeral store, secret box, mailer, hasher, clock, configuration.
    pub services: Services,
    /// Page templates and the message catalogue.
    pub templates: Arc<Templates>,
    /// True when keystep is reached over https (Secure cookies, HSTS).
    pub https: bool,
}

impl AppState {
    /// State over built services; loads the templates (and any `web_dir` overrides).
    /// Mails are written with the same templates and catalogue as the pages.
    pub fn new(services: Services) -> Result<Self, String> {
        let templates = Arc::new(Templates::load(services.config.web_dir.as_deref())?);
        let https = services.config.public_url.scheme() == "https";
        Ok(Self {
            services: services.with_composer(templates.clone()),
            templates,
            https,
        })
    }

    /// The issuer (`{public_url}/oidc`).
    pub fn issuer(&self) -> String {
        self.services.config.issuer()
    }

    /// An absolute URL for a path on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.services.config.public_base())
    }
}

/// A use case that runs in one transaction: sync domain code over the services and a
/// connection.
pub trait UseCase<T>:
    FnOnce(&Services, &mut DbConn) -> keystep_core::Result<T> + Send + 'static
{
}

impl<T, F> UseCase<T> for F where
    F: FnOnce(&Services, &mut DbConn) -> keystep_core::Result<T> + Send + 'static
{
}

/// Runs one use case on the blocking pool inside one write transaction (rolled back when `f`
/// fails; on SQLite it holds the write lock from the start, see `Database::write`). Handlers
/// cross into sync code once: diesel, argon2 and HMAC are blocking work that must not stall
/// the async workers. `f` must not hash passwords or send mail: use [`run_blocking`] and
/// short transactions of its own for that.
pub async fn run_write<T: Send + 'static>(
    state: &AppState,
    f: impl UseCase<T>,
) -> Result<T, WebError> {
    in_transaction(state, Transaction::Write, f).await
}

/// Runs a use case that only reads on the blocking pool, in one read transaction: on SQLite
/// it neither waits for a writer nor holds one up.
pub async fn run_read<T: Send + 'static>(
    state: &AppState,
    f: impl UseCase<T>,
) -> Result<T, WebError> {
    in_transaction(state, Transaction::Read, f).await
}

#[derive(Clone, Copy)]
enum Transaction {
    Read,
    Write,
}

async fn in_transaction<T: Send + 'static>(
    state: &AppState,
    transaction: Transaction,
    f: impl UseCase<T>,
) -> Result<T, WebError> {
    run_blocking(state, move |services| match transaction {
        Transaction::Read => services.db.read(|conn| f(services, conn)),
        Transaction::Write => services.db.write(|conn| f(services, conn)),
    })
    .await
}

/// Runs `f` on the blocking pool with no transaction open: for use cases with slow steps
/// (a password hash, a mail) between short transactions of their own.
pub async fn run_blocking<T, F>(state: &AppState, f: F) -> Result<T, WebError>
where
    T: Send + 'static,
    F: FnOnce(&Services) -> keystep_core::Result<T> + Send + 'static,
{
    let services = state.services.clone();
    web::block(move || f(&services))
        .await
        .map_err(|_| WebError::Internal("blocking task was cancelled".into()))?
        .map_err(WebError::from)
}
