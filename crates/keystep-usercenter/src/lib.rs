//! keystep-usercenter: every page a person sees — the hosted login (`/login`, its second
//! factor, enrollment and lost-device pages) and the user center (`/u`). It knows nothing of the protocol: it receives a pending
//! interaction from `/oidc/auth` and sends the person back to `/oidc/auth/resume`.

pub mod account;
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
        .route("/login/lost", web::post().to(second_factor::post_lost))
        .route("/u", web::get().to(account::get_overview))
        .route("/u/reauth", web::get().to(account::get_reauth))
        .route("/u/reauth", web::post().to(account::post_reauth))
        .route("/u/mfa/bind", web::get().to(account::get_bind))
        .route("/u/mfa/bind", web::post().to(account::post_bind))
        .route("/u/mfa/remove", web::get().to(account::get_remove))
        .route("/u/mfa/remove", web::post().to(account::post_remove))
        .route("/u/recovery-codes", web::get().to(account::get_regenerate))
        .route(
            "/u/recovery-codes",
            web::post().to(account::post_regenerate),
        )
        .route("/u/password", web::get().to(account::get_password))
        .route("/u/password", web::post().to(account::post_password))
        .route("/u/sessions", web::get().to(account::get_sessions))
        .route("/u/sessions/end", web::post().to(account::post_end_session))
        .route("/u/log", web::get().to(account::get_log));
}
