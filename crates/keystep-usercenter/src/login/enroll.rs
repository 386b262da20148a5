//! `/login/enroll`: binding an authenticator when a sign-in needs aal2 and the person has no
//! second factor — only when that is what the sign-in asked for
//! ([`keystep_mfa::policy::enrollment_demanded`]); anything else goes through the user center.
//! As in the user center, the person proves their mailbox with a mailed code first, then
//! scans the new secret and confirms a code from it. The pages and steps of a binding are
//! shared with `/u/mfa/bind` here.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keystep_mfa::enrollment::{self, Completed, Completion, EnrollmentView, Route};
use keystep_mfa::factors;
use keystep_mfa::mailed_code::{CodeCheck, Guesser, Sent};
use keystep_mfa::policy::{self, EnrollmentOrigin};
use keystep_web::cookies::{self, CookieKind};
use keystep_web::page::{self, Page, PageError};
use keystep_web::session::SignedIn;
use keystep_web::{paths, run_blocking, run_read, AppState};
use serde::Deserialize;
use serde_json::json;

use super::{say, step_page, Flow, FlowFields, Step, StepFields, StepForm};

/// Which step of a binding form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrollAction {
    /// Mail me a code.
    Send,
    /// Here is the mailed code.
    VerifyEmail,
    /// Here is a code from the new authenticator (the QR page's form has no `action`).
    #[default]
    Confirm,
}

/// The binding form at sign-in.
#[derive(Debug, Deserialize)]
pub struct EnrollForm {
    /// The flow.
    #[serde(flatten)]
    pub flow: FlowFields,
    /// Which step.
    #[serde(default)]
    pub action: EnrollAction,
    /// The mailed code.
    #[serde(default)]
    pub email_code: String,
    /// The code from the app.
    #[serde(default)]
    pub code: String,
}

impl StepFields for EnrollForm {
    fn flow(&self) -> &FlowFields {
        &self.flow
    }
}

/// Refuses unless binding here is what the sign-in asked for.
async fn demanded(state: &AppState, flow: &Flow, signed_in: &SignedIn) -> Result<(), PageError> {
    let user_id = signed_in.user.id.clone();
    let status = run_read(state, move |_, conn| factors::status(conn, &user_id)).await?;
    let origin = match flow {
        Flow::App(interaction) => EnrollmentOrigin::SignIn {
            pending_step: interaction.pending_step,
        },
        Flow::UserCenter(_) => EnrollmentOrigin::UserCenter,
    };
    if policy::enrollment_demanded(&state.services.config.mfa, origin, &status) {
        Ok(())
    } else {
        Err(PageError::new(
            StatusCode::FORBIDDEN,
            "enroll_refused.not_needed",
        ))
    }
}

/// The binding page (QR code, secret, URI) for `view`. `action` is where it posts.
pub fn enroll_page(
    page: &Page,
    flow: &Flow,
    status: StatusCode,
    view: &EnrollmentView,
    action: &str,
    error: Option<String>,
) -> HttpResponse {
    let context = json!({
        // From the user center: "Your account asks for a second step…".
        "client_name": shown_client_name(page, flow),
        "qr_data_uri": view.qr_data_uri,
        "secret_text": view.secret_text,
        "otpauth_uri": view.otpauth_uri,
        "action": action,
        // From the user center the page keeps the account's navigation and a cancel, and says
        // "you are setting up…" rather than sign-in words.
        "in_account": action == paths::U_BIND,
        "error": error,
    });
    step_page(page, flow, status, "enroll", context)
}

/// What a binding page shows besides its step: its status, whether a code was mailed, an
/// error, and until when a refusal holds (for `Retry-After`).
pub struct Shown {
    status: StatusCode,
    sent: bool,
    error: Option<String>,
    until: Option<i64>,
}

impl Shown {
    /// The page as it is.
    pub fn ok(sent: bool) -> Self {
        Self {
            status: StatusCode::OK,
            sent,
            error: None,
            until: None,
        }
    }

    /// The page with a refusal.
    pub fn refused(status: StatusCode, sent: bool, error: String, until: Option<i64>) -> Self {
        Self {
            status,
            sent,
            error: Some(error),
            until,
        }
    }
}

/// A binding on one route, as its page needs it.
pub struct BindingPage<'a> {
    /// Which way the binding goes.
    pub route: Route,
    /// The flow the page belongs to.
    pub flow: &'a Flow,
    /// Who binds.
    pub signed_in: &'a SignedIn,
    /// Where the page's forms post.
    pub action: &'static str,
    /// The person has an authenticator that this one replaces.
    pub replacing: bool,
}

