//! Client authentication at the token, revocation and introspection endpoints (RFC 6749
//! §2.3.1): `client_secret_basic`, `client_secret_post`, or `none` for public clients. One
//! method per request; the secret is compared in constant time.

use actix_web::{web, HttpRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::sync::Arc;

use keystep_core::clients::Client;
use keystep_core::db::DbConn;

use keystep_core::Services;
use keystep_web::{run_read, run_write, AppState, WebError};

use super::GrantContext;
use crate::error::TokenError;
use crate::params::Params;
use crate::Oidc;

/// A back-channel request from a client (token, revocation, introspection): its form, the
/// credentials it presented, read once for all three endpoints, and what it is answered with.
pub struct ClientRequest {
    /// The form body.
    pub params: Params,
    /// The client's credentials, not yet checked.
    pub presented: PresentedClient,
    state: web::Data<AppState>,
    oidc: web::Data<Oidc>,
}

/// Whether an endpoint's work writes (the token endpoint, revocation) or only reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transaction {
    /// One read transaction.
    Read,
    /// One write transaction.
    Write,
}

impl ClientRequest {
    /// A parameter the endpoint cannot do without.
    pub fn required(&self, name: &str) -> Result<String, TokenError> {
        self.params
            .get(name)
            .map(str::to_owned)
            .ok_or_else(|| TokenError::invalid_request(format!("{name} is missing")))
    }

    /// Authenticates the client and runs the endpoint's work `f` for it, in one transaction
    /// on the blocking pool. `f`'s own refusal is answered after the transaction committed,
    /// so a revocation made while detecting reuse is kept.
    pub async fn run<T, F>(self, transaction: Transaction, f: F) -> Result<T, TokenError>
    where
        T: Send + 'static,
        F: FnOnce(&GrantContext<'_>, &mut DbConn) -> keystep_core::Result<Result<T, TokenError>>
            + Send
            + 'static,
    {
        let Self {
            params,
            presented,
            state,
            oidc,
        } = self;
        let work = move |services: &Services, conn: &mut DbConn| {
            let found = oidc
                .clients
                .find(conn, services.clock.as_ref(), &presented.client_id)?;
            let client = match authenticate(found, &presented) {
                Ok(client) => client,
                Err(e) => return Ok(Err(e)),
            };
            let cx = GrantContext {
                services,
                keys: &oidc.keys,
                client: client.as_ref(),
                params: &params,
            };
            f(&cx, conn)
        };
        match transaction {
            Transaction::Read => run_read(&state, work).await?,
            Transaction::Write => run_write(&state, work).await?,
        }
    }
}

impl actix_web::FromRequest for ClientRequest {
    type Error = TokenError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, TokenError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let body = actix_web::web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let (Some(state), Some(oidc)) = (
                req.app_data::<web::Data<AppState>>().cloned(),
                req.app_data::<web::Data<Oidc>>().cloned(),
            ) else {
                return Err(WebError::Internal("no app state".into()).into());
            };
            let body = body
                .await
                .map_err(|e| TokenError::invalid_request(e.to_string()))?;
            let params = Params::parse(&body).map_err(TokenError::invalid_request)?;
            let presented = presented(&req, &params)?;
            Ok(Self {
                params,
                presented,
                state,
                oidc,
            })
        })
    }
}

/// The answer of a back-channel endpoint: JSON that no cache may keep (RFC 6749 §5.1).
pub fn no_store_json(body: &serde_json::Value) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .json(body)
}

/// Credentials as presented, before the database is asked.
#[derive(Debug, Clone)]
pub struct PresentedClient {
    client_id: String,
    secret: Option<String>,
}

fn form_decode(value: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={value}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// Reads the client's credentials from the Authorization header or the form.
pub fn presented(req: &HttpRequest, params: &Params) -> Result<PresentedClient, TokenError> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let basic = header.and_then(|h| {
        h.strip_prefix("Basic ")
            .or_else(|| h.strip_prefix("basic "))
    });
    match basic {
        Some(encoded) => {
            if params.get("client_secret").is_some() {
                return Err(TokenError::invalid_request(
                    "use one client authentication method, not several",
                ));
            }
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| TokenError::invalid_client("malformed Basic credentials"))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| TokenError::invalid_client("malformed Basic credentials"))?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
            let id = form_decode(id)
                .ok_or_else(|| TokenError::invalid_client("malformed Basic credentials"))?;
            let secret = form_decode(secret)
                .ok_or_else(|| TokenError::invalid_client("malformed Basic credentials"))?;
            if let Some(form_id) = params.get("client_id") {
                if form_id != id {
                    return Err(TokenError::invalid_request(
                        "client_id does not match the Authorization header",
                    ));
                }
            }
            Ok(PresentedClient {
                client_id: id,
                secret: Some(secret),
            })
        }
        None => {
            let id = params
                .get("client_id")
                .ok_or_else(|| TokenError::invalid_client("client authentication is required"))?;
            Ok(PresentedClient {
                client_id: id.to_owned(),
                secret: params.get("client_secret").map(str::to_owned),
            })
        }
    }
}

/// Checks presented credentials against the registered client `found` (none: unknown).
pub fn authenticate(
    found: Option<Arc<Client>>,
    presented: &PresentedClient,
) -> Result<Arc<Client>, TokenError> {
    let Some(client) = found else {
        return Err(TokenError::invalid_client(
            "unknown client or wrong credentials",
        ));
    };
    let ok = match (&presented.secret, client.public) {
        (None, true) => true,
        (Some(_), true) => false,
        (Some(secret), false) => client.verify_secret(secret),
        (None, false) => false,
    };
    if ok {
        Ok(client)
    } else {
        tracing::warn!(client_id = %presented.client_id, "client authentication failed");
        Err(TokenError::invalid_client(
            "unknown client or wrong credentials",
        ))
    }
}
