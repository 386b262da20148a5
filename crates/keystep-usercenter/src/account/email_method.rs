//! `/u/mfa/email`: turning on codes by mail. As for an authenticator, the visitor entered their
//! password within the last minutes (and proved a current factor, if they hold one); then a
//! code mailed to their address, typed back, proves the mailbox and turns the method on
//! ([`keystep_mfa::email::bind`]). A first method brings the recovery codes, shown once.
//! `POST /u/mfa/preferred` chooses the method sign-ins offer first.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use keystep_mfa::email::{self, Binding};
use keystep_mfa::mailed_code::{CodeCheck, Sent};
use keystep_mfa::manage;
use keystep_mfa::method::Method;
use keystep_web::cookies::{self, CookieKind};
use keystep_web::csrf::CsrfForm;
use keystep_web::page::{self, Page, PageError};
use keystep_web::{paths, run_blocking};
use serde::Deserialize;
use serde_json::json;

use super::bind::guard;
use super::{lang, render, say, Visitor};
use crate::format::time_of_day;
use crate::login::enroll::recovery_codes_page;

/// The form: mail a code, or here is the mailed code.
#[derive(Debug, Deserialize)]
pub struct EmailMethodForm {
    /// `send`, or `verify` (the default).
    #[serde(default)]
    pub action: String,
    /// The mailed code.
    #[serde(default)]
    pub email_code: String,
}

fn email_page(
    page: &Page,
    visitor: &Visitor,
    status: StatusCode,
    sent: bool,
    error: Option<String>,
) -> HttpResponse {
    let context = json!({
        "email": email::masked_address(&visitor.signed_in.user.email),
        "sent": sent,
        "error": error,
    });
    render(page, status, "u_email_method", context)
}

/// `GET /u/mfa/email`
pub async fn get_email_method(page: Page, visitor: Visitor) -> Result<HttpResponse, PageError> {
    if visitor.factors.email_bound_at.is_some() {
        return Ok(page::see_other(&page, paths::U));
    }
    guard(&page, &visitor, paths::U_EMAIL_METHOD)?;
    Ok(email_page(&page, &visitor, StatusCode::OK, false, None))
}

/// `POST /u/mfa/email`
pub async fn post_email_method(
    page: Page,
    visitor: Visitor,
    CsrfForm(form): CsrfForm<EmailMethodForm>,
) -> Result<HttpResponse, PageError> {
    if visitor.factors.email_bound_at.is_some() {
        return Ok(page::see_other(&page, paths::U));
    }
    guard(&page, &visitor, paths::U_EMAIL_METHOD)?;
    let user = visitor.signed_in.user.clone();
    let session_id = visitor.signed_in.session.id.clone();
    let origin = page.origin().in_lang(lang(&page));
    if form.action == "send" {
        let sent = run_blocking(&page, move |services| {
            email::send_binding_code(services, &session_id, &user, origin.device().lang)
        })
        .await?;
        return Ok(match sent {
            Sent::Sent => email_page(&page, &visitor, StatusCode::OK, true, None),
            Sent::TooMany { until } => {
                let message = say(&page, "mail_limit.too_many", &[]);
                let status = StatusCode::TOO_MANY_REQUESTS;
                let refused = email_page(&page, &visitor, status, true, Some(message));
                page::retry_after(refused, page.services.clock.now(), until)
            }
        });
    }
    let code = form.email_code;
    let bound = run_blocking(&page, move |services| {
        email::bind(services, &user, &session_id, &code, origin.device())
    })
    .await?;
    let onward = format!("{}?done=email_bound", paths::U);
    Ok(match bound {
        Binding::Bound {
            recovery_codes,
            token,
        } => {
            let mut shown = match recovery_codes {
                Some(codes) => recovery_codes_page(
                    &page,
                    &lang(&page),
                    &visitor.signed_in.user.username,
                    &codes,
                    page.url(&onward),
                ),
                None => page::see_other(&page, &onward),
            };
            if let Some(token) = token {
                let cookie = cookies::build(CookieKind::Session, token, page.https);
                let _ = shown.add_cookie(&cookie);
            }
            shown
        }
        Binding::Refused(CodeCheck::Locked(until) | CodeCheck::LockedForTheDay(until)) => {
            let message = say(&page, "mfa.locked", &[("time", &time_of_day(until))]);
            let shown = email_page(
                &page,
                &visitor,
                StatusCode::TOO_MANY_REQUESTS,
                true,
                Some(message),
            );
            page::retry_after(shown, page.services.clock.now(), until)
        }
        Binding::Refused(_) => {
            let message = say(&page, "bind.wrong_email_code", &[]);
            email_page(
                &page,
                &visitor,
                StatusCode::UNAUTHORIZED,
                true,
                Some(message),
            )
        }
    })
}

/// The method to prefer.
#[derive(Debug, Deserialize)]
pub struct PreferredForm {
    /// Its name (`totp`, `email`).
    #[serde(default)]
    pub method: String,
}

/// `POST /u/mfa/preferred`
pub async fn post_preferred(
    page: Page,
    visitor: Visitor,
    CsrfForm(form): CsrfForm<PreferredForm>,
) -> Result<HttpResponse, PageError> {
    let Some(method) = Method::parse(&form.method) else {
        return Err(PageError::new(StatusCode::BAD_REQUEST, "u.no_such_method"));
    };
    let user = visitor.signed_in.user.clone();
    let origin = page.origin().in_lang(lang(&page));
    let held = run_blocking(&page, move |services| {
        manage::set_preferred(services, &user, method, origin.device())
    })
    .await?;
    if !held {
        return Err(PageError::new(StatusCode::BAD_REQUEST, "u.no_such_method"));
    }
    Ok(page::see_other(
        &page,
        &format!("{}?done=preferred", paths::U),
    ))
}
