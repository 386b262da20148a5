//! `/login`: username and password, one message for a wrong username or password, throttled
//! per account and per IP ([`keystep_core::signin`]), and a new session token at every
//! completed sign-in.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use keystep_core::signin::{self, PasswordAttempt, Refusal};
use keystep_web::cookies::{self, CookieKind};
use keystep_web::csrf::CsrfForm;
use keystep_web::page::{self, Message, Page, PageError};
use keystep_web::run_blocking;
use serde::Deserialize;
use serde_json::json;

use super::{say, step_page, Flow, FlowFields};
use crate::format::time_of_day;

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// The flow.
    #[serde(flatten)]
    pub flow: FlowFields,
    /// Username.
    #[serde(default)]
    pub username: String,
    /// Password.
    #[serde(default)]
    pub password: String,
}

fn login_page(
    page: &Page,
    flow: &Flow,
    status: StatusCode,
    username: &str,
    error: Option<String>,
) -> HttpResponse {
    let context = json!({
        "client_name": flow.interaction().map(|i| i.client_name.clone()),
        "username": username,
        "error": error,
    });
    step_page(page, flow, status, "login", context)
}

/// `GET /login`
pub async fn get_login(
    page: Page,
    query: web::Query<FlowFields>,
) -> Result<HttpResponse, PageError> {
    let flow = Flow::load(&page, &query).await?;
    let username = flow
        .interaction()
        .and_then(|i| i.login_hint.clone())
        .unwrap_or_default();
    Ok(login_page(&page, &flow, StatusCode::OK, &username, None))
}

/// `POST /login`
pub async fn post_login(
    page: Page,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let flow = Flow::load(&page, &form.flow).await?;
    let refuse =
        |status, message: String| login_page(&page, &flow, status, &form.username, Some(message));
    if form.username.trim().is_empty() || form.password.is_empty() {
        let message = say(&page, &flow, "login.missing", &[]);
        return Ok(refuse(StatusCode::BAD_REQUEST, message));
    }
    let previous = cookies::read(&page.req, CookieKind::Session, page.https);
    let username = form.username.trim().to_owned();
    let password = form.password.clone();
    let client_id = flow.client_id();
    let origin = page.origin();
    // No transaction is open while the password is hashed; each write is a short one.
    let outcome = run_blocking(&page, move |services| {
        let attempt = PasswordAttempt {
            username: &username,
            password: &password,
            client_id: client_id.as_deref(),
            device: origin.device(),
        };
        signin::sign_in(services, &attempt, previous.as_deref())
    })
    .await?;
    let signed_in = match outcome {
        Ok(signed_in) => signed_in,
        Err(Refusal::Locked { until }) => {
            let message = say(
                &page,
                &flow,
                "login.throttled",
                &[("time", &time_of_day(until))],
            );
            let shown = refuse(StatusCode::TOO_MANY_REQUESTS, message);
            return Ok(page::retry_after(shown, page.services.clock.now(), until));
        }
        Err(Refusal::Disabled) => {
            let message = say(&page, &flow, "login.disabled", &[]);
            return Ok(refuse(StatusCode::FORBIDDEN, message));
        }
        Err(Refusal::Wrong) => {
            let message = say(&page, &flow, "login.invalid", &[]);
            return Ok(refuse(StatusCode::UNAUTHORIZED, message));
        }
    };
    let mut response = match &flow {
        Flow::UserCenter(None) => {
            let lang = flow.lang(&page);
            let body = page.message(
                &lang,
                "login.signed_in_body",
                &[("name", &signed_in.user.display_name)],
            );
            page.say(
                StatusCode::OK,
                &lang,
                &Message::new("login.signed_in_title", "login.signed_in_title", &[body]),
            )
        }
        _ => page::see_other(&page, &flow.onward()),
    };
    let _ = response.add_cookie(&cookies::build(
        CookieKind::Session,
        signed_in.token,
        page.https,
    ));
    Ok(response)
}
