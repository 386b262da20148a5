//! The hosted login (`/login`): username and password, one message for a wrong username or
//! password, throttled per account and per IP through the ephemeral store (shared by every
//! node), CSRF-protected, and a new session token at every completed sign-in.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keystep_core::audit::{self, Actor, AuditKind, NewAuditEvent};
use keystep_core::throttle::{self, Limit};
use keystep_core::{sessions, users, Error, Services};
use keystep_web::cookies::{self, CookieKind};
use keystep_web::csrf;
use keystep_web::interaction::Interaction;
use keystep_web::page::{self, PageError};
use keystep_web::request::ClientInfo;
use keystep_web::{run_blocking, AppState};
use serde::Deserialize;
use serde_json::json;

/// `?interaction=…`
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    /// The pending interaction, when the sign-in comes from an application.
    pub interaction: Option<String>,
    /// Where to go afterwards inside keystep (the user center), when not from an application.
    pub next: Option<String>,
}

/// A `next` target is only ever a path of the user center: no open redirect.
pub fn safe_next(next: Option<&str>) -> Option<String> {
    next.filter(|n| {
        (*n == "/u" || n.starts_with("/u/"))
            && !n.contains("//")
            && n.len() < 200
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.'))
    })
    .map(str::to_owned)
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// CSRF token.
    #[serde(default)]
    pub csrf_token: String,
    /// The pending interaction.
    #[serde(default)]
    pub interaction: String,
    /// Username.
    #[serde(default)]
    pub username: String,
    /// Password.
    #[serde(default)]
    pub password: String,
    /// Where to go afterwards (user center paths only).
    #[serde(default)]
    pub next: String,
}

/// What the page shows.
struct LoginView {
    status: StatusCode,
    interaction: Option<Interaction>,
    username: String,
    error: Option<String>,
    next: Option<String>,
}

fn render(state: &AppState, req: &HttpRequest, view: LoginView) -> HttpResponse {
    let lang = page::lang(
        state,
        req,
        view.interaction
            .as_ref()
            .and_then(|i| i.ui_locales.as_deref()),
    );
    let token = csrf::issue(req, state.https);
    let context = json!({
        "csrf_token": token.token,
        "interaction": view.interaction.as_ref().map(|i| i.id.clone()).unwrap_or_default(),
        "client_name": view.interaction.as_ref().map(|i| i.client_name.clone()),
                "username": view.username,
        "error": view.error,
        "next": view.next.unwrap_or_default(),
    });
    let mut response = page::render(state, view.status, "login", &lang, context);
    if let Some(cookie) = token.cookie {
        let _ = response.add_cookie(&cookie);
    }
    response
}

/// `GET /login`
pub async fn get_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<LoginQuery>,
) -> HttpResponse {
    let query = query.into_inner();
    let next = safe_next(query.next.as_deref());
    let interaction = match query.interaction.filter(|i| !i.is_empty()) {
        Some(id) => match load_interaction(&state, id).await {
            Ok(Some(interaction)) => Some(interaction),
            Ok(None) => {
                return page::error_page(
                    &state,
                    &req,
                    &PageError::new(StatusCode::BAD_REQUEST, "login.expired"),
                )
            }
            Err(e) => return page::error_page(&state, &req, &e),
        },
        None => None,
    };
    let username = interaction
        .as_ref()
        .and_then(|i| i.login_hint.clone())
        .unwrap_or_default();
    render(
        &state,
        &req,
        LoginView {
            status: StatusCode::OK,
            interaction,
            username,
            error: None,
            next,
        },
    )
}

async fn load_interaction(state: &AppState, id: String) -> Result<Option<Interaction>, PageError> {
    run_blocking(state, move |services| {
        Interaction::load(services.ephemeral.as_ref(), &id)
    })
    .await
    .map_err(PageError::from)
}

