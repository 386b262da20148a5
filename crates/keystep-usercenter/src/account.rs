//! The user center (`/u`): where people manage their own security — overview, binding,
//! replacing and removing their authenticator, recovery codes, password, sessions and their
//! security log. It uses the same SSO session and hosted login as any relying party; what a
//! visit needs (password, second factor, enrollment) is decided by the same step-up rules.
//! Changing sign-in settings asks for a password entered within the last five minutes.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keystep_core::audit::{self, Actor, AuditKind, NewAuditEvent};
use keystep_core::config::MfaPolicyConfig;
use keystep_core::mail::Mail;
use keystep_core::sessions::{self, Session};
use keystep_core::users::{self, User};
use keystep_core::{Error, Services};
use keystep_mfa::enrollment::{self, Confirmation};
use keystep_mfa::factors;
use keystep_mfa::recovery::{self, RecoveryCheck};
use keystep_mfa::reset::{self, EmailCodeCheck};
use keystep_mfa::stepup::{self, Decision, SessionState, Situation, Step};
use keystep_mfa::totp::{self, TotpCheck};
use keystep_web::cookies::{self, CookieKind};
use keystep_web::csrf;
use keystep_web::page::{self, PageError};
use keystep_web::request::ClientInfo;
use keystep_web::{run_blocking, run_read, run_write, AppState};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::second_factor::{mail_bound, recovery_codes_page};

/// How recent a password must be to change sign-in settings.
const RECENT_SECONDS: i64 = 5 * 60;
/// Marks a session whose mail address was just confirmed for binding.
fn email_ok_key(session_id: &str) -> String {
    format!("u-bind-email-ok:{session_id}")
}

/// The person at the user center.
struct Visitor {
    session: Session,
    user: User,
    token: String,
}

/// Where a visit goes.
enum Access {
    /// In.
    Granted(Box<Visitor>),
    /// Somewhere first.
    Redirect(String),
    /// Nowhere: the rules cannot be met here.
    Refused(PageError),
}

/// Reads the session and applies the step-up rules as for a relying party with no demands.
async fn access(state: &AppState, req: &HttpRequest, path: &str) -> Result<Access, PageError> {
    let token = cookies::read(req, CookieKind::Session, state.https);
    let path = path.to_owned();
    run_write(state, move |services, conn| {
        let lifetimes = services.config.session_lifetimes();
        let now = services.clock.now();
        let found = match &token {
            Some(token) => sessions::find_live(conn, services.clock.as_ref(), &lifetimes, token)?,
            None => None,
        };
        let user = match &found {
            Some(s) => users::find_by_id(conn, &s.user_id)?.filter(|u| !u.disabled),
            None => None,
        };
        let has_second_factor = match &user {
            Some(u) => factors::status(conn, &u.id)?.has_second_factor(),
            None => false,
        };
        let situation = Situation {
            global: services.config.mfa.policy,
            client_requires_mfa: false,
            requested: None,
            login_mode: services.config.mfa.login,
            enroll_at_login: services.config.mfa.enroll_at_login,
            session: found
                .as_ref()
                .filter(|_| user.is_some())
                .map(|s| SessionState {
                    level: s.aal(now, &lifetimes),
                    fresh: true,
                }),
            has_second_factor,
            prompt_none: false,
        };
        let next = format!("next={}", path.replace('/', "%2F"));
        Ok(match (stepup::decide(&situation), found, user, token) {
            (Decision::Issue(_), Some(session), Some(user), Some(token)) => {
                Access::Granted(Box::new(Visitor {
                    session,
                    user,
                    token,
                }))
            }
            (Decision::Ask(Step::SecondFactor), ..) => {
                Access::Redirect(format!("/login/mfa?{next}"))
            }
            (Decision::Ask(Step::Enrollment), ..) => {
                Access::Redirect(format!("/login/enroll?{next}"))
            }
            (Decision::Fail("unmet_authentication_requirements"), ..) => {
                Access::Refused(PageError::new(StatusCode::FORBIDDEN, "u_access.unmet"))
            }
            _ => Access::Redirect(format!("/login?{next}")),
        })
    })
    .await
    .map_err(PageError::from)
}