/// The mailbox step until the session has proven the mailbox for this route, then the
/// authenticator step.
pub async fn binding_page(
    page: &Page,
    binding: &BindingPage<'_>,
    shown: Shown,
) -> Result<HttpResponse, PageError> {
    let Shown {
        status,
        sent,
        error,
        until,
    } = shown;
    let session_id = binding.signed_in.session.id.clone();
    let account = binding.signed_in.user.username.clone();
    let route = binding.route;
    let view = run_blocking(page, move |services| {
        if !enrollment::mailbox_confirmed(services, route, &session_id)? {
            return Ok(None);
        }
        enrollment::start(services, route, &session_id, &account).map(Some)
    })
    .await?;
    let flow = binding.flow;
    let shown = match view {
        None => {
            let context = json!({
                "client_name": shown_client_name(page, flow),
                "email": binding.signed_in.user.email,
                "sent": sent,
                "replacing": binding.replacing,
                "error": error,
                "action": binding.action,
                "in_account": binding.action == paths::U_BIND,
            });
            step_page(page, flow, status, "u_email", context)
        }
        Some(view) => enroll_page(page, flow, status, &view, binding.action, error),
    };
    Ok(match until {
        Some(until) => page::retry_after(shown, page.services.clock.now(), until),
        None => shown,
    })
}

/// Mails a code to the person, or checks the mailed one: how the page goes on.
pub async fn mailbox_step(
    page: &Page,
    binding: &BindingPage<'_>,
    action: EnrollAction,
    email_code: String,
) -> Result<Shown, PageError> {
    let session_id = binding.signed_in.session.id.clone();
    let user = binding.signed_in.user.clone();
    let route = binding.route;
    let flow = binding.flow;
    Ok(match action {
        EnrollAction::Send => {
            let lang = flow.lang(page);
            let sent = run_blocking(page, move |services| {
                enrollment::send_mailbox_code(services, route, &session_id, &user, Some(&lang))
            })
            .await?;
            match sent {
                Sent::Sent => Shown::ok(true),
                Sent::TooMany { until } => {
                    let message = say(page, flow, "mail_limit.too_many", &[]);
                    Shown::refused(StatusCode::TOO_MANY_REQUESTS, true, message, Some(until))
                }
            }
        }
        EnrollAction::VerifyEmail | EnrollAction::Confirm => {
            let origin = page.origin().in_lang(flow.lang(page));
            let checked = run_blocking(page, move |services| {
                let device = origin.device();
                let by = Guesser {
                    user_id: &user.id,
                    ip: device.ip,
                };
                let checked =
                    enrollment::confirm_mailbox(services, route, &session_id, by, &email_code)?;
                if matches!(checked, CodeCheck::LockedForTheDay(_)) {
                    factors::mail_day_lock(services, &user, device.lang);
                }
                Ok(checked)
            })
            .await?;
            match checked {
                CodeCheck::Accepted => Shown::ok(false),
                CodeCheck::Locked(until) | CodeCheck::LockedForTheDay(until) => {
                    let time = crate::format::time_of_day(until);
                    let message = say(page, flow, "lost.locked", &[("time", &time)]);
                    Shown::refused(StatusCode::TOO_MANY_REQUESTS, true, message, Some(until))
                }
                CodeCheck::Wrong => {
                    let message = say(page, flow, "bind.wrong_email_code", &[]);
                    Shown::refused(StatusCode::UNAUTHORIZED, true, message, None)
                }
            }
        }
    })
}

/// A binding form posted: the mailbox step, or the code from the new authenticator.
pub async fn post_binding(
    page: &Page,
    binding: &BindingPage<'_>,
    action: EnrollAction,
    email_code: String,
    completion: Binding,
) -> Result<HttpResponse, PageError> {
    let shown = match action {
        EnrollAction::Send | EnrollAction::VerifyEmail => {
            mailbox_step(page, binding, action, email_code).await?
        }
        EnrollAction::Confirm => {
            match complete_binding(page, binding.signed_in, completion).await? {
                Ok(done) => return Ok(done),
                Err((status, key)) => {
                    Shown::refused(status, false, say(page, binding.flow, key, &[]), None)
                }
            }
        }
    };
    binding_page(page, binding, shown).await
}

/// `GET /login/enroll`
pub async fn get_enroll(page: Page, step: Step) -> Result<HttpResponse, PageError> {
    demanded(&page, &step.flow, &step.signed_in).await?;
    let binding = at_sign_in(&step.flow, &step.signed_in);
    binding_page(&page, &binding, Shown::ok(false)).await
}

