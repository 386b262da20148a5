//! Authorization codes (RFC 6749 §4.1.2): random, single use, 60 seconds, bound to the client,
//! the redirect URI and the PKCE challenge, carrying a snapshot of how the person signed in.
//! Stored in the ephemeral store under the code's hash and taken atomically, so of two
//! concurrent redemptions on any nodes exactly one succeeds. A redeemed code leaves a
//! tombstone naming what was issued from it, so a replay can revoke those tokens (RFC 9700
//! §4.2.4).

use std::time::Duration;

use keystep_core::ephemeral::EphemeralStore;
use keystep_core::opaque::{hash_token, random_token};
use serde::{Deserialize, Serialize};

use crate::tokens::SignIn;

/// A code's lifetime.
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// How long a redeemed code's tombstone is kept (longer than the code could live).
const TOMBSTONE_TTL: Duration = Duration::from_secs(600);

/// What a code stands for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    /// Issued to.
    pub client_id: String,
    /// Must be presented again at the token endpoint.
    pub redirect_uri: String,
    /// Who signed in.
    pub user_id: String,
    /// Granted scope.
    pub scope: String,
    /// Echoed into the ID token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// How the person signed in: the SSO session (`sid`) and a snapshot of `auth_time`,
    /// `acr` and `amr`. Stored flat, as the fields of the code's record have always been,
    /// so nodes of the previous version redeem the codes of this one during an upgrade.
    #[serde(flatten)]
    pub sign_in: SignIn,
    /// The `claims` request parameter, if any.
    pub claims: Option<serde_json::Value>,
}

/// What was issued from a redeemed code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tombstone {
    /// The refresh-token family, if one was issued.
    pub family_id: Option<String>,
    /// The access token's id.
    pub access_jti: String,
    /// The access token's expiry (Unix seconds).
    pub access_exp: i64,
}

fn key(code: &str) -> String {
    format!("code:{}", hash_token(code))
}

fn tombstone_key(code: &str) -> String {
    format!("code-used:{}", hash_token(code))
}

fn store_error(e: serde_json::Error) -> keystep_core::Error {
    keystep_core::Error::EphemeralUnavailable(e.to_string())
}

/// Stores a grant and returns its code.
pub fn issue(store: &dyn EphemeralStore, grant: &CodeGrant) -> keystep_core::Result<String> {
    let code = random_token();
    store.put(
        &key(&code),
        &serde_json::to_vec(grant).map_err(store_error)?,
        CODE_TTL,
    )?;
    Ok(code)
}

/// A code this server could have issued: anything longer is not looked up.
fn plausible(code: &str) -> bool {
    code.len() <= 128
}

/// What a stored record holds, when it is one (a record that does not parse is none).
fn decoded<T: serde::de::DeserializeOwned>(record: Option<Vec<u8>>) -> Option<T> {
    record.and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

/// Takes the grant behind a code, once.
pub fn redeem(store: &dyn EphemeralStore, code: &str) -> keystep_core::Result<Option<CodeGrant>> {
    if !plausible(code) {
        return Ok(None);
    }
    Ok(decoded(store.take(&key(code))?))
}

/// Records what was issued from a redeemed code.
pub fn bury(
    store: &dyn EphemeralStore,
    code: &str,
    tombstone: &Tombstone,
) -> keystep_core::Result<()> {
    store.put(
        &tombstone_key(code),
        &serde_json::to_vec(tombstone).map_err(store_error)?,
        TOMBSTONE_TTL,
    )
}

/// What was issued from a code that was already redeemed, if it was.
pub fn exhumed(store: &dyn EphemeralStore, code: &str) -> keystep_core::Result<Option<Tombstone>> {
    if !plausible(code) {
        return Ok(None);
    }
    Ok(decoded(store.get(&tombstone_key(code))?))
}