fn see_other(state: &AppState, path: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", state.url(path)))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// Runs `page` for a visitor, or sends them where they must go first.
macro_rules! visitor {
    ($state:expr, $req:expr, $path:expr) => {
        match access(&$state, &$req, $path).await {
            Ok(Access::Granted(visitor)) => *visitor,
            Ok(Access::Redirect(location)) => return see_other(&$state, &location),
            Ok(Access::Refused(e)) => return page::error_page(&$state, &$req, &e),
            Err(e) => return page::error_page(&$state, &$req, &e),
        }
    };
}

fn render(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    template: &str,
    mut context: Value,
) -> HttpResponse {
    let lang = page::lang(state, req, None);
    let token = csrf::issue(req, state.https);
    context["csrf_token"] = json!(token.token);
    let mut response = page::render(state, status, template, &lang, context);
    if let Some(cookie) = token.cookie {
        let _ = response.add_cookie(&cookie);
    }
    response
}

fn msg(state: &AppState, req: &HttpRequest, key: &str, args: &[(&str, &str)]) -> String {
    let lang = page::lang(state, req, None);
    page::message(state, &lang, key, args)
}

/// "2026-11-24 14:05 UTC" for a Unix time.
pub fn date_time(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let of_day = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        of_day / 3600,
        (of_day % 3600) / 60
    )
}

/// "14:05" for a Unix time (the messages add "UTC").
fn time_of_day(unix: i64) -> String {
    let of_day = unix.rem_euclid(86_400);
    format!("{:02}:{:02}", of_day / 3600, (of_day % 3600) / 60)
}

/// "Firefox on Linux" from a User-Agent.
pub fn device_name(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent else {
        return "Unknown device".into();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map_or("Browser", |(_, name)| name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(marker, _)| ua.contains(marker))
    .map(|(_, name)| *name);
    match system {
        Some(system) => format!("{browser} on {system}"),
        None => browser.to_owned(),
    }
}

fn user_event<'a>(kind: AuditKind, user_id: &'a str, info: &'a ClientInfo) -> NewAuditEvent<'a> {
    let mut event = NewAuditEvent::new(Actor::User(user_id.to_owned()), kind, Some(user_id));
    event.ip = info.ip.as_deref();
    event.user_agent = info.user_agent.as_deref();
    event
}

/// `GET /u`
pub async fn get_overview(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<NoticeQuery>,
) -> HttpResponse {
    let visitor = visitor!(state, req, "/u");
    let user_id = visitor.user.id.clone();
    let facts = run_read(&state, move |_, conn| {
        let status = factors::status(conn, &user_id)?;
        let last = audit::list_for_user(conn, &user_id, 50)?
            .into_iter()
            .find(|e| e.event == "signed_in")
            .map(|e| e.occurred_at);
        Ok((status, last))
    })
    .await;
    let (status, last_sign_in) = match facts {
        Ok(f) => f,
        Err(e) => return page::error_page(&state, &req, &PageError::from(e)),
    };
    let notice = query.into_inner().done.and_then(|key| match key.as_str() {
        "bound" => Some(msg(&state, &req, "bind.done", &[])),
        "removed" => Some(msg(&state, &req, "remove.done", &[])),
        _ => None,
    });
    let context = json!({
        "name": visitor.user.display_name,
        "username": visitor.user.username,
        "email": visitor.user.email,
        "bound": status.totp_bound_at.is_some(),
        "bound_since": status.totp_bound_at.map(date_time),
        "codes_left": status.recovery_codes_left,
        "last_sign_in": last_sign_in.map(date_time),
        "notice": notice,
    });
    render(&state, &req, StatusCode::OK, "u_overview", context)
}

/// `?done=…` after an action.
#[derive(Debug, Deserialize)]
pub struct NoticeQuery {
    /// Which action finished.
    pub done: Option<String>,
}

/// `?next=…`
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    /// Where to go after re-entering the password.
    #[serde(default)]
    pub next: String,
}

/// The forms of the user center.
#[derive(Debug, Default, Deserialize)]
pub struct AccountForm {
    /// CSRF token.
    #[serde(default)]
    pub csrf_token: String,
    /// Which step of a multi-step form.
    #[serde(default)]
    pub action: String,
    /// Re-entered password.
    #[serde(default)]
    pub password: String,
    /// Where to go next.
    #[serde(default)]
    pub next: String,
    /// A mailed code.
    #[serde(default)]
    pub email_code: String,
    /// A TOTP or recovery code.
    #[serde(default)]
    pub code: String,
    /// Password change.
    #[serde(default)]
    pub current_password: String,
    /// Password change.
    #[serde(default)]
    pub new_password: String,
    /// Password change.
    #[serde(default)]
    pub confirm_password: String,
    /// Password change: sign out other sessions too.
    #[serde(default)]
    pub end_others: String,
    /// Sessions: which to end.
    #[serde(default)]
    pub session_id: String,
    /// Sessions: end all but this one.
    #[serde(default)]
    pub all_others: String,
}

