//! The token endpoint (`POST /oidc/token`, RFC 6749 §3.2): client authentication, then one
//! file per grant type. Every answer is `Cache-Control: no-store`.

pub mod authorization_code;
pub mod client_auth;
pub mod client_credentials;
pub mod refresh_token;

use actix_web::HttpResponse;
use serde_json::Value;

use self::client_auth::{ClientRequest, Transaction};
use keystep_core::clients::Client;
use keystep_core::Services;

use crate::error::TokenError;
use crate::keys::KeyStore;
use crate::params::Params;
use crate::tokens::{self, Grant, Issued};
use keystep_core::db::DbConn;

/// What every grant works with: the services, the signing keys, the authenticated client and
/// the request's form. Made by [`client_auth::ClientRequest::run`] once the client is
/// authenticated, and read through [`GrantContext::parts`].
#[derive(Clone, Copy)]
pub struct GrantContext<'a> {
    /// Database, stores, clock, configuration.
    services: &'a Services,
    /// The signing keys.
    keys: &'a KeyStore,
    /// The client, authenticated.
    client: &'a Client,
    /// The form.
    params: &'a Params,
}

impl<'a> GrantContext<'a> {
    /// Its parts, for a grant's body.
    pub fn parts(&self) -> (&'a Services, &'a KeyStore, &'a Client, &'a Params) {
        (self.services, self.keys, self.client, self.params)
    }

    /// Issues the tokens of `grant` ([`tokens::issue`]), for the `resource` the request
    /// named ([`check_resource`] has checked it).
    pub fn issue(&self, conn: &mut DbConn, grant: &Grant<'_>) -> keystep_core::Result<Issued> {
        let audience = self.params.get("resource");
        tokens::issue(self.services, self.keys, conn, grant, audience)
    }
}

/// RFC 8707: a `resource` names the API the access token is for, and becomes its `aud`. It
/// must be an absolute URI without a fragment that a resource server is registered under
/// (`keystep client add --resource`); otherwise `invalid_target`. One per request.
pub fn check_resource(
    cx: &GrantContext<'_>,
    conn: &mut DbConn,
) -> keystep_core::Result<Result<(), TokenError>> {
    let Some(resource) = cx.params.get("resource") else {
        return Ok(Ok(()));
    };
    if let Err(e) = keystep_core::clients::check_resource(resource) {
        return Ok(Err(TokenError::invalid_target(e.to_string())));
    }
    if keystep_core::clients::find_resource_server(conn, resource)?.is_none() {
        return Ok(Err(TokenError::invalid_target(format!(
            "{resource:?} is not a registered resource"
        ))));
    }
    Ok(Ok(()))
}

/// What a grant comes to: a token response, or an error to answer after the transaction
/// committed (so a revocation made while detecting reuse is kept).
pub type GrantResult = Result<Value, TokenError>;

/// `POST /oidc/token`
pub async fn post_token(request: ClientRequest) -> Result<HttpResponse, TokenError> {
    let grant_type = request.required("grant_type")?;
    if !matches!(
        grant_type.as_str(),
        "authorization_code" | "refresh_token" | "client_credentials"
    ) {
        return Err(TokenError::unsupported_grant_type(format!(
            "grant_type {grant_type:?} is not supported"
        )));
    }
    // client_credentials writes nothing (its token is a JWT, no refresh token): a read, which
    // on SQLite does not queue for the one writer.
    let transaction = if grant_type == "client_credentials" {
        Transaction::Read
    } else {
        Transaction::Write
    };
    let body = request
        .run(transaction, move |cx, conn| {
            if let Err(e) = check_resource(cx, conn)? {
                return Ok(Err(e));
            }
            match grant_type.as_str() {
                "authorization_code" => authorization_code::grant(cx, conn),
                "refresh_token" => refresh_token::grant(cx, conn),
                _ => client_credentials::grant(cx, conn),
            }
        })
        .await?;
    Ok(client_auth::no_store_json(&body))
}
