//! keystep-usercenter: every page a person sees — now the hosted login (`/login`); the
//! account center (`/u`) comes next. It knows nothing of the protocol: it receives a pending
//! interaction from `/oidc/auth` and sends the person back to `/oidc/auth/resume`.

pub mod login;

use actix_web::web;

/// Registers the pages' routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login::get_login))
        .route("/login", web::post().to(login::post_login));
}