/// What re-entering a password in the user center came to.
enum PasswordGuess {
    /// Right, with the person as verified: confirm it unchanged inside the write that acts on it.
    Right(Box<User>),
    Wrong,
    Locked(i64),
}

/// Checks a re-entered password under the same per-account throttle as the login page, and
/// records failures in the audit log.
fn guess_password(
    services: &Services,
    user: &User,
    password: &str,
    info: &ClientInfo,
) -> keystep_core::Result<PasswordGuess> {
    let store = services.ephemeral.as_ref();
    let clock = services.clock.as_ref();
    let limit = keystep_core::throttle::Limit {
        max_failures: services.config.login.max_failures_per_account,
        window: std::time::Duration::from_secs(services.config.login.failure_window_seconds),
    };
    // Counted before the hash, as on the login page, so guesses in flight cannot all pass.
    if let Some(until) = keystep_core::throttle::count_attempt(
        store,
        clock,
        "login-account",
        &user.username_normalized,
        limit,
    )? {
        return Ok(PasswordGuess::Locked(until));
    }
    match users::verify_password(
        &services.db,
        &services.passwords,
        clock,
        &user.username,
        password,
    ) {
        Ok(verified) => {
            keystep_core::throttle::reset(store, "login-account", &user.username_normalized)?;
            Ok(PasswordGuess::Right(Box::new(verified)))
        }
        Err(Error::InvalidCredentials | Error::UserDisabled) => {
            services.db.write(|conn| {
                audit::record(
                    conn,
                    clock,
                    &user_event(AuditKind::SignInFailed, &user.id, info),
                )
            })?;
            Ok(PasswordGuess::Wrong)
        }
        Err(e) => Err(e),
    }
}

/// True when the person already has a second factor but this session has not proven it
/// (aal1): replacing an authenticator then needs the current one first, so a stolen password
/// and mailbox cannot swap it out.
async fn replacing_without_second_factor(
    state: &AppState,
    visitor: &Visitor,
) -> Result<bool, PageError> {
    let now = state.services.clock.now();
    let lifetimes = state.services.config.session_lifetimes();
    if visitor.session.aal(now, &lifetimes) == keystep_core::sessions::Aal::Aal2 {
        return Ok(false);
    }
    let user_id = visitor.user.id.clone();
    run_read(state, move |_, conn| {
        Ok(factors::status(conn, &user_id)?.has_second_factor())
    })
    .await
    .map_err(PageError::from)
}

fn recent(visitor: &Visitor, services: &Services) -> bool {
    services.clock.now() - visitor.session.password_verified_at <= RECENT_SECONDS
}

/// `GET /u/reauth`
pub async fn get_reauth(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<NextQuery>,
) -> HttpResponse {
    let visitor = visitor!(state, req, "/u");
    let next = crate::login::safe_next(Some(&query.next)).unwrap_or_else(|| "/u".into());
    render(
        &state,
        &req,
        StatusCode::OK,
        "u_reauth",
        json!({"next": next, "username": visitor.user.username, "error": null}),
    )
}

/// `POST /u/reauth`
pub async fn post_reauth(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AccountForm>,
) -> HttpResponse {
    let visitor = visitor!(state, req, "/u");
    let form = form.into_inner();
    let next = crate::login::safe_next(Some(&form.next)).unwrap_or_else(|| "/u".into());
    let again = |status, key: &str| {
        render(
            &state,
            &req,
            status,
            "u_reauth",
            json!({"next": next, "username": visitor.user.username, "error": msg(&state, &req, key, &[])}),
        )
    };
    if !csrf::verify(&req, state.https, &form.csrf_token) {
        return again(StatusCode::BAD_REQUEST, "login.csrf");
    }
    let info = ClientInfo::from_request(&req);
    let user = visitor.user.clone();
    let token = visitor.token.clone();
    let result = run_blocking(&state, move |services| {
        match guess_password(services, &user, &form.password, &info)? {
            PasswordGuess::Right(verified) => services.db.write(|conn| {
                match users::confirm_unchanged(conn, &verified) {
                    Ok(()) => {}
                    Err(Error::InvalidCredentials | Error::UserDisabled) => {
                        return Ok(Err(PasswordGuess::Wrong))
                    }
                    Err(e) => return Err(e),
                }
                let lifetimes = services.config.session_lifetimes();
                let (_, token) = sessions::sign_in_with_password(
                    conn,
                    services.clock.as_ref(),
                    &lifetimes,
                    &user.id,
                    Some(&token),
                    info.device(),
                )?;
                Ok(Ok(token))
            }),
            other => Ok(Err(other)),
        }
    })
    .await;
    match result {
        Ok(Ok(token)) => {
            let mut response = see_other(&state, &next);
            let _ = response.add_cookie(&cookies::build(CookieKind::Session, token, state.https));
            response
        }
        Ok(Err(PasswordGuess::Locked(until))) => {
            let error = msg(
                &state,
                &req,
                "login.throttled",
                &[("time", &time_of_day(until))],
            );
            render(
                &state,
                &req,
                StatusCode::TOO_MANY_REQUESTS,
                "u_reauth",
                json!({"next": next, "username": visitor.user.username, "error": error}),
            )
        }
        Ok(Err(_)) => again(StatusCode::UNAUTHORIZED, "login.invalid"),
        Err(e) => page::error_page(&state, &req, &PageError::from(e)),
    }
}

