//! The pending interaction: how the protocol (`/oidc/auth`) hands a sign-in to the pages
//! (`/login`) and gets it back (`/oidc/auth/resume`) without either crate knowing the other.
//! It lives in the ephemeral store for 30 minutes under a random id that travels in the URL.

use std::time::Duration;

use keystep_core::ephemeral::EphemeralStore;
use keystep_core::opaque::random_token;
use keystep_mfa::stepup::Step;
use serde::{Deserialize, Serialize};

/// How long a person has to finish signing in.
pub const TTL: Duration = Duration::from_secs(30 * 60);

/// A sign-in in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// Random id; in the URL as `interaction=…`.
    pub id: String,
    /// The client the person signs in to.
    pub client_id: String,
    /// Its display name, for the pages.
    pub client_name: String,
    /// `login_hint`, to prefill the username.
    pub login_hint: Option<String>,
    /// `ui_locales`, for the pages' language.
    pub ui_locales: Option<String>,
    /// When the interaction started (Unix seconds). With `prompt=login` or an exceeded
    /// `max_age`, only a sign-in completed after this counts.
    pub created_at: i64,
    /// True when a sign-in must happen in this interaction even if a session exists.
    pub force_login: bool,
    /// The page the protocol sent the person to last: a page only does its step when it was
    /// asked for.
    #[serde(default)]
    pub pending_step: Option<Step>,
    /// The protocol's own validated request, opaque to the pages.
    pub request: serde_json::Value,
}

fn key(id: &str) -> String {
    format!("interaction:{id}")
}

impl Interaction {
    /// A new interaction with a fresh id.
    pub fn new_id() -> String {
        random_token()
    }

    /// Stores it.
    pub fn save(&self, store: &dyn EphemeralStore) -> keystep_core::Result<()> {
        let bytes = serde_json::to_vec(self)
            .map_err(|e| keystep_core::Error::EphemeralUnavailable(e.to_string()))?;
        store.put(&key(&self.id), &bytes, TTL)
    }

    /// Loads a live interaction; `None` when unknown or expired (or not ours).
    pub fn load(store: &dyn EphemeralStore, id: &str) -> keystep_core::Result<Option<Self>> {
        if id.is_empty() || id.len() > 64 {
            return Ok(None);
        }
        Ok(store
            .get(&key(id))?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Removes it (it is done).
    pub fn remove(store: &dyn EphemeralStore, id: &str) -> keystep_core::Result<()> {
        store.delete(&key(id))
    }
}
