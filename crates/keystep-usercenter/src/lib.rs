//! keystep-usercenter: every page a person sees — now the hosted login (`/login`); the
//! account center (`/u`) comes next. It knows nothing of the protocol: it receives a pending
//! interaction from `/oidc/auth` and sends the person back to `/oidc/auth/resume`.

pub mod login;
pub mod second_factor;

use actix_web::web;

/// Registers the pages' routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login::get_login))
        .route("/login", web::post().to(login::post_login))
        .route("/login/mfa", web::get().to(second_factor::get_mfa))
        .route("/login/mfa", web::post().to(second_factor::post_mfa))
        .route(
            "/login/recovery",
            web::get().to(second_factor::get_recovery),
        )
        .route(
            "/login/recovery",
            web::post().to(second_factor::post_recovery),
        )
        .route("/login/enroll", web::get().to(second_factor::get_enroll))
        .route("/login/enroll", web::post().to(second_factor::post_enroll))
        .route("/login/lost", web::get().to(second_factor::get_lost))
        .route("/login/lost", web::post().to(second_factor::post_lost));
}
