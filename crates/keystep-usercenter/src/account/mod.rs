//! The user center (`/u`): where people manage their own security — overview, binding,
//! replacing and removing their authenticator, recovery codes, password, sessions and their
//! security log. It uses the same SSO session and hosted login as any relying party; what a
//! visit needs (password, second factor, enrollment) is decided by the same step-up rules
//! ([`keystep_mfa::policy::user_center`]). Changing sign-in settings asks for a recent password.

pub mod bind;
pub mod current_code;
pub mod email_method;
pub mod log;
pub mod overview;
pub mod password;
pub mod reauth;
pub mod sessions;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use keystep_mfa::factors::{self, Status};
use keystep_mfa::policy;
use keystep_mfa::stepup::{Decision, Step};
use keystep_web::page::{Page, PageError};
use keystep_web::session::{CurrentSession, SignedIn};
use keystep_web::{paths, AppState};
use serde_json::Value;

/// The person at the user center, with their second factors as the visit found them.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// Their session, person and cookie token.
    pub signed_in: SignedIn,
    /// Their second factors.
    pub factors: Status,
}

impl Visitor {
    /// The session's level now.
    pub fn level(&self, state: &AppState) -> keystep_core::sessions::Aal {
        let lifetimes = state.services.config.session_lifetimes();
        self.signed_in
            .session
            .aal(state.services.clock.now(), &lifetimes)
    }
}

/// The user-center page to come back to after a sign-in step.
fn return_path(path: &str) -> &str {
    match path {
        paths::U_REAUTH | paths::U_PREFERRED => paths::U,
        paths::U_SESSIONS_END | paths::U_OFFLINE_REVOKE => paths::U_SESSIONS,
        other => other,
    }
}

async fn visit(req: HttpRequest) -> Result<Visitor, PageError> {
    let page = Page::of(&req)?;
    let next = return_path(req.path()).to_owned();
    // The session and the person's second factors in one crossing to the blocking pool.
    let found = CurrentSession::read_with(&req, |_, conn, signed_in| {
        factors::status(conn, &signed_in.user.id)
    })
    .await?;
    let (current, factors) = match found {
        Some((signed_in, factors)) => (Some(signed_in), factors),
        None => (None, Status::NONE),
    };
    let level = current.as_ref().map(|s| {
        s.session.aal(
            page.services.clock.now(),
            &page.services.config.session_lifetimes(),
        )
    });
    let decision = policy::user_center(
        &page.services.config.mfa,
        level,
        factors.has_second_factor(),
    );
    match (decision, current) {
        (Decision::Issue(_), Some(signed_in)) => Ok(Visitor { signed_in, factors }),
        (Decision::Ask(Step::SecondFactor), _) => Err(PageError::SeeOther(paths::with_next(
            paths::LOGIN_MFA,
            &next,
        ))),
        (Decision::Ask(Step::Enrollment), _) => Err(PageError::SeeOther(paths::with_next(
            paths::LOGIN_ENROLL,
            &next,
        ))),
        (Decision::Fail(_), _) => Err(PageError::new(StatusCode::FORBIDDEN, "u_access.unmet")),
        _ => Err(PageError::SeeOther(paths::with_next(paths::LOGIN, &next))),
    }
}

impl FromRequest for Visitor {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    /// Lets the visitor in, or sends them where they must go first.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(visit(req.clone()))
    }
}

/// The language of the user center's pages.
pub fn lang(page: &Page) -> String {
    page.lang(None)
}

/// A message in the user center's language.
pub fn say(page: &Page, key: &str, args: &[(&str, &str)]) -> String {
    page.message(&lang(page), key, args)
}

/// Renders a user-center page (with the CSRF field for its forms). Its language switch
/// returns to the page by GET, also after a POST (`/u/sessions/end` shows `/u/sessions`).
pub fn render(page: &Page, status: StatusCode, template: &str, mut context: Value) -> HttpResponse {
    if context.get("here").is_none() {
        context["here"] = Value::String(return_path(page.req.path()).to_owned());
    }
    page.with_forms()
        .render(status, template, &lang(page), context)
}
