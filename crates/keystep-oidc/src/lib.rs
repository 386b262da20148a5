//! keystep-oidc: the OpenID Connect protocol, machine-facing — discovery, JWKS and keys,
//! the authorization endpoint (an ordered list of checks), the token endpoint (one file per
//! grant), userinfo, revocation, introspection and RP-initiated logout. It never renders the
//! login itself: it hands the person to `/login` through a pending interaction and takes
//! them back at `/oidc/auth/resume`.

pub mod authorize;
pub mod client_cache;
pub mod code;
pub mod discovery;
pub mod end_session;
pub mod error;
pub mod introspection;
pub mod keys;
pub mod params;
pub mod revocation;
pub mod token;
pub mod tokens;
pub mod userinfo;
pub mod verified;

use actix_web::{web, HttpResponse};
use keystep_core::Services;
use keystep_web::{paths, run_read, AppState};

use crate::keys::KeyStore;

/// The protocol's state shared by every worker.
#[derive(Debug)]
pub struct Oidc {
    /// Signing keys.
    pub keys: KeyStore,
    /// Clients as the back channel authenticates them.
    pub clients: client_cache::ClientCache,
    discovery: String,
}

impl Oidc {
    /// Builds the state and makes sure signing keys exist (generating them on first start).
    pub fn start(services: &Services, languages: &[String]) -> keystep_core::Result<Self> {
        let keys = KeyStore::new();
        let mut conn = services.db.conn()?;
        keys.ensure(services, &mut conn)?;
        let discovery = discovery::metadata(&services.config, languages).to_string();
        Ok(Self {
            keys,
            clients: client_cache::ClientCache::default(),
            discovery,
        })
    }
}

/// Registers the protocol's routes (under `/oidc`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    use authorize::{get_authorize, get_cancel, get_resume, post_authorize};
    use end_session::{get_end_session, post_confirm, post_end_session};
    use userinfo::{get_userinfo, post_userinfo};
    let discovery = "/oidc/.well-known/openid-configuration";
    cfg.route(discovery, web::get().to(get_discovery))
        .route("/oidc/jwks", web::get().to(get_jwks))
        .service(
            web::resource("/oidc/auth")
                .route(web::get().to(get_authorize))
                .route(web::post().to(post_authorize)),
        )
        .route(paths::AUTH_RESUME, web::get().to(get_resume))
        .route(paths::AUTH_CANCEL, web::get().to(get_cancel))
        .route("/oidc/token", web::post().to(token::post_token))
        .service(
            web::resource("/oidc/me")
                .route(web::get().to(get_userinfo))
                .route(web::post().to(post_userinfo)),
        )
        .route(
            "/oidc/token/revocation",
            web::post().to(revocation::post_revocation),
        )
        .route(
            "/oidc/token/introspection",
            web::post().to(introspection::post_introspection),
        )
        .service(
            web::resource("/oidc/session/end")
                .route(web::get().to(get_end_session))
                .route(web::post().to(post_end_session)),
        )
        .route("/oidc/session/end/confirm", web::post().to(post_confirm));
}

/// `GET /oidc/.well-known/openid-configuration`
async fn get_discovery(oidc: web::Data<Oidc>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .body(oidc.discovery.clone())
}

/// `GET /oidc/jwks`
async fn get_jwks(state: web::Data<AppState>, oidc: web::Data<Oidc>) -> HttpResponse {
    let oidc = oidc.into_inner();
    // While the key cache is fresh the document is served as it was serialised at the last
    // load, with no database read and no hop to the blocking pool.
    let jwks = match oidc.keys.fresh_jwks(state.services.clock.now()) {
        Some(jwks) => Ok(jwks),
        None => run_read(&state, move |services, conn| oidc.keys.jwks(services, conn)).await,
    };
    match jwks {
        Ok(jwks) => HttpResponse::Ok()
            .content_type("application/jwk-set+json")
            // Short: a rotated key signs within 30 seconds on every node.
            .insert_header(("Cache-Control", "public, max-age=30"))
            .insert_header(("Access-Control-Allow-Origin", "*"))
            .body(actix_web::web::Bytes::from_owner(jwks)),
        Err(e) => {
            tracing::warn!(error = %e, "JWKS unavailable");
            HttpResponse::ServiceUnavailable()
                .insert_header(("Cache-Control", "no-store"))
                .finish()
        }
    }
}
