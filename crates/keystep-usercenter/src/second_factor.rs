//! The second step of a sign-in: the TOTP code (`/login/mfa`), a recovery code
//! (`/login/recovery`), binding an authenticator when one is required and none is bound
//! (`/login/enroll`), and the lost-device request (`/login/lost`). Each page works on the
//! person of the current SSO session (the password step made it), upgrades the session on
//! success — replacing its token — and returns to `/oidc/auth/resume`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keystep_core::audit::{self, Actor, AuditKind, NewAuditEvent};
use keystep_core::mail::Mail;
use keystep_core::sessions::{self, Session};
use keystep_core::users::{self, User};
use keystep_core::Services;
use keystep_mfa::enrollment::{self, Confirmation};
use keystep_mfa::factors;
use keystep_mfa::recovery::{self, RecoveryCheck};
use keystep_mfa::reset::{self, EmailCodeCheck};
use keystep_mfa::totp::{self, TotpCheck};
use keystep_web::cookies::{self, CookieKind};
use keystep_web::csrf;
use keystep_web::interaction::Interaction;
use keystep_web::page::{self, PageError};
use keystep_web::request::ClientInfo;
use keystep_web::{run_blocking, run_read, run_write, AppState};
use serde::Deserialize;
use serde_json::{json, Value};

/// `?interaction=…`
#[derive(Debug, Deserialize)]
pub struct StepQuery {
    /// The pending interaction.
    #[serde(default)]
    pub interaction: String,
    /// Or, for the user center, where to go afterwards.
    #[serde(default)]
    pub next: String,
}

/// The forms of these pages.
#[derive(Debug, Deserialize)]
pub struct StepForm {
    /// CSRF token.
    #[serde(default)]
    pub csrf_token: String,
    /// The pending interaction.
    #[serde(default)]
    pub interaction: String,
    /// A TOTP code.
    #[serde(default)]
    pub code: String,
    /// A recovery code.
    #[serde(default)]
    pub recovery_code: String,
    /// A mailed code.
    #[serde(default)]
    pub email_code: String,
    /// `send` or `confirm` on the lost-device page.
    #[serde(default)]
    pub action: String,
    /// Where to go afterwards (user center paths only).
    #[serde(default)]
    pub next: String,
}

/// Who is signing in, and for what.
struct Context {
    session: Session,
    user: User,
    interaction: Option<Interaction>,
    next: Option<String>,
}

async fn context(
    state: &AppState,
    req: &HttpRequest,
    interaction_id: String,
    next: &str,
) -> Result<Context, PageError> {
    let next = crate::login::safe_next(Some(next));
    let token = cookies::read(req, CookieKind::Session, state.https);
    let found = run_write(state, move |services, conn| {
        let lifetimes = services.config.session_lifetimes();
        let session = match token {
            Some(token) => sessions::find_live(conn, services.clock.as_ref(), &lifetimes, &token)?,
            None => None,
        };
        let Some(session) = session else {
            return Ok(None);
        };
        let Some(user) = users::find_by_id(conn, &session.user_id)?.filter(|u| !u.disabled) else {
            return Ok(None);
        };
        let interaction = if interaction_id.is_empty() {
            None
        } else {
            Interaction::load(services.ephemeral.as_ref(), &interaction_id)?
        };
        Ok(Some(Context {
            session,
            user,
            interaction,
            next,
        }))
    })
    .await
    .map_err(PageError::from)?;
    found.ok_or_else(|| PageError::new(StatusCode::BAD_REQUEST, "mfa.no_session"))
}

fn resume_url(state: &AppState, ctx: &Context) -> String {
    match &ctx.interaction {
        Some(i) => state.url(&format!("/oidc/auth/resume?interaction={}", i.id)),
        None => state.url(ctx.next.as_deref().unwrap_or("/u")),
    }
}

/// The query that keeps a page in its flow: `interaction=…` or `next=…`.
fn step_query(ctx: &Context) -> String {
    match (&ctx.interaction, &ctx.next) {
        (Some(i), _) => format!("interaction={}", i.id),
        (None, Some(next)) => format!("next={}", next.replace('/', "%2F")),
        (None, None) => String::new(),
    }
}

