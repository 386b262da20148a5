//! The UserInfo endpoint (`/oidc/me`, GET and POST, OIDC Core §5.3): a valid, unrevoked
//! access token with `openid` gets the person's claims allowed by its scope. Errors are
//! RFC 6750 challenges.

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use keystep_core::db::DbConn;
use keystep_core::{users, Services};
use keystep_web::{run_read, AppState};
use serde_json::{json, Value};

use crate::error::BearerError;
use crate::keys::{KeyStore, VerifyError};
use crate::params::{Params, Scopes};
use crate::tokens::{self, AccessClaims};
use crate::Oidc;

/// Verifies one of our access tokens: signature, issuer, type, expiry (a signature this node
/// checked recently is trusted, see [`crate::verified`]), and revocation (every time).
pub fn verify_access_token(
    services: &Services,
    keys: &KeyStore,
    conn: &mut DbConn,
    token: &str,
) -> keystep_core::Result<Option<AccessClaims>> {
    let now = services.clock.now();
    let remembered = keys
        .verified
        .get(token, now, |kid| keys.has_fresh_key(kid, now));
    let claims = match remembered {
        Some(claims) => claims,
        None => match keys.verify::<AccessClaims>(services, conn, token, Some("at+jwt"), true) {
            Ok(claims) => {
                // verify has read the header already; its kid named a loaded key.
                if let Some(kid) = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid) {
                    keys.verified.remember(token, &kid, &claims, now);
                }
                claims
            }
            Err(VerifyError::Invalid(_)) => return Ok(None),
            Err(VerifyError::Unavailable(e)) => return Err(e),
        },
    };
    if tokens::is_revoked(services.ephemeral.as_ref(), &claims)? {
        return Ok(None);
    }
    Ok(Some(claims))
}

/// The bearer token of a request: the Authorization header (RFC 6750 §2.1) or, for POST, the
/// `access_token` form field (§2.2); never both.
fn bearer(req: &HttpRequest, body: Option<&[u8]>) -> Result<String, BearerError> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned());
    let form = match body.filter(|b| !b.is_empty()) {
        Some(b) => Params::parse(b)
            .map_err(BearerError::invalid_request)?
            .get("access_token")
            .map(str::to_owned),
        None => None,
    };
    match (header, form) {
        (Some(_), Some(_)) => Err(BearerError::invalid_request(
            "send the token in one place only",
        )),
        (Some(t), None) | (None, Some(t)) if !t.is_empty() => Ok(t),
        _ => Err(BearerError::missing()),
    }
}

/// `GET /oidc/me`
pub async fn get_userinfo(
    state: web::Data<AppState>,
    oidc: web::Data<Oidc>,
    req: HttpRequest,
) -> Result<HttpResponse, BearerError> {
    let token = bearer(&req, None)?;
    userinfo(state, oidc, token).await
}

/// `POST /oidc/me`
pub async fn post_userinfo(
    state: web::Data<AppState>,
    oidc: web::Data<Oidc>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, BearerError> {
    let token = bearer(&req, Some(&body))?;
    userinfo(state, oidc, token).await
}

async fn userinfo(
    state: web::Data<AppState>,
    oidc: web::Data<Oidc>,
    token: String,
) -> Result<HttpResponse, BearerError> {
    let oidc = oidc.into_inner();
    let result = run_read(&state, move |services, conn| {
        let Some(claims) = verify_access_token(services, &oidc.keys, conn, &token)? else {
            return Ok(Err(BearerError::invalid_token(
                "the access token is invalid, expired or revoked",
            )));
        };
        let scope = Scopes::parse(&claims.scope);
        if !scope.contains("openid") {
            return Ok(Err(BearerError::insufficient_scope(
                "the token was not granted the openid scope",
            )));
        }
        let Some(user) = users::find_active(conn, &claims.sub)? else {
            return Ok(Err(BearerError::invalid_token(
                "the account is no longer active",
            )));
        };
        let mut body = json!({"sub": user.id});
        if let Value::Object(map) = &mut body {
            map.extend(tokens::scope_claims(&user, &scope));
        }
        Ok(Ok(body))
    })
    .await?;
    let body = result?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(body))
}
