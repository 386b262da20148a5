//! The token endpoint (`POST /oidc/token`, RFC 6749 §3.2): client authentication, then one
//! file per grant type. Every answer is `Cache-Control: no-store`.

pub mod authorization_code;
pub mod client_auth;
pub mod client_credentials;
pub mod refresh_token;

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use keystep_web::{run_write, AppState};
use serde_json::Value;

use crate::error::TokenError;
use crate::params::Params;
use crate::Oidc;

/// What a grant comes to: a token response, or an error to answer after the transaction
/// committed (so a revocation made while detecting reuse is kept).
pub type GrantResult = Result<Value, TokenError>;

/// `POST /oidc/token`
pub async fn post_token(
    state: web::Data<AppState>,
    oidc: web::Data<Oidc>,
    req: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, TokenError> {
    let params = Params::parse(&body).map_err(TokenError::invalid_request)?;
    let presented = client_auth::presented(&req, &params)?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| TokenError::invalid_request("grant_type is missing"))?
        .to_owned();
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
    let body = result?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .json(body))
}