/// `GET /u/mfa/bind`: recent password, then a mailed code, then the authenticator.
pub async fn get_bind(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let visitor = visitor!(state, req, "/u/mfa/bind");
    match replacing_without_second_factor(&state, &visitor).await {
        Ok(false) => {}
        Ok(true) => return see_other(&state, "/login/mfa?next=%2Fu%2Fmfa%2Fbind"),
        Err(e) => return page::error_page(&state, &req, &e),
    }
    if !recent(&visitor, &state.services) {
        return see_other(&state, "/u/reauth?next=%2Fu%2Fmfa%2Fbind");
    }
    bind_page(&state, &req, &visitor, StatusCode::OK, false, None).await
}

async fn bind_page(
    state: &AppState,
    req: &HttpRequest,
    visitor: &Visitor,
    status: StatusCode,
    sent: bool,
    error: Option<String>,
) -> HttpResponse {
    let session_id = visitor.session.id.clone();
    let user_id = visitor.user.id.clone();
    let account = visitor.user.username.clone();
    let facts = run_read(state, move |services, conn| {
        let replacing = factors::status(conn, &user_id)?.totp_bound_at.is_some();
        let email_ok = services
            .ephemeral
            .get(&email_ok_key(&session_id))?
            .is_some();
        let view = if email_ok {
            Some(enrollment::start(
                services,
                &format!("u:{session_id}"),
                &account,
            )?)
        } else {
            None
        };
        Ok((replacing, view))
    })
    .await;
    let (replacing, view) = match facts {
        Ok(f) => f,
        Err(e) => return page::error_page(state, req, &PageError::from(e)),
    };
    match view {
        None => render(
            state,
            req,
            status,
            "u_email",
            json!({"email": visitor.user.email, "sent": sent, "replacing": replacing, "error": error}),
        ),
        Some(view) => render(
            state,
            req,
            status,
            "enroll",
            json!({
                "interaction": "",
                "next": "",
                "step_query": "",
                "client_name": msg(state, req, "u.title", &[]),
                "qr_data_uri": view.qr_data_uri,
                "secret_text": view.secret_text,
                "otpauth_uri": view.otpauth_uri,
                "action": "/u/mfa/bind",
                "error": error,
            }),
        ),
    }
}

