//! The refresh_token grant (RFC 6749 §6): the token is spent and replaced in its family; the
//! scope may only narrow; a token presented after rotation revokes its family and the access
//! tokens of the grant.

use keystep_core::db::DbConn;
use keystep_core::refresh_tokens::{self, Rotation};
use keystep_core::{sessions, users};

use super::{GrantContext, GrantResult};
use crate::error::TokenError;
use crate::params::Scopes;
use crate::tokens::{self, Grant, RefreshPlan, SignIn};

/// Rotates a refresh token.
pub fn grant(cx: &GrantContext<'_>, conn: &mut DbConn) -> keystep_core::Result<GrantResult> {
    let (services, _, client, params) = cx.parts();
    let Some(presented) = params.get("refresh_token") else {
        return Ok(Err(TokenError::invalid_request("refresh_token is missing")));
    };
    // A request the grant could never satisfy is refused before the token is spent, so the
    // client keeps a working token.
    if let (Some(requested), Some(current)) = (
        params.get("scope"),
        refresh_tokens::find_by_token(conn, presented)?,
    ) {
        if current.client_id == client.id
            && !Scopes::parse(requested).is_subset_of(&Scopes::parse(&current.scope))
        {
            return Ok(Err(TokenError::invalid_scope(
                "the scope may only narrow what was granted",
            )));
        }
    }
    let old = match refresh_tokens::spend(conn, services.clock.as_ref(), presented, &client.id)? {
        Rotation::Rotated(old) => old,
        Rotation::Invalid => {
            return Ok(Err(TokenError::invalid_grant(
                "the refresh token is invalid, expired or revoked",
            )))
        }
        Rotation::Reused { family_id } => {
            tokens::revoke_grant_access_tokens(services, &family_id)?;
            return Ok(Err(TokenError::invalid_grant(
                "the refresh token was already used; the grant is revoked",
            )));
        }
    };
    let granted = Scopes::parse(&old.scope);
    let scope = match params.get("scope") {
        Some(requested) => {
            let requested = Scopes::parse(requested);
            if !requested.is_subset_of(&granted) {
                return Ok(Err(TokenError::invalid_scope(
                    "the scope may only narrow what was granted",
                )));
            }
            requested
        }
        None => granted,
    };
    // An offline grant (bound to no session) lives only while its client is registered for
    // offline access: one granted before that registration existed ends here.
    if old.session_id.is_none() && !client.offline_access {
        refresh_tokens::revoke_family(conn, services.clock.as_ref(), &old.family_id)?;
        tokens::revoke_grant_access_tokens(services, &old.family_id)?;
        return Ok(Err(TokenError::invalid_grant(
            "this client is not registered for offline access",
        )));
    }
    // A token bound to an SSO session ends with it, also when the session ended by expiry
    // while no browser came back to notice.
    if let Some(session_id) = &old.session_id {
        let lifetimes = services.config.session_lifetimes();
        let live = sessions::find_by_id(conn, session_id)?
            .is_some_and(|s| s.is_live(services.clock.now(), &lifetimes));
        if !live {
            refresh_tokens::revoke_family(conn, services.clock.as_ref(), &old.family_id)?;
            tokens::revoke_grant_access_tokens(services, &old.family_id)?;
            return Ok(Err(TokenError::invalid_grant(
                "the sign-in session of this token has ended",
            )));
        }
    }
    let Some(user) = users::find_active(conn, &old.user_id)? else {
        return Ok(Err(TokenError::invalid_grant(
            "the account is no longer active",
        )));
    };
    let sign_in = SignIn {
        session_id: old.session_id.clone(),
        auth_time: old.auth_time,
        acr: old.acr.clone(),
        amr: old.amr_values(),
    };
    let refresh = RefreshPlan::Continue(old.family_id.clone());
    let issued = cx.issue(
        conn,
        &Grant::to_person(client, &user, &sign_in, &scope, refresh),
    )?;
    Ok(Ok(issued.body))
}