fn lang(state: &AppState, req: &HttpRequest, ctx: &Context) -> String {
    page::lang(
        state,
        req,
        ctx.interaction
            .as_ref()
            .and_then(|i| i.ui_locales.as_deref()),
    )
}

fn with_csrf(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    template: &str,
    lang: &str,
    mut context: Value,
) -> HttpResponse {
    let token = csrf::issue(req, state.https);
    context["csrf_token"] = json!(token.token);
    let mut response = page::render(state, status, template, lang, context);
    if let Some(cookie) = token.cookie {
        let _ = response.add_cookie(&cookie);
    }
    response
}

fn interaction_id(ctx: &Context) -> String {
    ctx.interaction
        .as_ref()
        .map(|i| i.id.clone())
        .unwrap_or_default()
}

fn event<'a>(
    kind: AuditKind,
    user_id: &'a str,
    info: &'a ClientInfo,
    client_id: Option<&'a str>,
) -> NewAuditEvent<'a> {
    let mut event = NewAuditEvent::new(Actor::User(user_id.to_owned()), kind, Some(user_id));
    event.ip = info.ip.as_deref();
    event.user_agent = info.user_agent.as_deref();
    event.client_id = client_id;
    event
}

fn time_of_day(unix: i64) -> String {
    let of_day = unix.rem_euclid(86_400);
    format!("{:02}:{:02}", of_day / 3600, (of_day % 3600) / 60)
}

/// Sets the upgraded session's cookie on a response.
fn with_session(state: &AppState, mut response: HttpResponse, token: String) -> HttpResponse {
    let _ = response.add_cookie(&cookies::build(CookieKind::Session, token, state.https));
    response
}

fn see_other(location: String) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// What a code attempt came to.
enum CodeOutcome {
    /// Verified: the new session token, and for recovery codes how many remain.
    Verified {
        token: String,
        remaining: Option<i64>,
    },
    /// Wrong code (or replayed).
    Wrong,
    /// Locked until this Unix second.
    Locked(i64),
}

/// Checks a TOTP or recovery code with the throttle, records the outcome, upgrades the session.
async fn attempt(
    state: &AppState,
    req: &HttpRequest,
    ctx: &Context,
    code: String,
    recovery_code: bool,
) -> Result<CodeOutcome, PageError> {
    let info = ClientInfo::from_request(req);
    let session_id = ctx.session.id.clone();
    let user_id = ctx.user.id.clone();
    let client_id = ctx.interaction.as_ref().map(|i| i.client_id.clone());
    run_write(state, move |services, conn| {
        let clock = services.clock.as_ref();
        if let Some(until) = factors::locked_until(services, &user_id)? {
            return Ok(CodeOutcome::Locked(until));
        }
        let (accepted, remaining, method) = if recovery_code {
            match recovery::spend(services, conn, &user_id, &code)? {
                RecoveryCheck::Accepted { remaining } => (true, Some(remaining), "recovery_code"),
                RecoveryCheck::Wrong => (false, None, "recovery_code"),
            }
        } else {
            match totp::verify(services, conn, &user_id, &code)? {
                TotpCheck::Accepted => (true, None, "totp"),
                TotpCheck::Replayed => {
                    tracing::warn!(user_id = %user_id, "TOTP code replayed");
                    (false, None, "totp")
                }
                TotpCheck::Wrong => (false, None, "totp"),
            }
        };
        if !accepted {
            let mut failed = event(AuditKind::SecondFactorFailed, &user_id, &info, client_id.as_deref());
            failed.detail = json!({"method": method});
            audit::record(conn, clock, &failed)?;
            if let Some(until) = factors::record_failure(services, &user_id)? {
                tracing::warn!(user_id = %user_id, "second factor locked after too many wrong codes");
                audit::record(conn, clock, &event(AuditKind::SecondFactorLocked, &user_id, &info, client_id.as_deref()))?;
                return Ok(CodeOutcome::Locked(until));
            }
            return Ok(CodeOutcome::Wrong);
        }
        factors::reset_failures(services, &user_id)?;
        let (_, token) = sessions::record_second_factor(conn, clock, &session_id, method)?;
        let mut verified = event(AuditKind::SecondFactorVerified, &user_id, &info, client_id.as_deref());
        verified.detail = json!({"method": method});
        audit::record(conn, clock, &verified)?;
        if let Some(left) = remaining {
            let mut used = event(AuditKind::RecoveryCodeUsed, &user_id, &info, client_id.as_deref());
            used.detail = json!({"remaining": left});
            audit::record(conn, clock, &used)?;
        }
        Ok(CodeOutcome::Verified { token, remaining })
    })
    .await
    .map_err(PageError::from)
}

