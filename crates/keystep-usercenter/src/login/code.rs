//! The second step of a sign-in: the authenticator code (`/login/mfa`) or a recovery code
//! (`/login/recovery`), for the person the password step signed in. A right code upgrades
//! the session to aal2 under a new token ([`keystep_mfa::check::step_up`]).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use keystep_mfa::check::{self, CodeAttempt, CodeCheck};
use keystep_mfa::method::Method;
use keystep_web::cookies::{self, CookieKind};
use keystep_web::page::{self, Page, PageError};
use keystep_web::run_blocking;
use serde::Deserialize;
use serde_json::json;

use super::{say, step_page, Flow, FlowFields, Step, StepFields, StepForm};
use crate::format::time_of_day;

/// The code form of either page.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    /// The flow.
    #[serde(flatten)]
    pub flow: FlowFields,
    /// An authenticator code (`/login/mfa`).
    #[serde(default)]
    pub code: String,
    /// A recovery code (`/login/recovery`).
    #[serde(default)]
    pub recovery_code: String,
}

impl StepFields for CodeForm {
    fn flow(&self) -> &FlowFields {
        &self.flow
    }
}

/// Which of the two pages: the route's data (see `crate::routes`), so both share their
/// handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePage {
    /// `/login/mfa`: a code from the authenticator app.
    Authenticator,
    /// `/login/recovery`: a recovery code.
    Recovery,
}

impl CodePage {
    fn template(self) -> &'static str {
        match self {
            Self::Authenticator => "mfa",
            Self::Recovery => "recovery",
        }
    }

    fn method(self) -> Method {
        match self {
            Self::Authenticator => Method::Totp,
            Self::Recovery => Method::RecoveryCode,
        }
    }

    fn wrong_key(self) -> &'static str {
        match self {
            Self::Authenticator => "mfa.wrong",
            Self::Recovery => "recovery.wrong",
        }
    }

    /// The field of the form this page's code is in.
    fn code(self, form: &CodeForm) -> String {
        match self {
            Self::Authenticator => form.code.clone(),
            Self::Recovery => form.recovery_code.clone(),
        }
    }
}

fn code_page(
    page: &Page,
    step: &Step,
    which: CodePage,
    status: StatusCode,
    error: Option<String>,
) -> HttpResponse {
    let context = json!({"account": step.signed_in.user.username, "error": error});
    step_page(page, &step.flow, status, which.template(), context)
}

/// Refuses a relying party's sign-in that the protocol did not send to the second factor: a
/// code entered out of order (say, instead of the password that `max_age` or `prompt=login`
/// asked for) must not move the sign-in on.
fn in_order(step: &Step) -> Result<(), PageError> {
    match step.flow.interaction() {
        Some(i) if i.pending_step != Some(keystep_mfa::stepup::Step::SecondFactor) => {
            Err(PageError::new(StatusCode::FORBIDDEN, "mfa.out_of_order"))
        }
        _ => Ok(()),
    }
}

/// `GET /login/mfa`, `GET /login/recovery`
pub async fn get_code(
    page: Page,
    which: web::Data<CodePage>,
    step: Step,
) -> Result<HttpResponse, PageError> {
    in_order(&step)?;
    Ok(code_page(&page, &step, **which, StatusCode::OK, None))
}

/// `POST /login/mfa`, `POST /login/recovery`
pub async fn post_code(
    page: Page,
    which: web::Data<CodePage>,
    StepForm { step, form }: StepForm<CodeForm>,
) -> Result<HttpResponse, PageError> {
    in_order(&step)?;
    let which = **which;
    let session_id = step.signed_in.session.id.clone();
    let user = step.signed_in.user.clone();
    let client_id = step.flow.client_id();
    let code = which.code(&form);
    let origin = page.origin().in_lang(step.flow.lang(&page));
    let (check, token) = run_blocking(&page, move |services| {
        let methods = [which.method()];
        let device = origin.device();
        let attempt = CodeAttempt {
            user_id: &user.id,
            code: &code,
            methods: &methods,
            client_id: client_id.as_deref(),
            device,
        };
        let (check, token) = check::step_up(services, &session_id, &attempt)?;
        check::mail_day_lock(services, &user, &check, device.lang);
        Ok((check, token))
    })
    .await?;
    let refused = |status, message| code_page(&page, &step, which, status, Some(message));
    let mut response = match check {
        CodeCheck::Locked { until, .. } => {
            let time = time_of_day(until);
            let message = say(&page, &step.flow, "mfa.locked", &[("time", &time)]);
            let shown = refused(StatusCode::TOO_MANY_REQUESTS, message);
            return Ok(page::retry_after(shown, page.services.clock.now(), until));
        }
        CodeCheck::Wrong => {
            let message = say(&page, &step.flow, which.wrong_key(), &[]);
            return Ok(refused(StatusCode::UNAUTHORIZED, message));
        }
        CodeCheck::Verified {
            recovery_codes_left: Some(left),
            ..
        } => recovery_used_page(&page, &step.flow, left),
        CodeCheck::Verified { .. } => page::see_other(&page, &step.flow.onward()),
    };
    if let Some(token) = token {
        let _ = response.add_cookie(&cookies::build(CookieKind::Session, token, page.https));
    }
    Ok(response)
}

/// After a recovery code: how many are left, a warning when few are, and the way on.
fn recovery_used_page(page: &Page, flow: &Flow, left: i64) -> HttpResponse {
    let lang = flow.lang(page);
    let mut paragraphs = vec![page.message(
        &lang,
        "recovery.used_body",
        &[("remaining", &left.to_string())],
    )];
    if left <= 3 {
        paragraphs.push(page.message(&lang, "recovery.used_low", &[]));
    }
    let onward = flow.onward();
    let message = page::Message {
        title_key: "recovery.used_title",
        heading_key: "recovery.used_title",
        paragraphs: &paragraphs,
        link: Some((&onward, "recovery.continue")),
    };
    page.say(StatusCode::OK, &lang, &message)
}
