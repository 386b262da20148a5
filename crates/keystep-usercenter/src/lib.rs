//! keystep-usercenter: every page a person sees — the hosted login (`/login`: the password,
//! the second factor, enrollment and the lost-device request) and the user center (`/u`). It
//! knows nothing of the protocol: it receives a pending interaction from `/oidc/auth` and
//! sends the person back to `/oidc/auth/resume`. Handlers are glue: extract (the live
//! session, a CSRF-checked form), one call into a use case of keystep-core or keystep-mfa,
//! render; one file per flow.

pub mod account;
mod format;
pub mod language;
pub mod login;

use actix_web::web;
use keystep_web::paths;

/// Registers the pages' routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use account::{bind, log, overview, password, reauth, recovery_codes, remove, sessions};
    use login::{code, enroll, lost};
    cfg.route(paths::LOGIN, web::get().to(login::password::get_login))
        .route(paths::LOGIN, web::post().to(login::password::post_login))
        .route(paths::LOGIN_MFA, web::get().to(code::get_mfa))
        .route(paths::LOGIN_MFA, web::post().to(code::post_mfa))
        .route(paths::LOGIN_RECOVERY, web::get().to(code::get_recovery))
        .route(paths::LOGIN_RECOVERY, web::post().to(code::post_recovery))
        .route(paths::LOGIN_ENROLL, web::get().to(enroll::get_enroll))
        .route(paths::LOGIN_ENROLL, web::post().to(enroll::post_enroll))
        .route(paths::LOGIN_LOST, web::get().to(lost::get_lost))
        .route(paths::LOGIN_LOST, web::post().to(lost::post_lost))
        .route(paths::U, web::get().to(overview::get_overview))
        .route(paths::U_REAUTH, web::get().to(reauth::get_reauth))
        .route(paths::U_REAUTH, web::post().to(reauth::post_reauth))
        .route(paths::U_BIND, web::get().to(bind::get_bind))
        .route(paths::U_BIND, web::post().to(bind::post_bind))
        .route(paths::U_REMOVE, web::get().to(remove::get_remove))
        .route(paths::U_REMOVE, web::post().to(remove::post_remove))
        .route(
            paths::U_RECOVERY_CODES,
            web::get().to(recovery_codes::get_regenerate),
        )
        .route(
            paths::U_RECOVERY_CODES,
            web::post().to(recovery_codes::post_regenerate),
        )
        .route(paths::U_PASSWORD, web::get().to(password::get_password))
        .route(paths::U_PASSWORD, web::post().to(password::post_password))
        .route(paths::U_SESSIONS, web::get().to(sessions::get_sessions))
        .route(
            paths::U_SESSIONS_END,
            web::post().to(sessions::post_end_session),
        )
        .route(paths::U_LOG, web::get().to(log::get_log))
        .route(paths::LANGUAGE, web::get().to(language::get_language));
}