/// `GET /login/mfa`
pub async fn get_mfa(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<StepQuery>,
) -> HttpResponse {
    match context(&state, &req, query.interaction.clone(), &query.next).await {
        Ok(ctx) => mfa_page(&state, &req, &ctx, StatusCode::OK, None),
        Err(e) => page::error_page(&state, &req, &e),
    }
}

fn mfa_page(
    state: &AppState,
    req: &HttpRequest,
    ctx: &Context,
    status: StatusCode,
    error: Option<String>,
) -> HttpResponse {
    step_page(state, req, ctx, "mfa", status, error)
}

/// The code pages (`mfa`, `recovery`) share their context.
fn step_page(
    state: &AppState,
    req: &HttpRequest,
    ctx: &Context,
    template: &str,
    status: StatusCode,
    error: Option<String>,
) -> HttpResponse {
    let lang = lang(state, req, ctx);
    let context = json!({
        "interaction": interaction_id(ctx),
        "next": ctx.next.clone().unwrap_or_default(),
        "step_query": step_query(ctx),
        "account": ctx.user.username,
        "error": error,
    });
    with_csrf(state, req, status, template, &lang, context)
}

/// The page again after a refused code: wrong, or locked until when.
fn refused(
    state: &AppState,
    req: &HttpRequest,
    ctx: &Context,
    template: &str,
    locked_until: Option<i64>,
    wrong_key: &str,
) -> HttpResponse {
    let lang = lang(state, req, ctx);
    match locked_until {
        Some(until) => {
            let message =
                page::message(state, &lang, "mfa.locked", &[("time", &time_of_day(until))]);
            step_page(
                state,
                req,
                ctx,
                template,
                StatusCode::TOO_MANY_REQUESTS,
                Some(message),
            )
        }
        None => step_page(
            state,
            req,
            ctx,
            template,
            StatusCode::UNAUTHORIZED,
            Some(page::message(state, &lang, wrong_key, &[])),
        ),
    }
}

/// `POST /login/mfa`
pub async fn post_mfa(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<StepForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let ctx = match context(&state, &req, form.interaction.clone(), &form.next).await {
        Ok(ctx) => ctx,
        Err(e) => return page::error_page(&state, &req, &e),
    };
    let lang = lang(&state, &req, &ctx);
    if !csrf::verify(&req, state.https, &form.csrf_token) {
        return mfa_page(
            &state,
            &req,
            &ctx,
            StatusCode::BAD_REQUEST,
            Some(page::message(&state, &lang, "login.csrf", &[])),
        );
    }
    match attempt(&state, &req, &ctx, form.code, false).await {
        Err(e) => page::error_page(&state, &req, &e),
        Ok(CodeOutcome::Verified { token, .. }) => {
            with_session(&state, see_other(resume_url(&state, &ctx)), token)
        }
        Ok(CodeOutcome::Wrong) => refused(&state, &req, &ctx, "mfa", None, "mfa.wrong"),
        Ok(CodeOutcome::Locked(until)) => {
            refused(&state, &req, &ctx, "mfa", Some(until), "mfa.wrong")
        }
    }
}

/// `GET /login/recovery`
pub async fn get_recovery(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<StepQuery>,
) -> HttpResponse {
    match context(&state, &req, query.interaction.clone(), &query.next).await {
        Ok(ctx) => recovery_page(&state, &req, &ctx, StatusCode::OK, None),
        Err(e) => page::error_page(&state, &req, &e),
    }
}

fn recovery_page(
    state: &AppState,
    req: &HttpRequest,
    ctx: &Context,
    status: StatusCode,
    error: Option<String>,
) -> HttpResponse {
    step_page(state, req, ctx, "recovery", status, error)
}