fn at_sign_in<'a>(flow: &'a Flow, signed_in: &'a SignedIn) -> BindingPage<'a> {
    BindingPage {
        route: Route::SignIn,
        flow,
        signed_in,
        action: paths::LOGIN_ENROLL,
        replacing: false,
    }
}

/// `POST /login/enroll`
pub async fn post_enroll(
    page: Page,
    StepForm { step, form }: StepForm<EnrollForm>,
) -> Result<HttpResponse, PageError> {
    let Step { signed_in, flow } = step;
    demanded(&page, &flow, &signed_in).await?;
    let completion = Binding {
        route: Route::SignIn,
        code: form.code,
        client_id: flow.client_id(),
        lang: flow.lang(&page),
        onward: page.url(&flow.onward()),
    };
    let binding = at_sign_in(&flow, &signed_in);
    post_binding(&page, &binding, form.action, form.email_code, completion).await
}

/// The name the binding pages give the party that asks: the relying party, or from the user
/// center "Your account".
fn shown_client_name(page: &Page, flow: &Flow) -> String {
    match flow.interaction() {
        Some(i) => i.client_name.clone(),
        None => say(page, flow, "u.title", &[]),
    }
}

/// A code from the new authenticator, to complete a binding with.
pub struct Binding {
    /// Which way the binding goes.
    pub route: Route,
    /// The code from the app.
    pub code: String,
    /// The relying party, when a sign-in asked.
    pub client_id: Option<String>,
    /// The page language (for the page and the mail).
    pub lang: String,
    /// Where "I have saved them" goes.
    pub onward: String,
}

/// Completes a binding for the signed-in person ([`enrollment::complete`]): the recovery codes
/// page with the upgraded session's cookie, or the refusal's status and message key.
pub async fn complete_binding(
    page: &Page,
    signed_in: &SignedIn,
    binding: Binding,
) -> Result<Result<HttpResponse, (StatusCode, &'static str)>, PageError> {
    let user = signed_in.user.clone();
    let session_id = signed_in.session.id.clone();
    let origin = page.origin().in_lang(binding.lang.clone());
    let (route, code, client_id) = (binding.route, binding.code, binding.client_id);
    let completed = run_blocking(page, move |services| {
        enrollment::complete(
            services,
            &Completion {
                user: &user,
                session_id: &session_id,
                code: &code,
                route,
                client_id: client_id.as_deref(),
                device: origin.device(),
            },
        )
    })
    .await?;
    Ok(match completed {
        Completed::Bound {
            recovery_codes,
            token,
        } => {
            let bound = Bound {
                lang: binding.lang,
                account: &signed_in.user.username,
                recovery_codes: recovery_codes.as_deref(),
                token,
                onward: binding.onward,
            };
            Ok(bound_page(page, bound))
        }
        Completed::Wrong => Err((StatusCode::UNAUTHORIZED, "enroll.wrong")),
        Completed::Expired => Err((StatusCode::BAD_REQUEST, "enroll.expired")),
    })
}

/// A binding just completed, as its page shows it.
pub struct Bound<'a> {
    /// The page language.
    pub lang: String,
    /// The account name, for the codes' file.
    pub account: &'a str,
    /// The ten new codes, when this was the person's first method.
    pub recovery_codes: Option<&'a [String]>,
    /// The upgraded session's token.
    pub token: String,
    /// Where "I have saved them" goes.
    pub onward: String,
}

/// After a binding: the recovery codes, shown once (for a first method; with more, the person
/// keeps theirs and goes on), and the upgraded session's cookie.
pub fn bound_page(page: &Page, bound: Bound<'_>) -> HttpResponse {
    let mut shown = match bound.recovery_codes {
        Some(codes) => recovery_codes_page(page, &bound.lang, bound.account, codes, bound.onward),
        // `onward` is a full URL already.
        None => HttpResponse::SeeOther()
            .insert_header((actix_web::http::header::LOCATION, bound.onward))
            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
            .finish(),
    };
    let _ = shown.add_cookie(&cookies::build(
        CookieKind::Session,
        bound.token,
        page.https,
    ));
    shown
}

/// The recovery codes page, shown once after binding or regenerating.
pub fn recovery_codes_page(
    page: &Page,
    lang: &str,
    account: &str,
    codes: &[String],
    continue_href: String,
) -> HttpResponse {
    let heading = page.message(lang, "codes.file_heading", &[("account", account)]);
    let file = format!("{heading}\n\n{}\n", codes.join("\n"));
    let context = json!({
        "codes": codes,
        "download_href": format!("data:text/plain;charset=utf-8;base64,{}", STANDARD.encode(file)),
        "continue_href": continue_href,
    });
    page.render(StatusCode::OK, "recovery_codes", lang, context)
}
