//! Minting tokens: JWT access tokens (RFC 9068, ES256), ID tokens (OIDC Core §2, RS256 or
//! the client's registered ES256) and opaque refresh tokens; and the revocation marks that
//! end access tokens before they expire (kept in the ephemeral store until they would have).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use keystep_core::clients::{Client, IdTokenAlg};
use keystep_core::db::DbConn;
use keystep_core::ephemeral::EphemeralStore;
use keystep_core::refresh_tokens::{self, NewRefreshGrant};
use keystep_core::sessions;
use keystep_core::users::User;
use keystep_core::Services;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::keys::KeyStore;
use crate::params::Scopes;

/// The claims of our JWT access tokens (RFC 9068 §2.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// The person, or the client for client_credentials.
    pub sub: String,
    /// The resource the token is for (RFC 8707 `resource`), else the client it was issued to.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Token id, for revocation.
    pub jti: String,
    /// The client.
    pub client_id: String,
    /// Granted scope.
    pub scope: String,
    /// When the person signed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Assurance level of that sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Methods of that sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// The SSO session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The grant (refresh-token family): revoking it ends this token too (RFC 7009 §2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
}

/// How a person signed in, carried from the session into every token of a grant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignIn {
    /// `sid`; `None` for offline refreshes whose session has ended.
    pub session_id: Option<String>,
    /// `auth_time`.
    pub auth_time: i64,
    /// `acr`.
    pub acr: String,
    /// `amr`.
    pub amr: Vec<String>,
}

/// What to do about a refresh token.
#[derive(Debug, Clone)]
pub enum RefreshPlan {
    /// None (client_credentials).
    None,
    /// Start a grant (authorization code).
    New,
    /// Continue a family (rotation).
    Continue(String),
}

/// What the token endpoint returns, plus what revocation needs to know.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The JSON body of the token response.
    pub body: Value,
    /// The refresh-token family, when one exists.
    pub family_id: Option<String>,
    /// The access token's `jti`.
    pub access_jti: String,
    /// The access token's `exp`.
    pub access_exp: i64,
}

/// What a grant hands to [`issue`].
pub struct Grant<'a> {
    /// Issued to.
    pub client: &'a Client,
    /// The person (absent for client_credentials).
    pub user: Option<&'a User>,
    /// How they signed in.
    pub sign_in: Option<&'a SignIn>,
    /// Granted scope.
    pub scope: &'a Scopes,
    /// ID token `nonce`.
    pub nonce: Option<&'a str>,
    /// The `claims` request parameter.
    pub claims: Option<&'a Value>,
    /// Refresh token handling.
    pub refresh: RefreshPlan,
}

impl<'a> Grant<'a> {
    /// A grant to a person: who, how they signed in, the scope, and the refresh token's fate.
    pub fn to_person(
        client: &'a Client,
        user: &'a User,
        sign_in: &'a SignIn,
        scope: &'a Scopes,
        refresh: RefreshPlan,
    ) -> Self {
        Self {
            client,
            user: Some(user),
            sign_in: Some(sign_in),
            scope,
            nonce: None,
            claims: None,
            refresh,
        }
    }

    /// A grant to the client itself (client_credentials): no person, no refresh token.
    pub fn to_client(client: &'a Client, scope: &'a Scopes) -> Self {
        Self {
            client,
            user: None,
            sign_in: None,
            scope,
            nonce: None,
            claims: None,
            refresh: RefreshPlan::None,
        }
    }
}

fn secs(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX / 2)
}

/// `at_hash`: the left half of SHA-256 of the access token, base64url (OIDC Core §3.1.3.6;
/// SHA-256 because both RS256 and ES256 use it).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// The claims a scope releases about a person (OIDC Core §5.4).
pub fn scope_claims(user: &User, scope: &Scopes) -> Map<String, Value> {
    let mut claims = Map::new();
    if scope.contains("profile") {
        claims.insert("name".into(), json!(user.display_name));
        claims.insert("preferred_username".into(), json!(user.username));
        claims.insert("updated_at".into(), json!(user.updated_at));
    }
    if scope.contains("email") {
        claims.insert("email".into(), json!(user.email));
    }
    claims
}

