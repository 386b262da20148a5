//! `/u/mfa/bind`: binding or replacing the authenticator. A person who already has a second
//! factor proves it first ([`policy::replacing_needs_current_factor`]); everyone enters their
//! password within the last minutes ([`policy::password_is_recent`]) and proves their mailbox
//! with a mailed code; then scans the new secret and confirms a code from it
//! ([`enrollment::complete`]).

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use keystep_mfa::enrollment::{self, Route};
use keystep_mfa::mailed_code::{CodeCheck, Sent};
use keystep_mfa::policy;
use keystep_web::csrf::CsrfForm;
use keystep_web::page::{self, Page, PageError};
use keystep_web::{paths, run_blocking, AppState};
use serde::Deserialize;
use serde_json::json;

use super::{lang, render, say, Visitor};
use crate::format::time_of_day;
use crate::login::enroll::{complete_binding, enroll_page, Binding};
use crate::login::Flow;

/// Which step of the binding form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BindAction {
    /// Mail me a code.
    Send,
    /// Here is the mailed code.
    VerifyEmail,
    /// Here is a code from the new authenticator (the QR page's form has no `action`).
    #[default]
    Confirm,
}

/// The binding form.
#[derive(Debug, Deserialize)]
pub struct BindForm {
    /// Which step.
    #[serde(default)]
    pub action: BindAction,
    /// The mailed code.
    #[serde(default)]
    pub email_code: String,
    /// The code from the new authenticator.
    #[serde(default)]
    pub code: String,
}

/// Sends the visitor to the current factor or the password first, when needed.
fn guard(state: &AppState, visitor: &Visitor) -> Result<(), PageError> {
    if policy::replacing_needs_current_factor(visitor.level(state), &visitor.factors) {
        return Err(PageError::SeeOther(paths::with_next(
            paths::LOGIN_MFA,
            paths::U_BIND,
        )));
    }
    if !policy::password_is_recent(&visitor.signed_in.session, state.services.clock.now()) {
        return Err(PageError::SeeOther(paths::with_next(
            paths::U_REAUTH,
            paths::U_BIND,
        )));
    }
    Ok(())
}

/// The mailbox step, or once the mailbox is proven the authenticator step.
/// What the binding page shows: its status, whether a code was mailed, an error, and until
/// when a refusal holds (for `Retry-After`).
struct Shown {
    status: StatusCode,
    sent: bool,
    error: Option<String>,
    until: Option<i64>,
}

impl Shown {
    fn ok(sent: bool) -> Self {
        Self {
            status: StatusCode::OK,
            sent,
            error: None,
            until: None,
        }
    }

    fn refused(status: StatusCode, sent: bool, error: String, until: Option<i64>) -> Self {
        Self {
            status,
            sent,
            error: Some(error),
            until,
        }
    }
}

async fn bind_page(
    page: &Page,
    visitor: &Visitor,
    shown: Shown,
) -> Result<HttpResponse, PageError> {
    let Shown {
        status,
        sent,
        error,
        until,
    } = shown;
    let session_id = visitor.signed_in.session.id.clone();
    let account = visitor.signed_in.user.username.clone();
    let view = run_blocking(page, move |services| {
        if !enrollment::mailbox_confirmed(services, &session_id)? {
            return Ok(None);
        }
        enrollment::start(services, Route::UserCenter, &session_id, &account).map(Some)
    })
    .await?;
    let shown = match view {
        None => render(
            page,
            status,
            "u_email",
            json!({
                "email": visitor.signed_in.user.email,
                "sent": sent,
                "replacing": visitor.factors.totp_bound_at.is_some(),
                "error": error,
            }),
        ),
        Some(view) => {
            let flow = Flow::UserCenter(None);
            enroll_page(page, &flow, status, &view, paths::U_BIND, error)
        }
    };
    Ok(match until {
        Some(until) => page::retry_after(shown, page.services.clock.now(), until),
        None => shown,
    })
}

/// `GET /u/mfa/bind`
pub async fn get_bind(page: Page, visitor: Visitor) -> Result<HttpResponse, PageError> {
    guard(&page, &visitor)?;
    bind_page(&page, &visitor, Shown::ok(false)).await
}

/// `POST /u/mfa/bind`
pub async fn post_bind(
    page: Page,
    visitor: Visitor,
    CsrfForm(form): CsrfForm<BindForm>,
) -> Result<HttpResponse, PageError> {
    guard(&page, &visitor)?;
    let session_id = visitor.signed_in.session.id.clone();
    let user = visitor.signed_in.user.clone();
    let origin = page.origin().in_lang(lang(&page));
    let shown = match form.action {
        BindAction::Send => {
            let lang = origin.0.lang.clone();
            let sent = run_blocking(&page, move |services| {
                enrollment::send_mailbox_code(services, &session_id, &user, lang.as_deref())
            })
            .await?;
            match sent {
                Sent::Sent => Shown::ok(true),
                Sent::TooMany { until } => {
                    let message = say(&page, "mail_limit.too_many", &[]);
                    Shown::refused(StatusCode::TOO_MANY_REQUESTS, true, message, Some(until))
                }
            }
        }
        BindAction::VerifyEmail => {
            let code = form.email_code;
            let checked = run_blocking(&page, move |services| {
                enrollment::confirm_mailbox(services, &session_id, &code)
            })
            .await?;
            match checked {
                CodeCheck::Accepted => Shown::ok(false),
                CodeCheck::Locked(until) => {
                    let time = time_of_day(until);
                    let message = say(&page, "lost.locked", &[("time", &time)]);
                    Shown::refused(StatusCode::TOO_MANY_REQUESTS, true, message, Some(until))
                }
                CodeCheck::Wrong => {
                    let message = say(&page, "bind.wrong_email_code", &[]);
                    Shown::refused(StatusCode::UNAUTHORIZED, true, message, None)
                }
            }
        }
        BindAction::Confirm => {
            let binding = Binding {
                route: Route::UserCenter,
                code: form.code,
                client_id: None,
                lang: lang(&page),
                onward: page.url(&format!("{}?done=bound", paths::U)),
            };
            let signed_in = &visitor.signed_in;
            let (status, key) = match complete_binding(&page, signed_in, binding).await? {
                Ok(shown) => return Ok(shown),
                Err(refusal) => refusal,
            };
            Shown::refused(status, false, say(&page, key, &[]), None)
        }
    };
    bind_page(&page, &visitor, shown).await
}
