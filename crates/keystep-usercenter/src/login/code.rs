//! The second step of a sign-in, for the person the password step signed in: a code of one
//! of their methods (`/login/mfa`: the preferred one first, `?method=` for another — an
//! authenticator code, or a code mailed on request) or a recovery code (`/login/recovery`).
//! Each page lists the person's other methods ("use another method"). A right code upgrades
//! the session to aal2 under a new token ([`keystep_mfa::check::step_up`]).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use keystep_mfa::check::{self, CodeAttempt, CodeCheck};
use keystep_mfa::email;
use keystep_mfa::factors::{self, Status};
use keystep_mfa::mailed_code::Sent;
use keystep_mfa::method::{Method, Occasion};
use keystep_web::cookies::{self, CookieKind};
use keystep_web::page::{self, Page, PageError};
use keystep_web::{paths, run_blocking, run_read};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{say, step_page, Flow, FlowFields, Step, StepFields, StepForm};
use crate::format::time_of_day;

/// The code form of either page.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    /// The flow.
    #[serde(flatten)]
    pub flow: FlowFields,
    /// The method the code is for (`/login/mfa`): `totp` or `email`.
    #[serde(default)]
    pub method: String,
    /// `send`: mail a code (the method is `email`); otherwise the code is checked.
    #[serde(default)]
    pub action: String,
    /// A code of the method (`/login/mfa`).
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

/// `?method=…&sent=1` on `/login/mfa`.
#[derive(Debug, Default, Deserialize)]
pub struct MethodQuery {
    /// The method to show; the person's preferred one when absent or not theirs.
    #[serde(default)]
    pub method: String,
    /// A code was just mailed.
    #[serde(default)]
    pub sent: Option<String>,
}

/// Which of the two pages: the route's data (see `crate::routes`), so both share their
/// handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePage {
    /// `/login/mfa`: a code of one of the person's methods.
    Method,
    /// `/login/recovery`: a recovery code.
    Recovery,
}

/// What a code page shows: which method, for whom, and what else they hold.
struct Shown<'a> {
    step: &'a Step,
    factors: Status,
    method: Method,
    /// A code was just mailed (mailed codes only).
    sent: bool,
}

impl Shown<'_> {
    fn template(&self) -> &'static str {
        match self.method {
            Method::RecoveryCode => "recovery",
            _ => "mfa",
        }
    }

    fn wrong_key(&self) -> &'static str {
        match self.method {
            Method::RecoveryCode => "recovery.wrong",
            Method::EmailCode => "mfa.wrong_email",
            Method::Totp => "mfa.wrong",
        }
    }

    /// The person's other ways, each a link to its page; recovery codes always among them.
    fn others(&self, page: &Page) -> Vec<Value> {
        let flow = &self.step.flow;
        let query = flow.query();
        let mut others: Vec<Value> = self
            .factors
            .methods()
            .into_iter()
            .filter(|m| *m != self.method)
            .map(|m| {
                let href = format!("{}?method={}&{query}", paths::LOGIN_MFA, m.as_str());
                let label = say(page, flow, &format!("mfa.use_{}", m.as_str()), &[]);
                json!({"href": href, "label": label, "method": m.as_str()})
            })
            .collect();
        if self.method != Method::RecoveryCode {
            let href = format!("{}?{query}", paths::LOGIN_RECOVERY);
            let label = say(page, flow, "mfa.use_recovery_code", &[]);
            others.push(json!({"href": href, "label": label, "method": "recovery_code"}));
        }
        others
    }

    fn render(&self, page: &Page, status: StatusCode, error: Option<String>) -> HttpResponse {
        let user = &self.step.signed_in.user;
        let context = json!({
            "account": user.username,
            "method": self.method.as_str(),
            "email": email::masked_address(&user.email),
            "sent": self.sent,
            "others": self.others(page),
            "error": error,
        });
        step_page(page, &self.step.flow, status, self.template(), context)
    }
}

