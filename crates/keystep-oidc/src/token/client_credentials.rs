//! The client_credentials grant (RFC 6749 §4.4): a confidential client gets an access token
//! for itself. `openid` and `offline_access` make no sense without a person and are refused;
//! other scopes must be registered for the client (`keystep client add --scope`), and without
//! a `scope` parameter it gets all of its registered ones (RFC 6749 §3.3).

use keystep_core::clients::is_scope_token;
use keystep_core::db::DbConn;

use super::{GrantContext, GrantResult};
use crate::error::TokenError;
use crate::params::Scopes;
use crate::tokens::Grant;

/// Issues a token to the client itself.
pub fn grant(cx: &GrantContext<'_>, conn: &mut DbConn) -> keystep_core::Result<GrantResult> {
    let (_, _, client, params) = cx.parts();
    if client.public {
        return Ok(Err(TokenError::unauthorized_client(
            "public clients cannot use client_credentials",
        )));
    }
    let registered = Scopes::parse(&client.scopes.join(" "));
    let scope = match params.get("scope") {
        Some(asked) => Scopes::parse(asked),
        None => registered.clone(),
    };
    if scope.contains("openid") || scope.contains("offline_access") {
        return Ok(Err(TokenError::invalid_scope(
            "openid and offline_access need a person; not with client_credentials",
        )));
    }
    if !scope.iter().all(is_scope_token) {
        return Ok(Err(TokenError::invalid_scope("malformed scope")));
    }
    if let Some(unregistered) = scope.iter().find(|s| !registered.contains(s)) {
        return Ok(Err(TokenError::invalid_scope(format!(
            "scope {unregistered:?} is not registered for this client"
        ))));
    }
    let issued = cx.issue(conn, &Grant::to_client(client, &scope))?;
    Ok(Ok(issued.body))
}
