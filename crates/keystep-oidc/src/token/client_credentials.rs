//! The client_credentials grant (RFC 6749 §4.4): a confidential client gets an access token
//! for itself. `openid` and `offline_access` make no sense without a person and are refused;
//! other scopes are the resource servers' own and passed through.

use keystep_core::db::DbConn;

use super::{GrantContext, GrantResult};
use crate::error::TokenError;
use crate::params::Scopes;
use crate::tokens::Grant;

/// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
fn valid_scope_token(s: &str) -> bool {
    s.bytes()
        .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Issues a token to the client itself.
pub fn grant(cx: &GrantContext<'_>, conn: &mut DbConn) -> keystep_core::Result<GrantResult> {
    let (_, _, client, params) = cx.parts();
    if client.public {
        return Ok(Err(TokenError::unauthorized_client(
            "public clients cannot use client_credentials",
        )));
    }
    let scope = Scopes::parse(params.get("scope").unwrap_or_default());
    if scope.contains("openid") || scope.contains("offline_access") {
        return Ok(Err(TokenError::invalid_scope(
            "openid and offline_access need a person; not with client_credentials",
        )));
    }
    if !scope.iter().all(valid_scope_token) {
        return Ok(Err(TokenError::invalid_scope("malformed scope")));
    }
    let issued = cx.issue(conn, &Grant::to_client(client, &scope))?;
    Ok(Ok(issued.body))
}