/// The method a request for `/login/mfa` shows: the one asked for when the person holds it,
/// else the one their second step offers first ([`Status::offered`]); an authenticator code
/// for a person who holds nothing (every code is then wrong).
fn chosen(status: &Status, asked: &str) -> Method {
    Method::parse(asked)
        .filter(|m| *m != Method::RecoveryCode && m.is_held(status))
        .or(status.offered())
        .unwrap_or(Method::Totp)
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

async fn factors_of(page: &Page, step: &Step) -> Result<Status, PageError> {
    let user_id = step.signed_in.user.id.clone();
    Ok(run_read(page, move |_, conn| factors::status(conn, &user_id)).await?)
}

/// The method a page shows: recovery codes on `/login/recovery`, else [`chosen`].
fn method_page(which: CodePage, status: &Status, asked: &str) -> Method {
    match which {
        CodePage::Recovery => Method::RecoveryCode,
        CodePage::Method => chosen(status, asked),
    }
}

/// `GET /login/mfa`, `GET /login/recovery`
pub async fn get_code(
    page: Page,
    which: web::Data<CodePage>,
    step: Step,
    query: web::Query<MethodQuery>,
) -> Result<HttpResponse, PageError> {
    in_order(&step)?;
    let factors = factors_of(&page, &step).await?;
    let method = method_page(**which, &factors, &query.method);
    if **which == CodePage::Method && method == Method::RecoveryCode {
        // Recovery codes are all the person has left.
        let to = format!("{}?{}", paths::LOGIN_RECOVERY, step.flow.query());
        return Ok(page::see_other(&page, &to));
    }
    let shown = Shown {
        step: &step,
        factors,
        method,
        sent: query.sent.is_some() && method == Method::EmailCode,
    };
    Ok(shown.render(&page, StatusCode::OK, None))
}

/// `POST /login/mfa`, `POST /login/recovery`
pub async fn post_code(
    page: Page,
    which: web::Data<CodePage>,
    StepForm { step, form }: StepForm<CodeForm>,
) -> Result<HttpResponse, PageError> {
    in_order(&step)?;
    let factors = factors_of(&page, &step).await?;
    let method = method_page(**which, &factors, &form.method);
    if form.action == "send" {
        if method == Method::EmailCode {
            return send_email_code(&page, &step, factors).await;
        }
        // A stale page asked to mail a code to someone without codes by mail: show what
        // they have, and check no code (an empty one must not count as a wrong one).
        let shown = Shown {
            step: &step,
            factors,
            method,
            sent: false,
        };
        return Ok(shown.render(&page, StatusCode::OK, None));
    }
    let session_id = step.signed_in.session.id.clone();
    let user = step.signed_in.user.clone();
    let client_id = step.flow.client_id();
    let code = match method {
        Method::RecoveryCode => form.recovery_code.clone(),
        _ => form.code.clone(),
    };
    let origin = page.origin().in_lang(step.flow.lang(&page));
    let (check, token) = run_blocking(&page, move |services| {
        let methods = [method];
        let device = origin.device();
        let attempt = CodeAttempt {
            user_id: &user.id,
            session_id: &session_id,
            occasion: Occasion::SignIn,
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
    let shown = Shown {
        step: &step,
        factors,
        method,
        sent: method == Method::EmailCode,
    };
    let mut response = match check {
        CodeCheck::Locked { until, .. } => {
            let time = time_of_day(until);
            let message = say(&page, &step.flow, "mfa.locked", &[("time", &time)]);
            let refused = shown.render(&page, StatusCode::TOO_MANY_REQUESTS, Some(message));
            return Ok(page::retry_after(refused, page.services.clock.now(), until));
        }
        CodeCheck::Wrong => {
            let message = say(&page, &step.flow, shown.wrong_key(), &[]);
            return Ok(shown.render(&page, StatusCode::UNAUTHORIZED, Some(message)));
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

/// Mails a code for this sign-in's second step, then shows the code field (after a redirect,
/// so a reload does not mail again); too many sends in a short time is the page with a notice.
async fn send_email_code(
    page: &Page,
    step: &Step,
    factors: Status,
) -> Result<HttpResponse, PageError> {
    let session_id = step.signed_in.session.id.clone();
    let user = step.signed_in.user.clone();
    let lang = step.flow.lang(page);
    let sent = run_blocking(page, move |services| {
        email::send_code(services, Occasion::SignIn, &session_id, &user, Some(&lang))
    })
    .await?;
    match sent {
        Sent::Sent => {
            let to = format!(
                "{}?method={}&sent=1&{}",
                paths::LOGIN_MFA,
                Method::EmailCode.as_str(),
                step.flow.query()
            );
            Ok(page::see_other(page, &to))
        }
        Sent::TooMany { until } => {
            let shown = Shown {
                step,
                factors,
                method: Method::EmailCode,
                sent: true,
            };
            let message = say(page, &step.flow, "mail_limit.too_many", &[]);
            let refused = shown.render(page, StatusCode::TOO_MANY_REQUESTS, Some(message));
            Ok(page::retry_after(refused, page.services.clock.now(), until))
        }
    }
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
