//! The cookies keystep sets: the SSO session, the CSRF token, the chosen language and the key
//! that binds pending sign-ins to the browser that started them. All are
//! HttpOnly and SameSite=Lax (sent on the top-level navigation from a relying party, not on
//! cross-site subrequests); Secure with the `__Host-` prefix when keystep is reached over https.

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;

/// Which cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieKind {
    /// The SSO session token.
    Session,
    /// The CSRF double-submit token.
    Csrf,
    /// The language chosen with the language switch (before, or without, signing in).
    Language,
    /// The random key a pending sign-in is bound to (its hash is in the interaction).
    Browser,
}

impl CookieKind {
    /// The cookie's name for this deployment.
    pub fn name(self, https: bool) -> &'static str {
        match (self, https) {
            (Self::Session, true) => "__Host-keystep_session",
            (Self::Session, false) => "keystep_session",
            (Self::Csrf, true) => "__Host-keystep_csrf",
            (Self::Csrf, false) => "keystep_csrf",
            (Self::Language, true) => "__Host-keystep_lang",
            (Self::Language, false) => "keystep_lang",
            (Self::Browser, true) => "__Host-keystep_browser",
            (Self::Browser, false) => "keystep_browser",
        }
    }
}

/// A cookie carrying `value`: the session, CSRF and browser-key cookies live as long as the
/// browser session, the language for a year.
pub fn build(kind: CookieKind, value: String, https: bool) -> Cookie<'static> {
    let mut cookie = Cookie::build(kind.name(https), value)
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Lax)
        .finish();
    if kind == CookieKind::Language {
        cookie.set_max_age(CookieDuration::days(365));
    }
    cookie
}

/// A cookie that removes `kind` from the browser.
pub fn removal(kind: CookieKind, https: bool) -> Cookie<'static> {
    let mut cookie = build(kind, String::new(), https);
    cookie.set_max_age(CookieDuration::ZERO);
    cookie
}

/// The value of `kind` sent with the request.
pub fn read(req: &HttpRequest, kind: CookieKind, https: bool) -> Option<String> {
    req.cookie(kind.name(https))
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}
