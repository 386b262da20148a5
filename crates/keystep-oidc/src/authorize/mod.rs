//! The authorization endpoint (`/oidc/auth`, GET and POST) and its resumption after the
//! hosted login (`/oidc/auth/resume`). The request is checked ([`checks`]), the SSO session
//! read, and then either a code is issued at once or the sign-in is handed to the pages
//! through a pending interaction.

pub mod checks;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use keystep_core::clients::{self, Client, MfaPolicy};
use keystep_core::db::DbConn;
use keystep_core::sessions::{Aal, Session};
use keystep_core::throttle::{Limit, Throttle};
use keystep_core::{signin, Services};
use keystep_mfa::factors;
use keystep_mfa::stepup::{self, Decision, SessionState, Situation, Step};
use keystep_web::cookies::{self, CookieKind};
use keystep_web::interaction::{BrowserKey, Interaction, Unavailable};
use keystep_web::page::{self, Page, PageError};
use keystep_web::{paths, run_write};
use serde_json::json;

use self::checks::{validate, Failure, Prompt, Redirector, ResponseMode, ValidatedAuthorize};
use crate::code::{self, CodeGrant};
use crate::keys::VerifyError;
use crate::params::Params;
use crate::tokens::SignIn;
use crate::Oidc;

/// The throttle scope of sign-ins started per address.
const STARTED_PER_IP: &str = "started_ip";

/// What the authorization request comes to.
enum Outcome {
    /// An error page.
    Page(PageError),
    /// A response (code or error) for the relying party.
    Respond {
        redirect_uri: String,
        mode: ResponseMode,
        fields: Vec<(String, String)>,
    },
    /// A page of the hosted login.
    Login { interaction_id: String, step: Step },
}

/// `GET /oidc/auth`
pub async fn get_authorize(page: Page, oidc: web::Data<Oidc>) -> HttpResponse {
    let input = page.req.query_string().as_bytes().to_vec();
    authorize(&page, oidc, &input).await
}

/// `POST /oidc/auth` (OIDC Core §3.1.2.1: the endpoint must accept POST too).
pub async fn post_authorize(page: Page, oidc: web::Data<Oidc>, body: Bytes) -> HttpResponse {
    authorize(&page, oidc, &body).await
}

/// The claim of an `id_token_hint` that the authorization endpoint uses.
#[derive(Debug, serde::Deserialize)]
struct HintSubject {
    sub: String,
}

async fn authorize(page: &Page, oidc: web::Data<Oidc>, input: &[u8]) -> HttpResponse {
    let params = match Params::parse(input) {
        Ok(p) => p,
        Err(e) => return page::error_page(page, &PageError::bad_request(e)),
    };
    let session_token = cookies::read(&page.req, CookieKind::Session, page.https);
    // A sign-in handed to the pages is bound to this browser's key (made here if it has
    // none yet).
    let browser = BrowserKey::sent_or_new(&page.req, page.https);
    let bound_to = browser.hash();
    let ip = page.origin().0.ip;
    let outcome = run_write(page, move |services, conn| {
        let client = match params.get("client_id") {
            Some(id) => clients::find_client(conn, id)?,
            None => None,
        };
        let (mut validated, client) = match validate(&params, |_| client) {
            Ok(v) => v,
            Err(failure) => return Ok(failure_outcome(services, failure)),
        };
        if let Some(hint) = params.get("id_token_hint") {
            // Only one of our ID tokens names the person; an expired one still does
            // (OIDC Core §3.1.2.1).
            match oidc
                .keys
                .verify::<HintSubject>(services, conn, hint, Some("JWT"), false)
            {
                Ok(claims) => validated.hint_subject = Some(claims.sub),
                Err(VerifyError::Invalid(e)) => {
                    let r = Redirector::new(
                        validated.redirect_uri.clone(),
                        validated.response_mode,
                        validated.state.clone(),
                    );
                    let description =
                        format!("id_token_hint is not an ID token of this provider ({e})");
                    return Ok(failure_outcome(
                        services,
                        r.error("invalid_request", description),
                    ));
                }
                Err(VerifyError::Unavailable(e)) => return Err(e),
            }
        }
        decide(
            services,
            conn,
            &validated,
            &client,
            session_token.as_deref(),
            Pending::New {
                browser: bound_to,
                ip,
            },
        )
    })
    .await;
    let started = matches!(outcome, Ok(Outcome::Login { .. }));
    let mut response = respond(page, outcome);
    if started && browser.is_new {
        let _ = response.add_cookie(&browser.cookie(page.https));
    }
    response
}

