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

use account::current_code::CodeAction;
use actix_web::web;
use keystep_web::paths;

/// The two code pages share their handlers; the route says which it is.
fn code_page(path: &str, which: login::code::CodePage) -> actix_web::Resource {
    use login::code;
    web::resource(path)
        .app_data(web::Data::new(which))
        .route(web::get().to(code::get_code))
        .route(web::post().to(code::post_code))
}

/// The two user-center changes behind a current code share their handlers too.
fn current_code_page(path: &str, action: CodeAction) -> actix_web::Resource {
    use account::current_code;
    web::resource(path)
        .app_data(web::Data::new(action))
        .route(web::get().to(current_code::get_code_page))
        .route(web::post().to(current_code::post_code_page))
}

/// Registers the pages' routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use account::{bind, email_method, log, overview, password, reauth, sessions};
    use login::{code, enroll, lost};
    cfg.route(paths::LOGIN, web::get().to(login::password::get_login))
        .route(paths::LOGIN, web::post().to(login::password::post_login))
        .service(code_page(paths::LOGIN_MFA, code::CodePage::Method))
        .service(code_page(paths::LOGIN_RECOVERY, code::CodePage::Recovery))
        .route(paths::LOGIN_ENROLL, web::get().to(enroll::get_enroll))
        .route(paths::LOGIN_ENROLL, web::post().to(enroll::post_enroll))
        .route(paths::LOGIN_LOST, web::get().to(lost::get_lost))
        .route(paths::LOGIN_LOST, web::post().to(lost::post_lost))
        .route(paths::U, web::get().to(overview::get_overview))
        .route(paths::U_REAUTH, web::get().to(reauth::get_reauth))
        .route(paths::U_REAUTH, web::post().to(reauth::post_reauth))
        .route(paths::U_BIND, web::get().to(bind::get_bind))
        .route(paths::U_BIND, web::post().to(bind::post_bind))
        .route(
            paths::U_EMAIL_METHOD,
            web::get().to(email_method::get_email_method),
        )
        .route(
            paths::U_EMAIL_METHOD,
            web::post().to(email_method::post_email_method),
        )
        .route(
            paths::U_PREFERRED,
            web::post().to(email_method::post_preferred),
        )
        .service(current_code_page(paths::U_REMOVE, CodeAction::Remove))
        .service(current_code_page(
            paths::U_REMOVE_METHOD,
            CodeAction::Remove,
        ))
        .service(current_code_page(
            paths::U_RECOVERY_CODES,
            CodeAction::Regenerate,
        ))
        .route(paths::U_PASSWORD, web::get().to(password::get_password))
        .route(paths::U_PASSWORD, web::post().to(password::post_password))
        .route(paths::U_SESSIONS, web::get().to(sessions::get_sessions))
        .route(
            paths::U_SESSIONS_END,
            web::post().to(sessions::post_end_session),
        )
        .route(
            paths::U_OFFLINE_REVOKE,
            web::post().to(sessions::post_revoke_offline),
        )
        .route(paths::U_LOG, web::get().to(log::get_log))
        .route(paths::LANGUAGE, web::get().to(language::get_language));
}
