//! `/login/lost`: a person who lost both their authenticator and their recovery codes proves
//! their mailbox with a mailed code and files a reset request for an operator
//! ([`keystep_mfa::reset`]).

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use keystep_core::mail::CodePurpose;
use keystep_mfa::mailed_code::{self, CodeCheck, Sent};
use keystep_mfa::{factors, reset};
use keystep_web::page::{self, Message, Page, PageError};
use keystep_web::{run_blocking, run_write};
use serde::Deserialize;
use serde_json::json;

use super::{say, step_page, Flow, FlowFields, Step, StepFields, StepForm};
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
    page: &Page,
    flow: &Flow,
    status: StatusCode,
    sent: bool,
    error: Option<String>,
) -> HttpResponse {
    step_page(
        page,
        flow,
        status,
        "lost",
        json!({"sent": sent, "error": error}),
    )
}

impl StepFields for LostForm {
    fn flow(&self) -> &FlowFields {
        &self.flow
    }
}

/// `GET /login/lost`
pub async fn get_lost(page: Page, step: Step) -> HttpResponse {
    lost_page(&page, &step.flow, StatusCode::OK, false, None)
}

/// `POST /login/lost`: `action=send` mails a code; `action=confirm` checks it and files the
/// request.
pub async fn post_lost(
    page: Page,
    StepForm { step, form }: StepForm<LostForm>,
) -> Result<HttpResponse, PageError> {
    let Step { signed_in, flow } = step;
    let subject = signed_in.session.id.clone();
    let user = signed_in.user;
    if form.action == LostAction::Send {
        let lang = flow.lang(&page);
        let sent = run_blocking(&page, move |services| {
            let purpose = CodePurpose::ResetSecondFactor;
            mailed_code::send(services, &subject, &user, purpose, Some(&lang))
        })
        .await?;
        return Ok(match sent {
            Sent::Sent => lost_page(&page, &flow, StatusCode::OK, true, None),
            Sent::TooMany { until } => {
                let message = say(&page, &flow, "mail_limit.too_many", &[]);
                let status = StatusCode::TOO_MANY_REQUESTS;
                let shown = lost_page(&page, &flow, status, true, Some(message));
                page::retry_after(shown, page.services.clock.now(), until)
            }
        });
    }
    let code = form.email_code;
    let origin = page.origin();
    let told = user.clone();
    let filed = run_write(&page, move |services, conn| {
        let device = origin.device();
        let by = mailed_code::Guesser {
            user_id: &user.id,
            ip: device.ip,
        };
        match mailed_code::check(services, &subject, by, &code)? {
            CodeCheck::Accepted => {
                let request = reset::file(services, conn, &user.id, device.ip, device.user_agent)?;
                Ok(Ok(request.id))
            }
            other => Ok(Err(other)),
        }
    })
    .await?;
    let lang = flow.lang(&page);
    if matches!(filed, Err(CodeCheck::LockedForTheDay(_))) {
        let lang = lang.clone();
        run_blocking(&page, move |services| {
            factors::mail_day_lock(services, &told, Some(&lang));
            Ok(())
        })
        .await?;
    }
    Ok(match filed {
        Ok(id) => {
            let body = page.message(&lang, "lost.filed_body", &[("id", &id)]);
            page.say(
                StatusCode::OK,
                &lang,
                &Message::new("lost.filed_title", "lost.filed_title", &[body]),
            )
        }
        Err(CodeCheck::Locked(until) | CodeCheck::LockedForTheDay(until)) => {
            let message = say(
                &page,
                &flow,
                "lost.locked",
                &[("time", &time_of_day(until))],
            );
            let shown = lost_page(
                &page,
                &flow,
                StatusCode::TOO_MANY_REQUESTS,
                true,
                Some(message),
            );
            page::retry_after(shown, page.services.clock.now(), until)
        }
        Err(_) => {
            let message = say(&page, &flow, "lost.wrong", &[]);
            lost_page(&page, &flow, StatusCode::UNAUTHORIZED, true, Some(message))
        }
    })
}
