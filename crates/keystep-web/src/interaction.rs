//! The pending interaction: how the protocol (`/oidc/auth`) hands a sign-in to the pages
//! (`/login`) and gets it back (`/oidc/auth/resume`) without either crate knowing the other.
//! It lives in the ephemeral store for 10 minutes under a random id that travels in the URL,
//! and is bound to the browser that started it: the id alone (leaked through an access log or
//! a Referer) does not let another browser finish someone's sign-in.

use std::time::Duration;

use actix_web::HttpRequest;
use keystep_core::ephemeral::EphemeralStore;
use keystep_core::opaque::{constant_time_eq, hash_token, random_token};

use crate::cookies::{self, CookieKind};
use keystep_mfa::stepup::Step;
use serde::{Deserialize, Serialize};

/// How long a person has to finish signing in: enough to find a phone or a recovery code,
/// short enough that pending sign-ins do not pile up in the store.
pub const TTL: Duration = Duration::from_secs(10 * 60);

/// The most one interaction may take in the store, its request included. Every parameter
/// it keeps is bounded at `/oidc/auth`, so a request within those bounds (a 2 KB `state`,
/// `claims` of 4 KB) fits with room to spare.
pub const MAX_STORED_BYTES: usize = 16 * 1024;

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
    /// The hash of the browser key ([`BrowserKey`]) of the browser that started it.
    /// Interactions stored before there was one have none, and open nowhere.
    #[serde(default)]
    pub browser: String,
    /// The protocol's own validated request, opaque to the pages.
    pub request: serde_json::Value,
}

/// Why a pending interaction cannot go on in this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// Unknown, expired or finished.
    Expired,
    /// Started in another browser (or this one lost its browser key).
    OtherBrowser,
}

impl Unavailable {
    /// The message that tells the person.
    pub fn message_key(self) -> &'static str {
        match self {
            Self::Expired => "login.expired",
            Self::OtherBrowser => "login.other_browser",
        }
    }
}

/// The random key in a browser's cookie that its pending sign-ins are bound to. One per
/// browser (not per sign-in), so sign-ins in several tabs go on side by side.
#[derive(Debug, Clone)]
pub struct BrowserKey {
    value: String,
    /// Made for this request: the response must set the cookie.
    pub is_new: bool,
}

impl BrowserKey {
    /// The key the request carries, if any.
    pub fn sent(req: &HttpRequest, https: bool) -> Option<Self> {
        cookies::read(req, CookieKind::Browser, https).map(|value| Self {
            value,
            is_new: false,
        })
    }

    /// The key the request carries, or a new one to set.
    pub fn sent_or_new(req: &HttpRequest, https: bool) -> Self {
        Self::sent(req, https).unwrap_or_else(|| Self {
            value: random_token(),
            is_new: true,
        })
    }

    /// What an interaction stores: only the hash, so a copy of the store holds no key.
    pub fn hash(&self) -> String {
        hash_token(&self.value)
    }

    /// The cookie that gives the browser this key.
    pub fn cookie(&self, https: bool) -> actix_web::cookie::Cookie<'static> {
        cookies::build(CookieKind::Browser, self.value.clone(), https)
    }
}

fn key(id: &str) -> String {
    format!("interaction:{id}")
}

impl Interaction {
    /// A new interaction with a fresh id.
    pub fn new_id() -> String {
        random_token()
    }

    /// Stores it until [`TTL`] after it was created (saving it again does not extend its
    /// life), as a value the store may drop when full; `false` (and nothing stored) when it
    /// is larger than [`MAX_STORED_BYTES`].
    #[must_use = "an interaction too large to keep is not stored"]
    pub fn save(&self, store: &dyn EphemeralStore, now: i64) -> keystep_core::Result<bool> {
        let bytes = serde_json::to_vec(self)
            .map_err(|e| keystep_core::Error::EphemeralUnavailable(e.to_string()))?;
        if bytes.len() > MAX_STORED_BYTES {
            return Ok(false);
        }
        let ends = self.created_at.saturating_add(TTL.as_secs() as i64);
        let left = u64::try_from(ends.saturating_sub(now)).unwrap_or(0).max(1);
        store.put_droppable(&key(&self.id), &bytes, Duration::from_secs(left))?;
        Ok(true)
    }

    /// Loads a live interaction for the browser holding `browser` (the request's key).
    pub fn load(
        store: &dyn EphemeralStore,
        id: &str,
        browser: Option<&BrowserKey>,
    ) -> keystep_core::Result<Result<Self, Unavailable>> {
        if id.is_empty() || id.len() > 64 {
            return Ok(Err(Unavailable::Expired));
        }
        let Some(interaction) = store
            .get(&key(id))?
            .and_then(|bytes| serde_json::from_slice::<Self>(&bytes).ok())
        else {
            return Ok(Err(Unavailable::Expired));
        };
        let ours = browser.is_some_and(|key| {
            !interaction.browser.is_empty() && constant_time_eq(&key.hash(), &interaction.browser)
        });
        Ok(if ours {
            Ok(interaction)
        } else {
            Err(Unavailable::OtherBrowser)
        })
    }

    /// Removes it (it is done).
    pub fn remove(store: &dyn EphemeralStore, id: &str) -> keystep_core::Result<()> {
        store.delete(&key(id))
    }
}