/// `POST /u/mfa/bind`: `action` is `send`, `verify_email`, or (with `code`) the confirmation.
pub async fn post_bind(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AccountForm>,
) -> HttpResponse {
    let visitor = visitor!(state, req, "/u/mfa/bind");
    let form = form.into_inner();
    match replacing_without_second_factor(&state, &visitor).await {
        Ok(false) => {}
        Ok(true) => return see_other(&state, "/login/mfa?next=%2Fu%2Fmfa%2Fbind"),
        Err(e) => return page::error_page(&state, &req, &e),
    }
    if !recent(&visitor, &state.services) {
        return see_other(&state, "/u/reauth?next=%2Fu%2Fmfa%2Fbind");
    }
    if !csrf::verify(&req, state.https, &form.csrf_token) {
        return bind_page(
            &state,
            &req,
            &visitor,
            StatusCode::BAD_REQUEST,
            false,
            Some(msg(&state, &req, "login.csrf", &[])),
        )
        .await;
    }
    let session_id = visitor.session.id.clone();
    let user = visitor.user.clone();
    let info = ClientInfo::from_request(&req);
    match form.action.as_str() {
        "send" => {
            let sent = run_blocking(&state, move |services| {
                reset::send_email_code(
                    services,
                    &format!("u:{session_id}"),
                    &user,
                    "set up two-step verification for your keystep account",
                )
            })
            .await;
            match sent {
                Ok(true) => bind_page(&state, &req, &visitor, StatusCode::OK, true, None).await,
                Ok(false) => {
                    bind_page(
                        &state,
                        &req,
                        &visitor,
                        StatusCode::TOO_MANY_REQUESTS,
                        true,
                        Some(msg(&state, &req, "mail_limit.too_many", &[])),
                    )
                    .await
                }
                Err(e) => page::error_page(&state, &req, &PageError::from(e)),
            }
        }
        "verify_email" => {
            let code = form.email_code;
            let checked = run_blocking(&state, move |services| {
                let check = reset::check_email_code(services, &format!("u:{session_id}"), &code)?;
                if check == EmailCodeCheck::Accepted {
                    services
                        .ephemeral
                        .put(&email_ok_key(&session_id), b"1", enrollment::TTL)?;
                }
                Ok(check)
            })
            .await;
            match checked {
                Ok(EmailCodeCheck::Accepted) => {
                    bind_page(&state, &req, &visitor, StatusCode::OK, false, None).await
                }
                Ok(_) => {
                    bind_page(
                        &state,
                        &req,
                        &visitor,
                        StatusCode::UNAUTHORIZED,
                        true,
                        Some(msg(&state, &req, "bind.wrong_email_code", &[])),
                    )
                    .await
                }
                Err(e) => page::error_page(&state, &req, &PageError::from(e)),
            }
        }
        _ => {
            let code = form.code;
            let confirmed = run_blocking(&state, move |services| {
                let outcome = services.db.write(|conn| {
                    if services
                        .ephemeral
                        .get(&email_ok_key(&session_id))?
                        .is_none()
                    {
                        return Ok((Confirmation::Expired, None));
                    }
                    let confirmation = enrollment::confirm(
                        services,
                        conn,
                        &format!("u:{session_id}"),
                        &user.id,
                        &code,
                    )?;
                    let token = if let Confirmation::Bound { .. } = &confirmation {
                        services.ephemeral.delete(&email_ok_key(&session_id))?;
                        let (_, token) = sessions::record_second_factor(
                            conn,
                            services.clock.as_ref(),
                            &session_id,
                            "totp",
                        )?;
                        audit::record(
                            conn,
                            services.clock.as_ref(),
                            &user_event(AuditKind::MfaEnrolled, &user.id, &info),
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
            match confirmed {
                Ok((Confirmation::Bound { recovery_codes }, Some(token))) => {
                    let lang = page::lang(&state, &req, None);
                    let mut response = recovery_codes_page(
                        &state,
                        &lang,
                        &visitor.user.username,
                        &recovery_codes,
                        state.url("/u?done=bound"),
                    );
                    let _ = response.add_cookie(&cookies::build(
                        CookieKind::Session,
                        token,
                        state.https,
                    ));
                    response
                }
                Ok((Confirmation::Wrong, _)) => {
                    bind_page(
                        &state,
                        &req,
                        &visitor,
                        StatusCode::UNAUTHORIZED,
                        false,
                        Some(msg(&state, &req, "enroll.wrong", &[])),
                    )
                    .await
                }
                Ok(_) => {
                    bind_page(
                        &state,
                        &req,
                        &visitor,
                        StatusCode::BAD_REQUEST,
                        false,
                        Some(msg(&state, &req, "enroll.expired", &[])),
                    )
                    .await
                }
                Err(e) => page::error_page(&state, &req, &PageError::from(e)),
            }
        }
    }
}

/// Checks a current TOTP code, or else a recovery code, under the second-factor throttle.
fn current_code(
    services: &Services,
    conn: &mut keystep_core::db::DbConn,
    user_id: &str,
    code: &str,
    accept_recovery: bool,
    info: &ClientInfo,
) -> keystep_core::Result<Result<(), Option<i64>>> {
    if let Some(until) = factors::locked_until(services, user_id)? {
        return Ok(Err(Some(until)));
    }
    let ok = totp::verify(services, conn, user_id, code)? == TotpCheck::Accepted
        || (accept_recovery
            && matches!(
                recovery::spend(services, conn, user_id, code)?,
                RecoveryCheck::Accepted { .. }
            ));
    if ok {
        factors::reset_failures(services, user_id)?;
        return Ok(Ok(()));
    }
    let locked = factors::record_failure(services, user_id)?;
    audit::record(
        conn,
        services.clock.as_ref(),
        &user_event(AuditKind::SecondFactorFailed, user_id, info),
    )?;
    if locked.is_some() {
        audit::record(
            conn,
            services.clock.as_ref(),
            &user_event(AuditKind::SecondFactorLocked, user_id, info),
        )?;
    }
    Ok(Err(locked))
}

fn code_page(
    state: &AppState,
    req: &HttpRequest,
    which: &str,
    status: StatusCode,
    error: Option<String>,
) -> HttpResponse {
    let (heading, body, label, submit, action, mandatory) = match which {
        "remove" => (
            msg(state, req, "remove.heading", &[]),
            msg(state, req, "remove.body", &[]),
            msg(state, req, "remove.code", &[]),
            msg(state, req, "remove.submit", &[]),
            "/u/mfa/remove",
            state.services.config.mfa.policy == MfaPolicyConfig::Required,
        ),
        _ => (
            msg(state, req, "regenerate.heading", &[]),
            msg(state, req, "regenerate.body", &[]),
            msg(state, req, "mfa.code", &[]),
            msg(state, req, "regenerate.submit", &[]),
            "/u/recovery-codes",
            false,
        ),
    };
    render(
        state,
        req,
        status,
        "u_code",
        json!({"heading": heading, "body": body, "label": label, "submit": submit, "action": action, "mandatory": mandatory, "error": error}),
    )
}

/// `GET /u/mfa/remove`
pub async fn get_remove(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let _visitor = visitor!(state, req, "/u/mfa/remove");
    code_page(&state, &req, "remove", StatusCode::OK, None)
}

fn code_error(state: &AppState, req: &HttpRequest, locked: Option<i64>) -> (StatusCode, String) {
    match locked {
        Some(until) => (
            StatusCode::TOO_MANY_REQUESTS,
            msg(state, req, "mfa.locked", &[("time", &time_of_day(until))]),
        ),
        None => (
            StatusCode::UNAUTHORIZED,
            msg(state, req, "remove.wrong", &[]),
        ),
    }
}

/// `POST /u/mfa/remove`
pub async fn post_remove(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AccountForm>,
) -> HttpResponse {
    let visitor = visitor!(state, req, "/u/mfa/remove");
    let form = form.into_inner();
    if !csrf::verify(&req, state.https, &form.csrf_token) {
        return code_page(
            &state,
            &req,
            "remove",
            StatusCode::BAD_REQUEST,
            Some(msg(&state, &req, "login.csrf", &[])),
        );
    }
    let info = ClientInfo::from_request(&req);
    let user = visitor.user.clone();
    let result = run_blocking(&state, move |services| {
        let outcome = services.db.write(|conn| {
        if let Err(locked) = current_code(services, conn, &user.id, &form.code, true, &info)? {
            return Ok(Err(locked));
        }
        factors::remove_all(conn, &user.id)?;
        audit::record(conn, services.clock.as_ref(), &user_event(AuditKind::MfaRemoved, &user.id, &info))?;
        Ok(Ok(()))
        })?;
        // Sent after the commit: a slow or failing relay must not hold the write lock, and
        // the change stands either way.
        if outcome.is_ok() {
            let mail = Mail {
                to: user.email.clone(),
                subject: "Two-step verification is off for your keystep account".into(),
                body: format!("Hello {},\n\nTwo-step verification was turned off for your keystep account; signing in now needs only your password. If this was not you, change your password and contact your administrator at once.\n", user.display_name),
            };
            if let Err(e) = services.mailer.send(&mail) {
                tracing::warn!(error = %e, "could not mail that two-step verification was turned off");
            }
        }
        Ok(outcome)
    })
    .await;
    match result {
        Ok(Ok(())) => see_other(&state, "/u?done=removed"),
        Ok(Err(locked)) => {
            let (status, error) = code_error(&state, &req, locked);
            code_page(&state, &req, "remove", status, Some(error))
        }
        Err(e) => page::error_page(&state, &req, &PageError::from(e)),
    }
}

/// `GET /u/recovery-codes`
pub async fn get_regenerate(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let _visitor = visitor!(state, req, "/u/recovery-codes");
    code_page(&state, &req, "regenerate", StatusCode::OK, None)
}

/// `POST /u/recovery-codes`: a current TOTP code makes ten new codes, shown once.
pub async fn post_regenerate(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AccountForm>,
) -> HttpResponse {
    let visitor = visitor!(state, req, "/u/recovery-codes");
    let form = form.into_inner();
    if !csrf::verify(&req, state.https, &form.csrf_token) {
        return code_page(
            &state,
            &req,
            "regenerate",
            StatusCode::BAD_REQUEST,
            Some(msg(&state, &req, "login.csrf", &[])),
        );
    }
    let info = ClientInfo::from_request(&req);
    let user_id = visitor.user.id.clone();
    let result = run_write(&state, move |services, conn| {
        // Only the authenticator: a recovery code must not mint ten new ones.
        if let Err(locked) = current_code(services, conn, &user_id, &form.code, false, &info)? {
            return Ok(Err(locked));
        }
        let codes = recovery::regenerate(services, conn, &user_id)?;
        audit::record(
            conn,
            services.clock.as_ref(),
            &user_event(AuditKind::RecoveryCodesRegenerated, &user_id, &info),
        )?;
        Ok(Ok(codes))
    })
    .await;
    match result {
        Ok(Ok(codes)) => {
            let lang = page::lang(&state, &req, None);
            recovery_codes_page(
                &state,
                &lang,
                &visitor.user.username,
                &codes,
                state.url("/u"),
            )
        }
        Ok(Err(locked)) => {
            let (status, error) = code_error(&state, &req, locked);
            code_page(&state, &req, "regenerate", status, Some(error))
        }
        Err(e) => page::error_page(&state, &req, &PageError::from(e)),
    }
}

fn password_page(
    state: &AppState,
    req: &HttpRequest,
    visitor: &Visitor,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    end_others: bool,
) -> HttpResponse {
    let context = json!({
        "username": visitor.user.username,
        "min_length": state.services.config.password.min_length,
        "notice": notice,
        "error": error,
        "end_others": end_others,
    });
    render(state, req, status, "u_password", context)
}

/// `GET /u/password`
pub async fn get_password(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let visitor = visitor!(state, req, "/u/password");
    password_page(&state, &req, &visitor, StatusCode::OK, None, None, false)
}

/// `POST /u/password`
pub async fn post_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AccountForm>,
) -> HttpResponse {
    let visitor = visitor!(state, req, "/u/password");
    let form = form.into_inner();
    let end_others = form.end_others == "1";
    let fail = |status, error: String| {
        password_page(
            &state,
            &req,
            &visitor,
            status,
            None,
            Some(error),
            end_others,
        )
    };
    if !csrf::verify(&req, state.https, &form.csrf_token) {
        return fail(
            StatusCode::BAD_REQUEST,
            msg(&state, &req, "login.csrf", &[]),
        );
    }
    if form.new_password != form.confirm_password {
        return fail(
            StatusCode::BAD_REQUEST,
            msg(&state, &req, "password.mismatch", &[]),
        );
    }
    let min = state.services.config.password.min_length;
    if form.new_password.chars().count() < min {
        return fail(
            StatusCode::BAD_REQUEST,
            msg(
                &state,
                &req,
                "password.too_short",
                &[("min", &min.to_string())],
            ),
        );
    }
    let info = ClientInfo::from_request(&req);
    let user = visitor.user.clone();
    let current_session = visitor.session.id.clone();
    let result = run_blocking(&state, move |services| {
        let clock = services.clock.as_ref();
        let verified = match guess_password(services, &user, &form.current_password, &info)? {
            PasswordGuess::Right(verified) => verified,
            PasswordGuess::Wrong => return Ok(Err(("password.wrong_current", None))),
            PasswordGuess::Locked(until) => return Ok(Err(("login.throttled", Some(until)))),
        };
        let password_hash = services.passwords.hash(&form.new_password)?;
        services.db.write(|conn| {
            // Changed meanwhile (another session, the CLI): the current password is not this.
            match users::confirm_unchanged(conn, &verified) {
                Ok(()) => {}
                Err(Error::InvalidCredentials | Error::UserDisabled) => {
                    return Ok(Err(("password.wrong_current", None)))
                }
                Err(e) => return Err(e),
            }
            users::set_password_hash(conn, clock, &user.id, &password_hash)?;
            if end_others {
                for session in sessions::list_for_user(conn, clock, &user.id)? {
                    if session.id != current_session {
                        sessions::end(conn, clock, &session.id)?;
                        let mut event = user_event(AuditKind::SessionEnded, &user.id, &info);
                        event.detail = json!({"session": session.id, "reason": "password changed"});
                        audit::record(conn, clock, &event)?;
                    }
                }
            }
            audit::record(
                conn,
                clock,
                &user_event(AuditKind::PasswordChanged, &user.id, &info),
            )?;
            Ok(Ok(()))
        })
    })
    .await;
    match result {
        Ok(Ok(())) => {
            let key = if end_others {
                "password.done_others"
            } else {
                "password.done"
            };
            password_page(
                &state,
                &req,
                &visitor,
                StatusCode::OK,
                Some(msg(&state, &req, key, &[])),
                None,
                false,
            )
        }
        Ok(Err((key, None))) => fail(StatusCode::UNAUTHORIZED, msg(&state, &req, key, &[])),
        Ok(Err((key, Some(until)))) => fail(
            StatusCode::TOO_MANY_REQUESTS,
            msg(&state, &req, key, &[("time", &time_of_day(until))]),
        ),
        Err(keystep_web::WebError::Domain(Error::Invalid { reason, .. })) => {
            fail(StatusCode::BAD_REQUEST, reason)
        }
        Err(e) => page::error_page(&state, &req, &PageError::from(e)),
    }
}

async fn sessions_page(
    state: &AppState,
    req: &HttpRequest,
    visitor: &Visitor,
    notice: Option<String>,
) -> HttpResponse {
    let user_id = visitor.user.id.clone();
    let listed = run_read(state, move |services, conn| {
        sessions::list_for_user(conn, services.clock.as_ref(), &user_id)
    })
    .await;
    let list = match listed {
        Ok(list) => list,
        Err(e) => return page::error_page(state, req, &PageError::from(e)),
    };
    let now = state.services.clock.now();
    let lifetimes = state.services.config.session_lifetimes();
    let list: Vec<Session> = list
        .into_iter()
        .filter(|s| s.is_live(now, &lifetimes))
        .collect();
    let rows: Vec<Value> = list
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "device": device_name(s.user_agent.as_deref()),
                "ip": s.ip.clone().unwrap_or_else(|| "-".into()),
                "started": date_time(s.created_at),
                "last_seen": date_time(s.last_seen_at),
                "level": s.aal(now, &lifetimes).as_str(),
                "current": s.id == visitor.session.id,
            })
        })
        .collect();
    let has_others = list.iter().any(|s| s.id != visitor.session.id);
    render(
        state,
        req,
        StatusCode::OK,
        "u_sessions",
        json!({"sessions": rows, "has_others": has_others, "notice": notice}),
    )
}

/// `GET /u/sessions`
pub async fn get_sessions(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let visitor = visitor!(state, req, "/u/sessions");
    sessions_page(&state, &req, &visitor, None).await
}

/// `POST /u/sessions/end`: one session (`session_id`) or all others (`all_others=1`).
pub async fn post_end_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AccountForm>,
) -> HttpResponse {
    let visitor = visitor!(state, req, "/u/sessions");
    let form = form.into_inner();
    if !csrf::verify(&req, state.https, &form.csrf_token) {
        return page::error_page(
            &state,
            &req,
            &PageError::bad_request("the form expired; reload the page"),
        );
    }
    let info = ClientInfo::from_request(&req);
    let user_id = visitor.user.id.clone();
    let current = visitor.session.id.clone();
    let result = run_write(&state, move |services, conn| {
        let clock = services.clock.as_ref();
        let mut ended = 0;
        for session in sessions::list_for_user(conn, clock, &user_id)? {
            let chosen = if form.all_others == "1" {
                session.id != current
            } else {
                session.id == form.session_id && session.id != current
            };
            if chosen {
                sessions::end(conn, clock, &session.id)?;
                let mut event = user_event(AuditKind::SessionEnded, &user_id, &info);
                event.detail = json!({"session": session.id});
                audit::record(conn, clock, &event)?;
                ended += 1;
            }
        }
        Ok(ended)
    })
    .await;
    match result {
        Ok(_) => {
            sessions_page(
                &state,
                &req,
                &visitor,
                Some(msg(&state, &req, "sessions.ended", &[])),
            )
            .await
        }
        Err(e) => page::error_page(&state, &req, &PageError::from(e)),
    }
}