/// `POST /login/recovery`
pub async fn post_recovery(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<StepForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let ctx = match context(&state, &req, form.interaction.clone(), &form.next).await {
        Ok(ctx) => ctx,
        Err(e) => return page::error_page(&state, &req, &e),
    };
    let lang = lang(&state, &req, &ctx);
    if !csrf::verify(&req, state.https, &form.csrf_token) {
        return recovery_page(
            &state,
            &req,
            &ctx,
            StatusCode::BAD_REQUEST,
            Some(page::message(&state, &lang, "login.csrf", &[])),
        );
    }
    match attempt(&state, &req, &ctx, form.recovery_code, true).await {
        Err(e) => page::error_page(&state, &req, &e),
        Ok(CodeOutcome::Verified { token, remaining }) => {
            let remaining = remaining.unwrap_or(0);
            let mut paragraphs = vec![page::message(
                &state,
                &lang,
                "recovery.used_body",
                &[("remaining", &remaining.to_string())],
            )];
            if remaining <= 3 {
                paragraphs.push(page::message(&state, &lang, "recovery.used_low", &[]));
            }
            let context = json!({
                "title": page::message(&state, &lang, "recovery.used_title", &[]),
                "heading": page::message(&state, &lang, "recovery.used_title", &[]),
                "paragraphs": paragraphs,
                "notice": null,
                "alert": null,
                "link_href": resume_url(&state, &ctx),
                "link_text": page::message(&state, &lang, "recovery.continue", &[]),
            });
            with_session(
                &state,
                page::render(&state, StatusCode::OK, "message", &lang, context),
                token,
            )
        }
        Ok(CodeOutcome::Wrong) => refused(&state, &req, &ctx, "recovery", None, "recovery.wrong"),
        Ok(CodeOutcome::Locked(until)) => refused(
            &state,
            &req,
            &ctx,
            "recovery",
            Some(until),
            "recovery.wrong",
        ),
    }
}

/// Whether binding an authenticator is what this sign-in asked for: enrollment at sign-in is
/// on, the person has no second factor yet, and the protocol sent them to this step (or, from
/// the user center, the global policy requires a second factor). Anything else must go
/// through the user center, which asks for a recent password and a mailed code first.
async fn enrollment_demanded(state: &AppState, ctx: &Context) -> Result<bool, PageError> {
    let config = &state.services.config;
    if !config.mfa.enroll_at_login {
        return Ok(false);
    }
    let asked = match &ctx.interaction {
        Some(i) => i.pending_step.as_deref() == Some("enrollment"),
        None => config.mfa.policy == keystep_core::config::MfaPolicyConfig::Required,
    };
    if !asked {
        return Ok(false);
    }
    let user_id = ctx.user.id.clone();
    let has = run_read(state, move |_, conn| {
        Ok(factors::status(conn, &user_id)?.has_second_factor())
    })
    .await
    .map_err(PageError::from)?;
    Ok(!has)
}

fn enrollment_refused() -> PageError {
    PageError::new(StatusCode::FORBIDDEN, "enroll_refused.not_needed")
}

/// `GET /login/enroll`
pub async fn get_enroll(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<StepQuery>,
) -> HttpResponse {
    let ctx = match context(&state, &req, query.interaction.clone(), &query.next).await {
        Ok(ctx) => ctx,
        Err(e) => return page::error_page(&state, &req, &e),
    };
    match enrollment_demanded(&state, &ctx).await {
        Ok(true) => enroll_page(&state, &req, &ctx, StatusCode::OK, None).await,
        Ok(false) => page::error_page(&state, &req, &enrollment_refused()),
        Err(e) => page::error_page(&state, &req, &e),
    }
}

async fn enroll_page(
    state: &AppState,
    req: &HttpRequest,
    ctx: &Context,
    status: StatusCode,
    error: Option<String>,
) -> HttpResponse {
    let subject = ctx.session.id.clone();
    let account = ctx.user.username.clone();
    let view = match run_blocking(state, move |services| {
        enrollment::start(services, &subject, &account)
    })
    .await
    {
        Ok(view) => view,
        Err(e) => return page::error_page(state, req, &PageError::from(e)),
    };
    let lang = lang(state, req, ctx);
    let context = json!({
        "interaction": interaction_id(ctx), "next": ctx.next.clone().unwrap_or_default(), "step_query": step_query(ctx),
        "client_name": match &ctx.interaction {
            Some(i) => i.client_name.clone(),
            // From the user center: "Your account asks for a second step…".
            None => page::message(state, &lang, "u.title", &[]),
        },
        "qr_data_uri": view.qr_data_uri,
        "secret_text": view.secret_text,
        "otpauth_uri": view.otpauth_uri,
        "action": "/login/enroll",
        "error": error,
    });
    with_csrf(state, req, status, "enroll", &lang, context)
}

