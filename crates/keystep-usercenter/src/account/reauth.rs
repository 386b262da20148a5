//! `/u/reauth`: entering the password again before changing sign-in settings. It is a
//! password sign-in like the login page's ([`keystep_core::signin::sign_in`]: throttled,
//! audited, the throttle reset when right) that continues this session under a new token.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use keystep_core::signin::{self, PasswordAttempt, Refusal};
use keystep_web::cookies::{self, CookieKind};
use keystep_web::csrf::CsrfForm;
use keystep_web::page::{self, Page, PageError};
use keystep_web::{paths, run_blocking};
use serde::Deserialize;
use serde_json::json;

use super::{render, say, Visitor};
use crate::format::time_of_day;

/// `?next=…`
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    /// Where to go after re-entering the password.
    #[serde(default)]
    pub next: String,
}

/// The re-entry form.
#[derive(Debug, Deserialize)]
pub struct ReauthForm {
    /// The password.
    #[serde(default)]
    pub password: String,
    /// Where to go next.
    #[serde(default)]
    pub next: String,
}

fn reauth_page(
    page: &Page,
    visitor: &Visitor,
    status: StatusCode,
    next: &str,
    error: Option<String>,
) -> HttpResponse {
    let context =
        json!({"next": next, "username": visitor.signed_in.user.username, "error": error});
    render(page, status, "u_reauth", context)
}

fn onward(next: &str) -> String {
    paths::safe_next(Some(next)).unwrap_or_else(|| paths::U.to_owned())
}

/// `GET /u/reauth`
pub async fn get_reauth(
    page: Page,
    visitor: Visitor,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, PageError> {
    let next = onward(&query.next);
    Ok(reauth_page(&page, &visitor, StatusCode::OK, &next, None))
}

/// `POST /u/reauth`
pub async fn post_reauth(
    page: Page,
    visitor: Visitor,
    CsrfForm(form): CsrfForm<ReauthForm>,
) -> Result<HttpResponse, PageError> {
    let next = onward(&form.next);
    let username = visitor.signed_in.user.username.clone();
    let token = visitor.signed_in.token.clone();
    let password = form.password;
    let origin = page.origin();
    let outcome = run_blocking(&page, move |services| {
        let attempt = PasswordAttempt {
            username: &username,
            password: &password,
            client_id: None,
            device: origin.device(),
        };
        signin::sign_in(services, &attempt, Some(&token))
    })
    .await?;
    Ok(match outcome {
        Ok(signed_in) => {
            let mut response = page::see_other(&page, &next);
            let _ = response.add_cookie(&cookies::build(
                CookieKind::Session,
                signed_in.token,
                page.https,
            ));
            response
        }
        Err(Refusal::Locked { until }) => {
            let message = say(&page, "login.throttled", &[("time", &time_of_day(until))]);
            let shown = reauth_page(
                &page,
                &visitor,
                StatusCode::TOO_MANY_REQUESTS,
                &next,
                Some(message),
            );
            page::retry_after(shown, page.services.clock.now(), until)
        }
        Err(Refusal::Wrong | Refusal::Disabled) => {
            let message = say(&page, "login.invalid", &[]);
            reauth_page(
                &page,
                &visitor,
                StatusCode::UNAUTHORIZED,
                &next,
                Some(message),
            )
        }
    })
}
