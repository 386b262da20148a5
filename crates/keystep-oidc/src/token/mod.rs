//! The token endpoint (`POST /oidc/token`, RFC 6749 §3.2): client authentication, then one
//! file per grant type. Every answer is `Cache-Control: no-store`.

pub mod authorization_code;
pub mod client_auth;
pub mod client_credentials;
pub mod refresh_token;

use actix_web::{web, HttpResponse};
use keystep_web::{run_write, AppState};
use serde_json::Value;

use self::client_auth::ClientRequest;
use crate::error::TokenError;
use crate::Oidc;

/// What a grant comes to: a token response, or an error to answer after the transaction
/// committed (so a revocation made while detecting reuse is kept).
pub type GrantResult = Result<Value, TokenError>;

/// `POST /oidc/token`
pub async fn post_token(
    state: web::Data<AppState>,
    oidc: web::Data<Oidc>,
    request: ClientRequest,
) -> Result<HttpResponse, TokenError> {
    let grant_type = request.required("grant_type")?;
    let ClientRequest { params, presented } = request;
    if !matches!(
        grant_type.as_str(),
        "authorization_code" | "refresh_token" | "client_credentials"
    ) {
        return Err(TokenError::unsupported_grant_type(format!(
            "grant_type {grant_type:?} is not supported"
        )));
    }
    let oidc = oidc.into_inner();
    let result = run_write(&state, move |services, conn| {
        let client = match client_auth::authenticate(conn, &presented)? {
            Ok(client) => client,
            Err(e) => return Ok(Err(e)),
        };
        match grant_type.as_str() {
            "authorization_code" => {
                authorization_code::grant(services, &oidc.keys, conn, &client, &params)
            }
            "refresh_token" => refresh_token::grant(services, &oidc.keys, conn, &client, &params),
            _ => client_credentials::grant(services, &oidc.keys, conn, &client, &params),
        }
    })
    .await?;
    Ok(client_auth::no_store_json(&result?))
}