/// The recovery codes page, shown once after binding.
pub fn recovery_codes_page(
    state: &AppState,
    lang: &str,
    account: &str,
    codes: &[String],
    continue_href: String,
) -> HttpResponse {
    let heading = page::message(state, lang, "codes.file_heading", &[("account", account)]);
    let file = format!("{heading}\n\n{}\n", codes.join("\n"));
    let context = json!({
        "codes": codes,
        "download_href": format!("data:text/plain;charset=utf-8;base64,{}", STANDARD.encode(file)),
        "continue_href": continue_href,
    });
    page::render(state, StatusCode::OK, "recovery_codes", lang, context)
}

/// Tells the person by mail that a second factor was bound to their account. Called after the
/// binding has committed (a slow relay must not hold the write lock): the binding stands
/// whatever the relay does, so a failure is logged, not returned.
pub fn mail_bound(services: &Services, user: &User) {
    let sent = services.mailer.send(&Mail {
        to: user.email.clone(),
        subject: "Two-step verification is on for your keystep account".into(),
        body: format!(
            "Hello {},\n\nAn authenticator app was bound to your keystep account; signing in now asks for its code. If this was not you, contact your administrator at once.\n",
            user.display_name
        ),
    });
    if let Err(e) = sent {
        tracing::warn!(error = %e, "could not mail that a second factor was bound");
    }
}

/// `POST /login/enroll`
pub async fn post_enroll(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<StepForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let ctx = match context(&state, &req, form.interaction.clone(), &form.next).await {
        Ok(ctx) => ctx,
        Err(e) => return page::error_page(&state, &req, &e),
    };
    match enrollment_demanded(&state, &ctx).await {
        Ok(true) => {}
        Ok(false) => return page::error_page(&state, &req, &enrollment_refused()),
        Err(e) => return page::error_page(&state, &req, &e),
    }
    let lang = lang(&state, &req, &ctx);
    if !csrf::verify(&req, state.https, &form.csrf_token) {
        return enroll_page(
            &state,
            &req,
            &ctx,
            StatusCode::BAD_REQUEST,
            Some(page::message(&state, &lang, "login.csrf", &[])),
        )
        .await;
    }
    let info = ClientInfo::from_request(&req);
    let session_id = ctx.session.id.clone();
    let user = ctx.user.clone();
    let client_id = ctx.interaction.as_ref().map(|i| i.client_id.clone());
    let code = form.code;
    let result = run_blocking(&state, move |services| {
        let outcome = services.db.write(|conn| {
            // Someone who already has a second factor proves it; binding a new one is /u's job.
            if factors::status(conn, &user.id)?.has_second_factor() {
                return Ok((Confirmation::Expired, None));
            }
            let confirmation = enrollment::confirm(services, conn, &session_id, &user.id, &code)?;
            let token = if let Confirmation::Bound { .. } = &confirmation {
                let (_, token) = sessions::record_second_factor(
                    conn,
                    services.clock.as_ref(),
                    &session_id,
                    "totp",
                )?;
                audit::record(
                    conn,
                    services.clock.as_ref(),
                    &event(
                        AuditKind::MfaEnrolled,
                        &user.id,
                        &info,
                        client_id.as_deref(),
                    ),
                )?;
                Some(token)
            } else {
                None
            };
            Ok((confirmation, token))
        })?;
        if let (Confirmation::Bound { .. }, Some(_)) = &outcome {
            mail_bound(services, &user);
        }
        Ok(outcome)
    })
    .await;
    match result {
        Err(e) => page::error_page(&state, &req, &PageError::from(e)),
        Ok((Confirmation::Bound { recovery_codes }, Some(token))) => {
            let page = recovery_codes_page(
                &state,
                &lang,
                &ctx.user.username,
                &recovery_codes,
                resume_url(&state, &ctx),
            );
            with_session(&state, page, token)
        }
        Ok((Confirmation::Wrong, _)) => {
            enroll_page(
                &state,
                &req,
                &ctx,
                StatusCode::UNAUTHORIZED,
                Some(page::message(&state, &lang, "enroll.wrong", &[])),
            )
            .await
        }
        Ok(_) => {
            enroll_page(
                &state,
                &req,
                &ctx,
                StatusCode::BAD_REQUEST,
                Some(page::message(&state, &lang, "enroll.expired", &[])),
            )
            .await
        }
    }
}

