//! Token introspection (RFC 7662): an authenticated confidential client learns whether a
//! token is active and what it carries, including `acr` and `auth_time` so an API can ask
//! for step-up (RFC 9470). Who may ask about what (§2.1, RFC 7662 §4: not a token-checking
//! oracle): a resource server (`keystep client add --introspect`) about any access token,
//! and every client about its own tokens; a refresh token only to the client holding it.
//! Anything else, like an inactive token, gets nothing but `{"active": false}`.

use actix_web::HttpResponse;
use keystep_core::db::DbConn;
use keystep_core::{refresh_tokens, users};
use serde_json::{json, Value};

use crate::error::TokenError;
use crate::token::client_auth::{self, ClientRequest, Transaction};
use crate::token::GrantContext;
use crate::userinfo::verify_access_token;

/// `POST /oidc/token/introspection`
pub async fn post_introspection(request: ClientRequest) -> Result<HttpResponse, TokenError> {
    let token = request.required("token")?;
    let body = request
        .run(Transaction::Read, move |cx, conn| {
            introspect(cx, conn, &token)
        })
        .await?;
    Ok(client_auth::no_store_json(&body))
}

/// What the introspection answers about `token` to the client of `cx`.
fn introspect(
    cx: &GrantContext<'_>,
    conn: &mut DbConn,
    token: &str,
) -> keystep_core::Result<Result<Value, TokenError>> {
    let (services, keys, client, _) = cx.parts();
    if client.public {
        return Ok(Err(TokenError::invalid_client(
            "introspection needs client authentication",
        )));
    }
    let inactive = json!({"active": false});
    // Refresh tokens are opaque base64url, never a JWS with its dots: a JWT needs no lookup.
    let refresh = match token.contains('.') {
        true => None,
        false => refresh_tokens::find_by_token(conn, token)?,
    };
    if let Some(grant) = refresh {
        if grant.client_id != client.id
            || !grant.is_active(services.clock.now())
            || users::find_active(conn, &grant.user_id)?.is_none()
        {
            return Ok(Ok(inactive));
        }
        return Ok(Ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": grant.scope,
            "client_id": grant.client_id,
            "sub": grant.user_id,
            "iss": services.config.issuer(),
            "exp": grant.expires_at,
            "iat": grant.created_at,
            "acr": grant.acr,
            "auth_time": grant.auth_time,
        })));
    }
    let Some(claims) = verify_access_token(services, keys, conn, token)? else {
        return Ok(Ok(inactive));
    };
    if !client.introspect && claims.client_id != client.id {
        return Ok(Ok(inactive));
    }
    let is_person = claims.sub != claims.client_id || claims.auth_time.is_some();
    if is_person && users::find_active(conn, &claims.sub)?.is_none() {
        return Ok(Ok(inactive));
    }
    let mut body = json!({
        "active": true,
        "token_type": "Bearer",
        "scope": claims.scope,
        "client_id": claims.client_id,
        "sub": claims.sub,
        "aud": claims.aud,
        "iss": claims.iss,
        "exp": claims.exp,
        "iat": claims.iat,
        "jti": claims.jti,
    });
    if let Value::Object(map) = &mut body {
        if let Some(acr) = claims.acr {
            map.insert("acr".into(), json!(acr));
        }
        if let Some(auth_time) = claims.auth_time {
            map.insert("auth_time".into(), json!(auth_time));
        }
        if let Some(amr) = claims.amr {
            map.insert("amr".into(), json!(amr));
        }
    }
    Ok(Ok(body))
}
