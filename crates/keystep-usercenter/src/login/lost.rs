//! `/login/lost`: a person who lost both their authenticator and their recovery codes proves
//! their mailbox with a mailed code and files a reset request for an operator
//! ([`keystep_mfa::reset`]).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keystep_mfa::mailed_code::{self, CodeCheck, Sent};
use keystep_mfa::notice::CodePurpose;
use keystep_mfa::reset;
use keystep_web::csrf::CsrfForm;
use keystep_web::page::{self, PageError};
use keystep_web::session::{Origin, SignedIn};
use keystep_web::{run_blocking, run_write, AppState};
use serde::Deserialize;
use serde_json::json;

use super::{say, step_page, Flow, FlowFields, Step};
use crate::format::time_of_day;

/// What the form asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LostAction {
    /// Mail me a code.
    Send,
    /// Here is the code: file the request.
    Confirm,
}

/// The lost-device form.
#[derive(Debug, Deserialize)]
pub struct LostForm {
    /// The flow.
    #[serde(flatten)]
    pub flow: FlowFields,
    /// Which button.
    pub action: LostAction,
    /// The mailed code.
    #[serde(default)]
    pub email_code: String,
}

fn lost_page(
    state: &AppState,
    req: &HttpRequest,
    flow: &Flow,
    status: StatusCode,
    sent: bool,
    error: Option<String>,
) -> HttpResponse {
    step_page(
        state,
        req,
        flow,
        status,
        "lost",
        json!({"sent": sent, "error": error}),
    )
}

/// `GET /login/lost`
pub async fn get_lost(state: web::Data<AppState>, req: HttpRequest, step: Step) -> HttpResponse {
    lost_page(&state, &req, &step.flow, StatusCode::OK, false, None)
}

/// `POST /login/lost`: `action=send` mails a code; `action=confirm` checks it and files the
/// request.
pub async fn post_lost(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed_in: SignedIn,
    origin: Origin,
    CsrfForm(form): CsrfForm<LostForm>,
) -> Result<HttpResponse, PageError> {
    let flow = Flow::load(&state, &form.flow).await?;
    let subject = signed_in.session.id.clone();
    let user = signed_in.user;
    if form.action == LostAction::Send {
        let lang = flow.lang(&state, &req);
        let sent = run_blocking(&state, move |services| {
            let purpose = CodePurpose::ResetSecondFactor;
            mailed_code::send(services, &subject, &user, purpose, Some(&lang))
        })
        .await?;
        return Ok(match sent {
            Sent::Sent => lost_page(&state, &req, &flow, StatusCode::OK, true, None),
            Sent::TooMany { until } => {
                let message = say(&state, &req, &flow, "mail_limit.too_many", &[]);
                let status = StatusCode::TOO_MANY_REQUESTS;
                let page = lost_page(&state, &req, &flow, status, true, Some(message));
                page::retry_after(page, state.services.clock.now(), until)
            }
        });
    }
    let code = form.email_code;
    let filed = run_write(&state, move |services, conn| {
        match mailed_code::check(services, &subject, &code)? {
            CodeCheck::Accepted => {
                let device = origin.device();
                let request = reset::file(services, conn, &user.id, device.ip, device.user_agent)?;
                Ok(Ok(request.id))
            }
            other => Ok(Err(other)),
        }
    })
    .await?;
    let lang = flow.lang(&state, &req);
    Ok(match filed {
        Ok(id) => {
            let body = page::message(&state, &lang, "lost.filed_body", &[("id", &id)]);
            page::message_page(
                &state,
                &req,
                StatusCode::OK,
                &lang,
                "lost.filed_title",
                "lost.filed_title",
                &[body],
            )
        }
        Err(CodeCheck::Locked(until)) => {
            let message = say(
                &state,
                &req,
                &flow,
                "lost.locked",
                &[("time", &time_of_day(until))],
            );
            let page = lost_page(
                &state,
                &req,
                &flow,
                StatusCode::TOO_MANY_REQUESTS,
                true,
                Some(message),
            );
            page::retry_after(page, state.services.clock.now(), until)
        }
        Err(_) => {
            let message = say(&state, &req, &flow, "lost.wrong", &[]);
            lost_page(
                &state,
                &req,
                &flow,
                StatusCode::UNAUTHORIZED,
                true,
                Some(message),
            )
        }
    })
}
