//! `/u/mfa/bind`: binding or replacing the authenticator. A person who already has a second
//! factor proves it first ([`policy::replacing_needs_current_factor`]); everyone enters their
//! password within the last minutes ([`policy::password_is_recent`]) and proves their mailbox
//! with a mailed code; then scans the new secret and confirms a code from it
//! ([`enrollment::complete`]).

use actix_web::HttpResponse;
use keystep_mfa::enrollment::Route;
use keystep_mfa::policy;
use keystep_web::csrf::CsrfForm;
use keystep_web::page::{Page, PageError};
use keystep_web::{paths, AppState};
use serde::Deserialize;

use super::{lang, Visitor};
use crate::login::enroll::{binding_page, post_binding, Binding, BindingPage, EnrollAction, Shown};
use crate::login::Flow;

/// The binding form.
#[derive(Debug, Deserialize)]
pub struct BindForm {
    /// Which step.
    #[serde(default)]
    pub action: EnrollAction,
    /// The mailed code.
    #[serde(default)]
    pub email_code: String,
    /// The code from the new authenticator.
    #[serde(default)]
    pub code: String,
}

/// Sends the visitor to the current factor or the password first, when needed, to come back
/// to `here` (a page that adds a method).
pub(super) fn guard(state: &AppState, visitor: &Visitor, here: &str) -> Result<(), PageError> {
    if policy::replacing_needs_current_factor(visitor.level(state), &visitor.factors) {
        return Err(PageError::SeeOther(paths::with_next(
            paths::LOGIN_MFA,
            here,
        )));
    }
    if !policy::password_is_recent(&visitor.signed_in.session, state.services.clock.now()) {
        return Err(PageError::SeeOther(paths::with_next(paths::U_REAUTH, here)));
    }
    Ok(())
}

const FLOW: Flow = Flow::UserCenter(None);

fn in_account(visitor: &Visitor) -> BindingPage<'_> {
    BindingPage {
        route: Route::UserCenter,
        flow: &FLOW,
        signed_in: &visitor.signed_in,
        action: paths::U_BIND,
        replacing: visitor.factors.totp_bound_at.is_some(),
    }
}

/// `GET /u/mfa/bind`
pub async fn get_bind(page: Page, visitor: Visitor) -> Result<HttpResponse, PageError> {
    guard(&page, &visitor, paths::U_BIND)?;
    binding_page(&page, &in_account(&visitor), Shown::ok(false)).await
}

/// `POST /u/mfa/bind`
pub async fn post_bind(
    page: Page,
    visitor: Visitor,
    CsrfForm(form): CsrfForm<BindForm>,
) -> Result<HttpResponse, PageError> {
    guard(&page, &visitor, paths::U_BIND)?;
    let completion = Binding {
        route: Route::UserCenter,
        code: form.code,
        client_id: None,
        lang: lang(&page),
        onward: page.url(&format!("{}?done=bound", paths::U)),
    };
    let binding = in_account(&visitor);
    post_binding(&page, &binding, form.action, form.email_code, completion).await
}