/// The interaction a decision is made in.
enum Pending<'a> {
    /// None yet: one is started, bound to the browser key with this hash, if the person has a
    /// page to go through; `ip` is where the request came from.
    New { browser: String, ip: Option<String> },
    /// The one the person comes back from.
    Resumed(&'a Interaction),
}

impl<'a> Pending<'a> {
    fn resumed(&self) -> Option<&'a Interaction> {
        match self {
            Self::New { .. } => None,
            Self::Resumed(interaction) => Some(interaction),
        }
    }
}

/// The pending interaction `id` names, for this browser; a page when there is none to go on
/// with.
fn load_pending(
    services: &Services,
    id: &str,
    browser: Option<&BrowserKey>,
) -> keystep_core::Result<Result<(Interaction, ValidatedAuthorize), Outcome>> {
    let refused = |why: Unavailable| {
        Outcome::Page(PageError::new(StatusCode::BAD_REQUEST, why.message_key()))
    };
    let interaction = match Interaction::load(services.ephemeral.as_ref(), id, browser)? {
        Ok(interaction) => interaction,
        Err(why) => return Ok(Err(refused(why))),
    };
    match serde_json::from_value::<ValidatedAuthorize>(interaction.request.clone()) {
        Ok(request) => Ok(Ok((interaction, request))),
        Err(_) => Ok(Err(refused(Unavailable::Expired))),
    }
}

/// `GET /oidc/auth/resume?interaction=…`: back from the hosted login.
pub async fn get_resume(page: Page, query: web::Query<ResumeQuery>) -> HttpResponse {
    let id = query.into_inner().interaction;
    let session_token = cookies::read(&page.req, CookieKind::Session, page.https);
    let browser = BrowserKey::sent(&page.req, page.https);
    let outcome = run_write(&page, move |services, conn| {
        let (interaction, validated) = match load_pending(services, &id, browser.as_ref())? {
            Ok(pending) => pending,
            Err(page) => return Ok(page),
        };
        // The client may have been removed or changed while the person signed in: what was
        // checked at /oidc/auth is checked again before a code goes anywhere.
        let Some(client) = clients::find_client(conn, &validated.client_id)? else {
            return Ok(Outcome::Page(PageError::new(
                StatusCode::BAD_REQUEST,
                "error.unknown_client",
            )));
        };
        if !client.redirect_uris.contains(&validated.redirect_uri) {
            Interaction::remove(services.ephemeral.as_ref(), &interaction.id)?;
            return Ok(Outcome::Page(PageError::new(
                StatusCode::BAD_REQUEST,
                "error.bad_redirect_uri",
            )));
        }
        let outcome = decide(
            services,
            conn,
            &validated,
            &client,
            session_token.as_deref(),
            Pending::Resumed(&interaction),
        )?;
        if matches!(outcome, Outcome::Respond { .. }) {
            Interaction::remove(services.ephemeral.as_ref(), &interaction.id)?;
        }
        Ok(outcome)
    })
    .await;
    respond(&page, outcome)
}

/// `GET /oidc/auth/cancel?interaction=…`: the person chose "Back to the application" on a
/// sign-in page. The application gets `access_denied` (RFC 6749 §4.1.2.1) with its `state`,
/// and the pending sign-in ends; the SSO session, if any, is left as it was.
pub async fn get_cancel(page: Page, query: web::Query<ResumeQuery>) -> HttpResponse {
    let id = query.into_inner().interaction;
    let browser = BrowserKey::sent(&page.req, page.https);
    let outcome = run_write(&page, move |services, _| {
        let request = match load_pending(services, &id, browser.as_ref())? {
            Ok((_, request)) => request,
            Err(page) => return Ok(page),
        };
        Interaction::remove(services.ephemeral.as_ref(), &id)?;
        tracing::info!(client_id = %request.client_id, "sign-in cancelled by the person");
        let r = Redirector::new(
            request.redirect_uri.clone(),
            request.response_mode,
            request.state.clone(),
        );
        Ok(failure_outcome(
            services,
            r.error("access_denied", "the person went back without signing in"),
        ))
    })
    .await;
    respond(&page, outcome)
}

/// The resume query.
#[derive(Debug, serde::Deserialize)]
pub struct ResumeQuery {
    /// The interaction id; missing is the same as unknown (a page that says so).
    #[serde(default)]
    pub interaction: String,
}

