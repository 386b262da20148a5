//! `/login/enroll`: binding an authenticator when a sign-in needs aal2 and the person has no
//! second factor — only when that is what the sign-in asked for
//! ([`keystep_mfa::policy::enrollment_demanded`]); anything else goes through the user center.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keystep_mfa::enrollment::{self, Completed, Completion, EnrollmentView, Route};
use keystep_mfa::factors;
use keystep_mfa::policy::{self, EnrollmentOrigin};
use keystep_web::cookies::{self, CookieKind};
use keystep_web::page::{Page, PageError};
use keystep_web::session::SignedIn;
use keystep_web::{paths, run_blocking, run_read, AppState};
use serde::Deserialize;
use serde_json::json;

use super::{say, step_page, Flow, FlowFields, Step, StepFields, StepForm};

/// The confirmation form.
#[derive(Debug, Deserialize)]
pub struct EnrollForm {
    /// The flow.
    #[serde(flatten)]
    pub flow: FlowFields,
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
    let client_name = match flow.interaction() {
        Some(i) => i.client_name.clone(),
        // From the user center: "Your account asks for a second step…".
        None => say(page, flow, "u.title", &[]),
    };
    let context = json!({
        "client_name": client_name,
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

async fn started(
    state: &AppState,
    route: Route,
    signed_in: &SignedIn,
) -> Result<EnrollmentView, PageError> {
    let session_id = signed_in.session.id.clone();
    let account = signed_in.user.username.clone();
    Ok(run_blocking(state, move |services| {
        enrollment::start(services, route, &session_id, &account)
    })
    .await?)
}

/// `GET /login/enroll`
pub async fn get_enroll(page: Page, step: Step) -> Result<HttpResponse, PageError> {
    demanded(&page, &step.flow, &step.signed_in).await?;
    let view = started(&page, Route::SignIn, &step.signed_in).await?;
    let action = paths::LOGIN_ENROLL;
    let shown = enroll_page(&page, &step.flow, StatusCode::OK, &view, action, None);
    Ok(shown)
}

/// `POST /login/enroll`
pub async fn post_enroll(
    page: Page,
    StepForm { step, form }: StepForm<EnrollForm>,
) -> Result<HttpResponse, PageError> {
    let Step { signed_in, flow } = step;
    demanded(&page, &flow, &signed_in).await?;
    let binding = Binding {
        route: Route::SignIn,
        code: form.code,
        client_id: flow.client_id(),
        lang: flow.lang(&page),
        onward: page.url(&flow.onward()),
    };
    let (status, key) = match complete_binding(&page, &signed_in, binding).await? {
        Ok(shown) => return Ok(shown),
        Err(refusal) => refusal,
    };
    let view = started(&page, Route::SignIn, &signed_in).await?;
    let message = say(&page, &flow, key, &[]);
    let action = paths::LOGIN_ENROLL;
    Ok(enroll_page(
        &page,
        &flow,
        status,
        &view,
        action,
        Some(message),
    ))
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
                recovery_codes: &recovery_codes,
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
    /// The ten new codes.
    pub recovery_codes: &'a [String],
    /// The upgraded session's token.
    pub token: String,
    /// Where "I have saved them" goes.
    pub onward: String,
}

/// After a binding: the recovery codes, shown once, and the upgraded session's cookie.
pub fn bound_page(page: &Page, bound: Bound<'_>) -> HttpResponse {
    let mut shown = recovery_codes_page(
        page,
        &bound.lang,
        bound.account,
        bound.recovery_codes,
        bound.onward,
    );
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
