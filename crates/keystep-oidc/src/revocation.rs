//! Token revocation (RFC 7009): a client revokes its own refresh or access tokens. Revoking a
//! refresh token revokes its whole grant, including the access tokens issued under it. Unknown
//! tokens, and other clients' tokens, are answered 200 as well (§2.2), so the endpoint tells
//! nobody which tokens exist.

use actix_web::HttpResponse;
use keystep_core::db::DbConn;
use keystep_core::refresh_tokens;

use crate::error::TokenError;
use crate::keys::VerifyError;
use crate::token::client_auth::{ClientRequest, Transaction};
use crate::token::GrantContext;
use crate::tokens::{self, AccessClaims};

/// `POST /oidc/token/revocation`
pub async fn post_revocation(request: ClientRequest) -> Result<HttpResponse, TokenError> {
    let token = request.required("token")?;
    request
        .run(Transaction::Write, move |cx, conn| revoke(cx, conn, &token))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}

/// Revokes `token` when it is the client's own; anything else is left alone, silently.
fn revoke(
    cx: &GrantContext<'_>,
    conn: &mut DbConn,
    token: &str,
) -> keystep_core::Result<Result<(), TokenError>> {
    let (services, keys, client, _) = cx.parts();
    if let Some(grant) = refresh_tokens::find_by_token(conn, token)? {
        if grant.client_id == client.id {
            refresh_tokens::revoke_family(conn, services.clock.as_ref(), &grant.family_id)?;
            tokens::revoke_grant_access_tokens(services, &grant.family_id)?;
            tracing::info!(client_id = %client.id, "refresh token revoked");
        }
        return Ok(Ok(()));
    }
    // An access token: valid signature suffices, expired ones need no revoking.
    match keys.verify::<AccessClaims>(services, conn, token, Some("at+jwt"), true) {
        Ok(claims) if claims.client_id == client.id => {
            tokens::revoke_access_token(
                services.ephemeral.as_ref(),
                &claims.jti,
                claims.exp,
                services.clock.now(),
            )?;
            tracing::info!(client_id = %client.id, "access token revoked");
        }
        Ok(_) | Err(VerifyError::Invalid(_)) => {}
        Err(VerifyError::Unavailable(e)) => return Err(e),
    }
    Ok(Ok(()))
}