fn failure_outcome(services: &Services, failure: Failure) -> Outcome {
    match failure {
        Failure::Page {
            message_key,
            detail,
        } => {
            tracing::info!(detail, "authorization request refused with a page");
            Outcome::Page(PageError::new(StatusCode::BAD_REQUEST, message_key))
        }
        Failure::Redirect(e) => {
            let mut fields = vec![
                ("error".to_owned(), e.error.to_owned()),
                ("error_description".to_owned(), e.description),
            ];
            if let Some(state) = e.state {
                fields.push(("state".to_owned(), state));
            }
            fields.push(("iss".to_owned(), services.config.issuer()));
            Outcome::Respond {
                redirect_uri: e.redirect_uri,
                mode: e.response_mode,
                fields,
            }
        }
    }
}

/// Decides what this request needs, given the session (and, on resumption, the interaction
/// the person just went through).
fn decide(
    services: &Services,
    conn: &mut DbConn,
    request: &ValidatedAuthorize,
    client: &Client,
    session_token: Option<&str>,
    pending: Pending<'_>,
) -> keystep_core::Result<Outcome> {
    let interaction = pending.resumed();
    let now = services.clock.now();
    let r = Redirector::new(
        request.redirect_uri.clone(),
        request.response_mode,
        request.state.clone(),
    );
    let session = match session_token {
        Some(token) => signin::current_session(services, conn, token)?.map(|(session, _)| session),
        None => None,
    };
    // A sign-in completed during this interaction satisfies prompt=login and max_age.
    // The password itself must have been entered during it: a second factor alone (which
    // also moves auth_time) is not a whole new sign-in.
    let fresh = |s: &Session| interaction.is_some_and(|i| s.password_verified_at >= i.created_at);
    // max_age counts from the last password: a second factor alone moves auth_time, and would
    // otherwise renew an old sign-in without it.
    let too_old = |s: &Session| {
        request
            .max_age
            .is_some_and(|max| now - s.password_verified_at > max)
    };
    // The relying party expects someone else (its `id_token_hint`): this session does not
    // answer for them, so it is not fresh: `prompt=none` gets `login_required`, otherwise the
    // person signs in again (OIDC Core §3.1.2.1).
    let someone_else = |s: &Session| {
        request
            .hint_subject
            .as_ref()
            .is_some_and(|sub| *sub != s.user_id)
    };
    let lifetimes = services.config.session_lifetimes();
    let has_second_factor = match &session {
        Some(s) => factors::status(conn, &s.user_id)?.has_second_factor(),
        None => false,
    };
    let situation = Situation {
        global: services.config.mfa.policy,
        client_requires_mfa: client.mfa_policy == MfaPolicy::Required,
        requested: request.requested_acr,
        login_mode: services.config.mfa.login,
        enroll_at_login: services.config.mfa.enroll_at_login,
        enroll_on_request: services.config.mfa.enroll_on_request,
        session: session.as_ref().map(|s| SessionState {
            // When this interaction demands a whole new sign-in (prompt=login, max_age), a
            // second factor verified before it does not count.
            level: match interaction.filter(|i| i.force_login) {
                Some(i)
                    if s.second_factor_verified_at
                        .is_none_or(|at| at < i.created_at) =>
                {
                    Aal::Aal1
                }
                _ => s.aal(now, &lifetimes),
            },
            fresh: fresh(s)
                || !(request.prompt == Some(Prompt::Login) || too_old(s) || someone_else(s)),
        }),
        has_second_factor,
        prompt_none: request.prompt == Some(Prompt::None),
    };
    let level = match stepup::decide(&situation) {
        Decision::Fail(refusal) => {
            return Ok(failure_outcome(
                services,
                r.error(refusal.error(), refusal.description()),
            ));
        }
        Decision::Ask(step) => {
            let too_large = || {
                failure_outcome(
                    services,
                    r.error(
                        "invalid_request",
                        "the request is too large to keep while the person signs in",
                    ),
                )
            };
            let (browser, ip) = match pending {
                Pending::Resumed(existing) => {
                    let mut updated = existing.clone();
                    updated.pending_step = Some(step);
                    if !updated.save(services.ephemeral.as_ref(), now)? {
                        return Ok(too_large());
                    }
                    return Ok(Outcome::Login {
                        interaction_id: existing.id.clone(),
                        step,
                    });
                }
                Pending::New { browser, ip } => (browser, ip),
            };
            // Each pending sign-in is kept in the ephemeral store until it ends or expires:
            // one address may start only so many within that lifetime. Counted first, so
            // concurrent requests cannot all pass.
            let started_here = Throttle::new(
                services,
                STARTED_PER_IP,
                Limit {
                    max_failures: services.config.login.max_started_per_ip,
                    window: keystep_web::interaction::TTL,
                },
            );
            let subject = ip.as_deref().unwrap_or("unknown");
            if started_here.count_attempt(subject)?.is_some() {
                tracing::warn!(ip = subject, "too many sign-ins started from one address");
                return Ok(failure_outcome(
                    services,
                    r.error(
                        "temporarily_unavailable",
                        "too many sign-ins were started from this address; try again in a few minutes",
                    ),
                ));
            }
            let started = Interaction {
                id: Interaction::new_id(),
                client_id: client.id.clone(),
                client_name: client.display_name.clone(),
                login_hint: request.login_hint.clone(),
                ui_locales: request.ui_locales.clone(),
                created_at: now,
                force_login: session.is_some() && step == Step::Password,
                pending_step: Some(step),
                browser,
                request: serde_json::to_value(request)
                    .map_err(|e| keystep_core::Error::EphemeralUnavailable(e.to_string()))?,
            };
            if !started.save(services.ephemeral.as_ref(), now)? {
                return Ok(too_large());
            }
            return Ok(Outcome::Login {
                interaction_id: started.id,
                step,
            });
        }
        Decision::Issue(level) => level,
    };
    let Some(session) = session else {
        return Ok(failure_outcome(
            services,
            r.error("login_required", "the person must sign in"),
        ));
    };
    // The levels are ordered: an essential `acr` is met by the highest requested level that
    // the sign-in reaches, and the ID token says that one (OIDC Core §5.5.1.1).
    let acr = match &request.essential_acr {
        None => level,
        Some(values) => match values
            .iter()
            .filter_map(|v| Aal::parse(v))
            .filter(|v| *v <= level)
            .max()
        {
            Some(met) => met,
            None => {
                let description = format!(
                    "none of the essential acr values can be met (this sign-in is {})",
                    level.as_str()
                );
                return Ok(failure_outcome(
                    services,
                    r.error("unmet_authentication_requirements", description),
                ));
            }
        },
    };

    let grant = CodeGrant {
        client_id: client.id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        user_id: session.user_id.clone(),
        scope: request.scope.to_string(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        sign_in: SignIn {
            session_id: Some(session.id.clone()),
            auth_time: session.auth_time,
            acr: acr.as_str().to_owned(),
            amr: if level == Aal::Aal2 {
                session.amr(now, &lifetimes)
            } else {
                vec!["pwd".to_owned()]
            },
        },
        claims: request.claims.clone(),
    };
    let code = code::issue(services.ephemeral.as_ref(), &grant)?;
    let mut fields = vec![("code".to_owned(), code)];
    if let Some(state) = &request.state {
        fields.push(("state".to_owned(), state.clone()));
    }
    fields.push(("iss".to_owned(), services.config.issuer()));
    Ok(Outcome::Respond {
        redirect_uri: request.redirect_uri.clone(),
        mode: request.response_mode,
        fields,
    })
}

fn respond(page: &Page, outcome: Result<Outcome, keystep_web::WebError>) -> HttpResponse {
    match outcome {
        Err(e) => page::error_page(page, &PageError::from(e)),
        Ok(Outcome::Page(error)) => page::error_page(page, &error),
        Ok(Outcome::Login {
            interaction_id,
            step,
        }) => HttpResponse::Found()
            .insert_header((
                "Location",
                page.url(&paths::with_interaction(paths::step(step), &interaction_id)),
            ))
            .insert_header(("Cache-Control", "no-store"))
            .finish(),
        Ok(Outcome::Respond {
            redirect_uri,
            mode: ResponseMode::Query,
            fields,
        }) => {
            let Ok(mut url) = url::Url::parse(&redirect_uri) else {
                return page::error_page(
                    page,
                    &PageError::new(StatusCode::BAD_REQUEST, "error.bad_redirect_uri"),
                );
            };
            url.query_pairs_mut().extend_pairs(fields.iter());
            HttpResponse::Found()
                .insert_header(("Location", url.to_string()))
                .insert_header(("Cache-Control", "no-store"))
                .finish()
        }
        Ok(Outcome::Respond {
            redirect_uri,
            mode: ResponseMode::FormPost,
            fields,
        }) => {
            let lang = page.lang(None);
            let fields: Vec<_> = fields
                .into_iter()
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect();
            page.render(
                StatusCode::OK,
                "form_post",
                &lang,
                json!({"action": redirect_uri, "fields": fields}),
            )
        }
    }
}
