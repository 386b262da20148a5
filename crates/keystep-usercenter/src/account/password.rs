//! `/u/password`: changing the password, with the current one, optionally ending the other
//! sessions ([`keystep_core::account::change_password`]).

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use keystep_core::account::{self, ChangeRefusal, PasswordChange};
use keystep_core::password::PasswordRule;
use keystep_core::signout::Which;
use keystep_web::csrf::CsrfForm;
use keystep_web::page::{self, Page, PageError};
use keystep_web::run_blocking;
use serde::Deserialize;
use serde_json::json;

use super::{render, say, Visitor};
use crate::format::time_of_day;

/// The password form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    /// The current password.
    #[serde(default)]
    pub current_password: String,
    /// The new one.
    #[serde(default)]
    pub new_password: String,
    /// The new one again.
    #[serde(default)]
    pub confirm_password: String,
    /// `1`: sign out the other sessions too.
    #[serde(default)]
    pub end_others: String,
}

fn password_page(
    page: &Page,
    visitor: &Visitor,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    end_others: bool,
) -> HttpResponse {
    let context = json!({
        "username": visitor.signed_in.user.username,
        "min_length": page.services.config.password.min_length,
        "notice": notice,
        "error": error,
        "end_others": end_others,
    });
    render(page, status, "u_password", context)
}

/// `GET /u/password`
pub async fn get_password(page: Page, visitor: Visitor) -> HttpResponse {
    password_page(&page, &visitor, StatusCode::OK, None, None, false)
}

/// `POST /u/password`
pub async fn post_password(
    page: Page,
    visitor: Visitor,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let end_others = form.end_others == "1";
    let user = visitor.signed_in.user.clone();
    let session_id = visitor.signed_in.session.id.clone();
    let origin = page.origin();
    let outcome = run_blocking(&page, move |services| {
        account::change_password(
            services,
            &PasswordChange {
                user: &user,
                current: &form.current_password,
                new: &form.new_password,
                confirm: &form.confirm_password,
                end_sessions: end_others.then_some(Which::AllBut(&session_id)),
                device: origin.device(),
            },
        )
    })
    .await?;
    let refusal = match outcome {
        Ok(_) => {
            let key = if end_others {
                "password.done_others"
            } else {
                "password.done"
            };
            let notice = Some(say(&page, key, &[]));
            return Ok(password_page(
                &page,
                &visitor,
                StatusCode::OK,
                notice,
                None,
                false,
            ));
        }
        Err(refusal) => refusal,
    };
    let (status, message) = match refusal {
        ChangeRefusal::Mismatch => (
            StatusCode::BAD_REQUEST,
            say(&page, "password.mismatch", &[]),
        ),
        ChangeRefusal::Rule(PasswordRule::Empty | PasswordRule::TooShort { .. }) => {
            let min = page.services.config.password.min_length.to_string();
            (
                StatusCode::BAD_REQUEST,
                say(&page, "password.too_short", &[("min", &min)]),
            )
        }
        ChangeRefusal::Rule(PasswordRule::TooLong { max }) => (
            StatusCode::BAD_REQUEST,
            say(&page, "password.too_long", &[("max", &max.to_string())]),
        ),
        ChangeRefusal::WrongCurrent => (
            StatusCode::UNAUTHORIZED,
            say(&page, "password.wrong_current", &[]),
        ),
        ChangeRefusal::Locked { until } => {
            let message = say(&page, "login.throttled", &[("time", &time_of_day(until))]);
            let shown = password_page(
                &page,
                &visitor,
                StatusCode::TOO_MANY_REQUESTS,
                None,
                Some(message),
                end_others,
            );
            return Ok(page::retry_after(shown, page.services.clock.now(), until));
        }
    };
    Ok(password_page(
        &page,
        &visitor,
        status,
        None,
        Some(message),
        end_others,
    ))
}