/// How a sign-in attempt ended.
enum Attempt {
    SignedIn {
        token: String,
        name: String,
    },
    Refused {
        status: StatusCode,
        message_key: &'static str,
        args: Vec<(String, String)>,
    },
}

fn limits(services: &Services) -> (Limit, Limit) {
    let login = &services.config.login;
    let window = Duration::from_secs(login.failure_window_seconds);
    (
        Limit {
            max_failures: login.max_failures_per_account,
            window,
        },
        Limit {
            max_failures: login.max_failures_per_ip,
            window,
        },
    )
}

fn audit_event<'a>(
    kind: AuditKind,
    user_id: &'a str,
    client_id: Option<&'a str>,
    info: &'a ClientInfo,
) -> NewAuditEvent<'a> {
    let mut event = NewAuditEvent::new(Actor::User(user_id.to_owned()), kind, Some(user_id));
    event.client_id = client_id;
    event.ip = info.ip.as_deref();
    event.user_agent = info.user_agent.as_deref();
    event
}

/// "14:05" for a Unix time, in UTC.
fn clock_time(unix: i64) -> String {
    let of_day = unix.rem_euclid(86_400);
    format!("{:02}:{:02}", of_day / 3600, (of_day % 3600) / 60)
}

/// `POST /login`
pub async fn post_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let interaction = if form.interaction.is_empty() {
        None
    } else {
        match load_interaction(&state, form.interaction.clone()).await {
            Ok(Some(interaction)) => Some(interaction),
            Ok(None) => {
                return page::error_page(
                    &state,
                    &req,
                    &PageError::new(StatusCode::BAD_REQUEST, "login.expired"),
                )
            }
            Err(e) => return page::error_page(&state, &req, &e),
        }
    };
    let lang = page::lang(
        &state,
        &req,
        interaction.as_ref().and_then(|i| i.ui_locales.as_deref()),
    );
    let next = safe_next(Some(form.next.as_str()));
    let refuse = |status, key: &str, username: String| {
        let error = page::message(&state, &lang, key, &[]);
        render(
            &state,
            &req,
            LoginView {
                status,
                interaction: interaction.clone(),
                username,
                error: Some(error),
                next: next.clone(),
            },
        )
    };
    if !csrf::verify(&req, state.https, &form.csrf_token) {
        return refuse(StatusCode::BAD_REQUEST, "login.csrf", form.username);
    }
    if form.username.trim().is_empty() || form.password.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "login.missing", form.username);
    }

    let info = ClientInfo::from_request(&req);
    let previous = cookies::read(&req, CookieKind::Session, state.https);
    let username = form.username.trim().to_owned();
    let password = form.password;
    let client_id = interaction.as_ref().map(|i| i.client_id.clone());
    let attempt_info = info.clone();
    // No transaction is open while the password is hashed: the hash takes tens of
    // milliseconds, and each write after it is a short transaction of its own.
    let attempt = run_blocking(&state, move |services| {
        let store = services.ephemeral.as_ref();
        let clock = services.clock.as_ref();
        let account = users::normalize_username(&username);
        let ip = attempt_info.ip.clone().unwrap_or_default();
        let (per_account, per_ip) = limits(services);
        // The account's attempt is counted before the hash, not after: checked first and
        // counted later, every guess in flight (as many as the hashing queue holds) would
        // pass the check before any of them was counted.
        let locked = [
            throttle::count_attempt(store, clock, "login-account", &account, per_account)?,
            throttle::locked_until(store, clock, "login-ip", &ip, per_ip)?,
        ];
        if let Some(until) = locked.into_iter().flatten().max() {
            tracing::warn!(ip = %ip, "sign-in refused: too many failures");
            return Ok(Attempt::Refused {
                status: StatusCode::TOO_MANY_REQUESTS,
                message_key: "login.throttled",
                args: vec![("time".into(), clock_time(until))],
            });
        }
        let lifetimes = services.config.session_lifetimes();
        let signed_in = users::verify_password(
            &services.db,
            &services.passwords,
            clock,
            &username,
            &password,
        )
        .and_then(|user| {
            services.db.write(|conn| {
                // The password may have changed (and sessions ended) while it was hashed.
                users::confirm_unchanged(conn, &user)?;
                let (_, token) = sessions::sign_in_with_password(
                    conn,
                    clock,
                    &lifetimes,
                    &user.id,
                    previous.as_deref(),
                    attempt_info.device(),
                )?;
                audit::record(
                    conn,
                    clock,
                    &audit_event(
                        AuditKind::SignedIn,
                        &user.id,
                        client_id.as_deref(),
                        &attempt_info,
                    ),
                )?;
                Ok((user, token))
            })
        });
        match signed_in {
            Ok((user, token)) => {
                throttle::reset(store, "login-account", &account)?;
                Ok(Attempt::SignedIn {
                    token,
                    name: user.display_name,
                })
            }
            Err(e @ (Error::InvalidCredentials | Error::UserDisabled)) => {
                throttle::record_failure(store, "login-ip", &ip, per_ip)?;
                services
                    .db
                    .write(|conn| match users::find_by_username(conn, &username)? {
                        Some(user) => audit::record(
                            conn,
                            clock,
                            &audit_event(
                                AuditKind::SignInFailed,
                                &user.id,
                                client_id.as_deref(),
                                &attempt_info,
                            ),
                        ),
                        None => Ok(()),
                    })?;
                let (status, message_key) = match e {
                    Error::UserDisabled => (StatusCode::FORBIDDEN, "login.disabled"),
                    _ => (StatusCode::UNAUTHORIZED, "login.invalid"),
                };
                Ok(Attempt::Refused {
                    status,
                    message_key,
                    args: vec![],
                })
            }
            Err(e) => Err(e),
        }
    })
    .await;

    let username = form.username;
    match attempt {
        Err(e) => page::error_page(&state, &req, &PageError::from(e)),
        Ok(Attempt::Refused {
            status,
            message_key,
            args,
        }) => {
            let args: Vec<(&str, &str)> =
                args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let error = page::message(&state, &lang, message_key, &args);
            render(
                &state,
                &req,
                LoginView {
                    status,
                    interaction: interaction.clone(),
                    username,
                    error: Some(error),
                    next: next.clone(),
                },
            )
        }
        Ok(Attempt::SignedIn { token, name }) => {
            let session_cookie = cookies::build(CookieKind::Session, token, state.https);
            let mut response = match &interaction {
                Some(interaction) => HttpResponse::SeeOther()
                    .insert_header((
                        "Location",
                        state.url(&format!("/oidc/auth/resume?interaction={}", interaction.id)),
                    ))
                    .insert_header(("Cache-Control", "no-store"))
                    .finish(),
                None if next.is_some() => HttpResponse::SeeOther()
                    .insert_header(("Location", state.url(next.as_deref().unwrap_or("/u"))))
                    .insert_header(("Cache-Control", "no-store"))
                    .finish(),
                None => {
                    let body =
                        page::message(&state, &lang, "login.signed_in_body", &[("name", &name)]);
                    page::message_page(
                        &state,
                        StatusCode::OK,
                        &lang,
                        "login.signed_in_title",
                        "login.signed_in_title",
                        &[body],
                    )
                }
            };
            let _ = response.add_cookie(&session_cookie);
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_only_a_plain_user_center_path() {
        assert_eq!(safe_next(Some("/u")), Some("/u".into()));
        assert_eq!(safe_next(Some("/u/mfa/bind")), Some("/u/mfa/bind".into()));
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/u//x",
            "/u/%0A",
            "/u/\n",
            "/login",
            "/u/a b",
            "/ux",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn clock_time_is_utc_hours_and_minutes() {
        assert_eq!(clock_time(0), "00:00");
        assert_eq!(clock_time(1_700_000_000), "22:13");
    }
}