/// `GET /u/log`
pub async fn get_log(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let visitor = visitor!(state, req, "/u/log");
    let user_id = visitor.user.id.clone();
    let listed = run_read(&state, move |_, conn| {
        audit::list_for_user(conn, &user_id, 100)
    })
    .await;
    let events = match listed {
        Ok(events) => events,
        Err(e) => return page::error_page(&state, &req, &PageError::from(e)),
    };
    let rows: Vec<Value> = events
        .iter()
        .map(|e| {
            let device = e.user_agent.as_deref().map(|ua| device_name(Some(ua)));
            let from = match (&e.ip, device) {
                (Some(ip), Some(device)) => format!("{ip} · {device}"),
                (Some(ip), None) => ip.clone(),
                (None, _) if e.actor == "cli" => "administrator".into(),
                _ => "-".into(),
            };
            json!({"when": date_time(e.occurred_at), "event": e.event, "from": from})
        })
        .collect();
    render(
        &state,
        &req,
        StatusCode::OK,
        "u_log",
        json!({"events": rows}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_devices() {
        assert_eq!(date_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(date_time(1_700_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(date_time(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(device_name(Some("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")), "Chrome on Linux");
        assert_eq!(device_name(Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1")), "Safari on iOS");
        assert_eq!(
            device_name(Some(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"
            )),
            "Firefox on Windows"
        );
        assert_eq!(device_name(None), "Unknown device");
    }
}
