//! Application state and the blocking-pool helper.

use actix_web::web;
use keystep_core::db::DbConn;
use keystep_core::Services;

use crate::error::WebError;

/// What every handler can reach: the domain services. Cloned per worker; cheap (all `Arc`s).
#[derive(Debug, Clone)]
pub struct AppState {
    /// Database, ephemeral store, secret box, mailer, hasher, clock, configuration.
    pub services: Services,
}

impl AppState {
    /// State over built services.
    pub fn new(services: Services) -> Self {
        Self { services }
    }
}

/// Runs one use case on the blocking pool with a pooled connection, inside one transaction
/// (rolled back when `f` fails). Handlers cross into sync code once, through here: diesel,
/// argon2 and HMAC are blocking work that must not stall the async workers.
pub async fn run_blocking<T, F>(state: &AppState, f: F) -> Result<T, WebError>
where
    T: Send + 'static,
    F: FnOnce(&Services, &mut DbConn) -> keystep_core::Result<T> + Send + 'static,
{
    let services = state.services.clone();
    web::block(move || {
        let mut conn = services.db.conn()?;
        diesel::Connection::transaction(&mut *conn, |conn| f(&services, conn))
    })
    .await
    .map_err(|_| WebError::Internal("blocking task was cancelled".into()))?
    .map_err(WebError::from)
}