/// `GET /login/lost`
pub async fn get_lost(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<StepQuery>,
) -> HttpResponse {
    match context(&state, &req, query.interaction.clone(), &query.next).await {
        Ok(ctx) => lost_page(&state, &req, &ctx, StatusCode::OK, false, None),
        Err(e) => page::error_page(&state, &req, &e),
    }
}

fn lost_page(
    state: &AppState,
    req: &HttpRequest,
    ctx: &Context,
    status: StatusCode,
    sent: bool,
    error: Option<String>,
) -> HttpResponse {
    let lang = lang(state, req, ctx);
    with_csrf(
        state,
        req,
        status,
        "lost",
        &lang,
        json!({"interaction": interaction_id(ctx), "next": ctx.next.clone().unwrap_or_default(), "step_query": step_query(ctx), "sent": sent, "error": error}),
    )
}

/// `POST /login/lost`: `action=send` mails a code; `action=confirm` checks it and files the
/// request.
pub async fn post_lost(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<StepForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let ctx = match context(&state, &req, form.interaction.clone(), &form.next).await {
        Ok(ctx) => ctx,
        Err(e) => return page::error_page(&state, &req, &e),
    };
    let lang = lang(&state, &req, &ctx);
    if !csrf::verify(&req, state.https, &form.csrf_token) {
        return lost_page(
            &state,
            &req,
            &ctx,
            StatusCode::BAD_REQUEST,
            false,
            Some(page::message(&state, &lang, "login.csrf", &[])),
        );
    }
    let subject = ctx.session.id.clone();
    let user = ctx.user.clone();
    if form.action != "confirm" {
        let sent = run_blocking(&state, move |services| {
            reset::send_email_code(
                services,
                &subject,
                &user,
                "reset the second factor of your keystep account",
            )
        })
        .await;
        return match sent {
            Ok(true) => lost_page(&state, &req, &ctx, StatusCode::OK, true, None),
            Ok(false) => {
                let message = page::message(&state, &lang, "mail_limit.too_many", &[]);
                lost_page(
                    &state,
                    &req,
                    &ctx,
                    StatusCode::TOO_MANY_REQUESTS,
                    true,
                    Some(message),
                )
            }
            Err(e) => page::error_page(&state, &req, &PageError::from(e)),
        };
    }
    let info = ClientInfo::from_request(&req);
    let code = form.email_code;
    let result = run_write(&state, move |services, conn| match reset::check_email_code(
        services, &subject, &code,
    )? {
        EmailCodeCheck::Accepted => {
            let request = reset::file(
                services,
                conn,
                &user.id,
                info.ip.as_deref(),
                info.user_agent.as_deref(),
            )?;
            Ok(Ok(request.id))
        }
        other => Ok(Err(other)),
    })
    .await;
    match result {
        Err(e) => page::error_page(&state, &req, &PageError::from(e)),
        Ok(Ok(id)) => {
            let context = json!({
                "title": page::message(&state, &lang, "lost.filed_title", &[]),
                "heading": page::message(&state, &lang, "lost.filed_title", &[]),
                "paragraphs": [page::message(&state, &lang, "lost.filed_body", &[("id", &id)])],
                "notice": null,
                "alert": null,
                "link_href": null,
                "link_text": null,
            });
            page::render(&state, StatusCode::OK, "message", &lang, context)
        }
        Ok(Err(EmailCodeCheck::Locked(until))) => {
            let message = page::message(
                &state,
                &lang,
                "lost.locked",
                &[("time", &time_of_day(until))],
            );
            lost_page(
                &state,
                &req,
                &ctx,
                StatusCode::TOO_MANY_REQUESTS,
                true,
                Some(message),
            )
        }
        Ok(Err(_)) => lost_page(
            &state,
            &req,
            &ctx,
            StatusCode::UNAUTHORIZED,
            true,
            Some(page::message(&state, &lang, "lost.wrong", &[])),
        ),
    }
}
