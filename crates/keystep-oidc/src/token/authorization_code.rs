//! The authorization_code grant (RFC 6749 §4.1.3, RFC 7636 §4.6): the code is taken once,
//! must belong to this client and redirect URI, and must match the PKCE verifier. A code
//! presented again revokes what was issued from it (RFC 9700 §4.2.4).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keystep_core::db::DbConn;
use keystep_core::opaque::constant_time_eq;
use keystep_core::{refresh_tokens, users};
use sha2::{Digest, Sha256};

use super::{GrantContext, GrantResult};
use crate::code::{self, Tombstone};
use crate::error::TokenError;
use crate::params::Scopes;
use crate::tokens::{self, Grant, RefreshPlan};

/// RFC 7636 §4.1: 43–128 characters of the unreserved set.
fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// S256: BASE64URL(SHA256(verifier)) == challenge, compared in constant time.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    valid_verifier(verifier)
        && constant_time_eq(
            &URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
            challenge,
        )
}

/// Exchanges a code.
pub fn grant(cx: &GrantContext<'_>, conn: &mut DbConn) -> keystep_core::Result<GrantResult> {
    let (services, _, client, params) = cx.parts();
    let Some(presented) = params.get("code") else {
        return Ok(Err(TokenError::invalid_request("code is missing")));
    };
    let store = services.ephemeral.as_ref();
    let Some(code) = code::redeem(store, presented)? else {
        if let Some(tombstone) = code::exhumed(store, presented)? {
            tracing::warn!(client_id = %client.id, "authorization code used twice; revoking what it issued");
            let now = services.clock.now();
            tokens::revoke_access_token(store, &tombstone.access_jti, tombstone.access_exp, now)?;
            if let Some(family) = &tombstone.family_id {
                refresh_tokens::revoke_family(conn, services.clock.as_ref(), family)?;
                tokens::revoke_grant_access_tokens(services, family)?;
            }
        }
        return Ok(Err(TokenError::invalid_grant(
            "the code is invalid, expired or already used",
        )));
    };
    if code.client_id != client.id {
        return Ok(Err(TokenError::invalid_grant(
            "the code was issued to another client",
        )));
    }
    if params.get("redirect_uri") != Some(code.redirect_uri.as_str()) {
        return Ok(Err(TokenError::invalid_grant(
            "redirect_uri does not match the authorization request",
        )));
    }
    match (&code.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if pkce_matches(verifier, challenge) => {}
        (Some(_), Some(_)) => {
            return Ok(Err(TokenError::invalid_grant(
                "code_verifier does not match the code_challenge",
            )))
        }
        (Some(_), None) => return Ok(Err(TokenError::invalid_grant("code_verifier is missing"))),
        (None, Some(_)) => {
            return Ok(Err(TokenError::invalid_grant(
                "code_verifier given but no code_challenge was sent",
            )))
        }
        (None, None) if client.public => {
            return Ok(Err(TokenError::invalid_grant(
                "public clients must use PKCE",
            )))
        }
        (None, None) => {}
    }
    let Some(user) = users::find_active(conn, &code.user_id)? else {
        return Ok(Err(TokenError::invalid_grant(
            "the account is no longer active",
        )));
    };
    let scope = Scopes::parse(&code.scope);
    let grant = Grant {
        nonce: code.nonce.as_deref(),
        claims: code.claims.as_ref(),
        ..Grant::to_person(client, &user, &code.sign_in, &scope, RefreshPlan::New)
    };
    let issued = cx.issue(conn, &grant)?;
    code::bury(
        store,
        presented,
        &Tombstone {
            family_id: issued.family_id.clone(),
            access_jti: issued.access_jti.clone(),
            access_exp: issued.access_exp,
        },
    )?;
    Ok(Ok(issued.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK",
            challenge
        ));
        assert!(!pkce_matches("short", challenge));
    }
}