/// Mints the tokens of a grant; the access token is for `audience` (a checked resource
/// indicator) or, without one, for the client itself.
pub fn issue(
    services: &Services,
    keys: &KeyStore,
    conn: &mut DbConn,
    grant: &Grant<'_>,
    audience: Option<&str>,
) -> keystep_core::Result<Issued> {
    let config = &services.config;
    let now = services.clock.now();
    let issuer = config.issuer();
    let client = grant.client;
    let scope_string = grant.scope.to_string();

    let family_id = match (&grant.refresh, grant.user, grant.sign_in) {
        (RefreshPlan::None, _, _) | (_, None, _) | (_, _, None) => None,
        (RefreshPlan::New, Some(_), Some(_)) => Some(uuid::Uuid::new_v4().to_string()),
        (RefreshPlan::Continue(family), Some(_), Some(_)) => Some(family.clone()),
    };

    let access_exp = now + secs(config.tokens.access_token_seconds);
    let access = AccessClaims {
        iss: issuer.clone(),
        sub: grant
            .user
            .map_or_else(|| client.id.clone(), |u| u.id.clone()),
        aud: audience.map_or_else(|| client.id.clone(), str::to_owned),
        exp: access_exp,
        iat: now,
        jti: uuid::Uuid::new_v4().to_string(),
        client_id: client.id.clone(),
        scope: scope_string.clone(),
        auth_time: grant.sign_in.map(|s| s.auth_time),
        acr: grant.sign_in.map(|s| s.acr.clone()),
        amr: grant.sign_in.map(|s| s.amr.clone()),
        sid: grant.sign_in.and_then(|s| s.session_id.clone()),
        gid: family_id.clone(),
    };
    let access_token = keys.sign(services, conn, Algorithm::ES256, "at+jwt", &access)?;

    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": config.tokens.access_token_seconds,
    });
    if !scope_string.is_empty() {
        body["scope"] = json!(scope_string);
    }

    if let (Some(user), Some(sign_in)) = (grant.user, grant.sign_in) {
        if grant.scope.contains("openid") {
            let mut id = Map::new();
            id.insert("iss".into(), json!(issuer));
            id.insert("sub".into(), json!(user.id));
            id.insert("aud".into(), json!(client.id));
            id.insert("azp".into(), json!(client.id));
            id.insert(
                "exp".into(),
                json!(now + secs(config.tokens.id_token_seconds)),
            );
            id.insert("iat".into(), json!(now));
            id.insert("auth_time".into(), json!(sign_in.auth_time));
            if let Some(nonce) = grant.nonce {
                id.insert("nonce".into(), json!(nonce));
            }
            id.insert("acr".into(), json!(sign_in.acr));
            id.insert("amr".into(), json!(sign_in.amr));
            if let Some(sid) = &sign_in.session_id {
                id.insert("sid".into(), json!(sid));
            }
            id.insert("at_hash".into(), json!(at_hash(&access_token)));
            // Profile and email claims go into the ID token only when the claims parameter
            // asks for them there (OIDC Core §5.5), and only as far as the scope allows.
            if let Some(requested) = grant
                .claims
                .and_then(|c| c.get("id_token"))
                .and_then(Value::as_object)
            {
                for (name, value) in scope_claims(user, grant.scope) {
                    if requested.contains_key(&name) {
                        id.insert(name, value);
                    }
                }
            }
            let alg = match client.id_token_signed_response_alg {
                IdTokenAlg::RS256 => Algorithm::RS256,
                IdTokenAlg::ES256 => Algorithm::ES256,
            };
            body["id_token"] = json!(keys.sign(services, conn, alg, "JWT", &Value::Object(id))?);
        }
        if let Some(family) = &family_id {
            // offline_access tokens outlive the SSO session; others end with it.
            let session_id = if grant.scope.contains("offline_access") {
                None
            } else {
                sign_in.session_id.as_deref()
            };
            let (_, refresh_token) = refresh_tokens::issue(
                conn,
                services.clock.as_ref(),
                &NewRefreshGrant {
                    family_id: Some(family),
                    client_id: &client.id,
                    user_id: &user.id,
                    session_id,
                    scope: &scope_string,
                    auth_time: sign_in.auth_time,
                    acr: &sign_in.acr,
                    amr: &sign_in.amr,
                    lifetime: secs(config.tokens.refresh_token_seconds),
                },
            )?;
            body["refresh_token"] = json!(refresh_token);
        }
    }
    Ok(Issued {
        body,
        family_id,
        access_jti: access.jti,
        access_exp,
    })
}

fn remaining(exp: i64, now: i64) -> Duration {
    Duration::from_secs(u64::try_from(exp - now).unwrap_or(0).max(1))
}

/// Ends one access token (by `jti`) until it would have expired.
pub fn revoke_access_token(
    store: &dyn EphemeralStore,
    jti: &str,
    exp: i64,
    now: i64,
) -> keystep_core::Result<()> {
    store.put(&format!("revoked-jti:{jti}"), b"1", remaining(exp, now))
}

/// Ends every access token of a grant (refresh-token family) issued so far.
pub fn revoke_grant_access_tokens(
    services: &Services,
    family_id: &str,
) -> keystep_core::Result<()> {
    let lifetime = Duration::from_secs(services.config.tokens.access_token_seconds + 1);
    services.ephemeral.put(
        &refresh_tokens::family_revoked_mark(family_id),
        b"1",
        lifetime,
    )
}

/// True when an access token was revoked: itself, through its grant, or by the end of the
/// session it was issued in.
pub fn is_revoked(store: &dyn EphemeralStore, claims: &AccessClaims) -> keystep_core::Result<bool> {
    let marks: Vec<String> = [
        Some(format!("revoked-jti:{}", claims.jti)),
        claims
            .gid
            .as_deref()
            .map(refresh_tokens::family_revoked_mark),
        claims.sid.as_deref().map(sessions::ended_mark),
    ]
    .into_iter()
    .flatten()
    .collect();
    let marks: Vec<&str> = marks.iter().map(String::as_str).collect();
    store.any_live(&marks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_left_half_of_sha256() {
        // OIDC Core A.3's access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" has
        // at_hash "77QmUPtjPfzWtF2AnpK9RQ" (RS256).
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
