//! RP-Initiated Logout 1.0 (`/oidc/session/end`, GET and POST). With a valid `id_token_hint`
//! for the current session, the person is signed out at once; otherwise they are asked to
//! confirm (a CSRF-protected form), so a stray link cannot sign anyone out. A hint that is not
//! one of our ID tokens (not a JWT, `alg: none`, another key or issuer, an access token) is
//! a 400 page with no redirect; an expired one is accepted (§2). Without the session cookie
//! (a cross-site POST does not carry it), a valid hint ends the session its `sid` names. Only a
//! `post_logout_redirect_uri` registered for the client named by the hint or `client_id` is
//! redirected to, with `state`. Ending the session revokes the refresh tokens bound to it
//! and the access tokens issued in it; offline_access tokens survive.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use keystep_core::clients::{self, Client};
use keystep_core::{sessions, signin, signout};
use keystep_web::cookies::{self, CookieKind};
use keystep_web::csrf::CsrfForm;
use keystep_web::page::{self, Message, Page, PageError};
use keystep_web::run_write;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::keys::VerifyError;
use crate::params::Params;
use crate::Oidc;

/// What the hint tells us.
#[derive(Debug, Deserialize)]
struct HintClaims {
    sub: String,
    aud: Value,
    #[serde(default)]
    sid: Option<String>,
}

impl HintClaims {
    fn client_id(&self) -> Option<&str> {
        match &self.aud {
            Value::String(s) => Some(s),
            Value::Array(a) => a.first().and_then(Value::as_str),
            _ => None,
        }
    }
}

/// What to do.
enum Decision {
    /// Signed out; go here (or show the signed-out page).
    SignedOut { redirect: Option<String> },
    /// Ask the person.
    Confirm {
        client: Option<Box<Client>>,
        redirect: Option<String>,
        state: Option<String>,
    },
    /// The request is contradictory.
    Bad(String),
}

/// `GET /oidc/session/end`
pub async fn get_end_session(page: Page, oidc: web::Data<Oidc>) -> HttpResponse {
    let input = page.req.query_string().as_bytes().to_vec();
    end_session(page, oidc, input, false).await
}

/// `POST /oidc/session/end`
pub async fn post_end_session(page: Page, oidc: web::Data<Oidc>, body: Bytes) -> HttpResponse {
    end_session(page, oidc, body.to_vec(), true).await
}

fn with_state(uri: &str, state: Option<&str>) -> String {
    match (url::Url::parse(uri), state) {
        (Ok(mut url), Some(state)) => {
            url.query_pairs_mut().append_pair("state", state);
            url.to_string()
        }
        _ => uri.to_owned(),
    }
}

/// `posted`: the request is a POST, the one a relying party's logout form sends cross-site.
async fn end_session(
    page: Page,
    oidc: web::Data<Oidc>,
    input: Vec<u8>,
    posted: bool,
) -> HttpResponse {
    let params = match Params::parse(&input) {
        Ok(p) => p,
        Err(e) => return page::error_page(&page, &PageError::bad_request(e)),
    };
    let lang = page.lang(params.get("ui_locales"));
    let session_token = cookies::read(&page.req, CookieKind::Session, page.https);
    let info = page.origin();
    let oidc = oidc.into_inner();
    let decision = run_write(&page, move |services, conn| {
        let hint = match params.get("id_token_hint") {
            // Only an ID token (typ JWT) is a hint; an access token (at+jwt) is not.
            Some(token) => {
                match oidc
                    .keys
                    .verify::<HintClaims>(services, conn, token, Some("JWT"), false)
                {
                    Ok(claims) => Some(claims),
                    // A hint that is not one of our ID tokens is refused, not ignored (RP-Initiated
                    // Logout §2, §4): whoever sent it gets a clear error and no redirect.
                    Err(VerifyError::Invalid(e)) => {
                        tracing::info!(error = %e, "id_token_hint did not verify; refused");
                        return Ok(Decision::Bad(format!(
                            "id_token_hint is not an ID token of this provider ({e})"
                        )));
                    }
                    Err(VerifyError::Unavailable(e)) => return Err(e),
                }
            }
            None => None,
        };
        let client_id = match (
            hint.as_ref().and_then(HintClaims::client_id),
            params.get("client_id"),
        ) {
            (Some(a), Some(b)) if a != b => {
                return Ok(Decision::Bad(
                    "client_id does not match the id_token_hint".into(),
                ))
            }
            (Some(a), _) => Some(a.to_owned()),
            (None, b) => b.map(str::to_owned),
        };
        let client = match &client_id {
            Some(id) => clients::find_client(conn, id)?,
            None => None,
        };
        let state_param = params.get("state").map(str::to_owned);
        let redirect = match (params.get("post_logout_redirect_uri"), &client) {
            (Some(uri), Some(c)) if c.has_post_logout_redirect_uri(uri) => Some(uri.to_owned()),
            (Some(uri), _) => {
                tracing::info!(
                    uri,
                    "post_logout_redirect_uri not registered for the client; not redirecting"
                );
                None
            }
            (None, _) => None,
        };
        let cookie_session = match &session_token {
            Some(token) => {
                signin::current_session(services, conn, token)?.map(|(session, _)| session)
            }
            None => None,
        };
        // A cross-site POST carries no SameSite=Lax cookie: then the hint's `sid` names the
        // session to end, if it is still that person's and live (RP-Initiated Logout §2).
        // Only a POST: a hint in a GET's query string leaks through history, logs and
        // Referer, and a link should not end a session in another browser.
        let lifetimes = services.config.session_lifetimes();
        let now = services.clock.now();
        let session = match (cookie_session, &hint) {
            (Some(session), _) => Some(session),
            (
                None,
                Some(HintClaims {
                    sid: Some(sid),
                    sub,
                    ..
                }),
            ) if posted => sessions::find_by_id(conn, sid)?
                .filter(|s| s.user_id == *sub && s.is_live(now, &lifetimes)),
            (None, _) => None,
        };
        let hint_matches = hint.as_ref().is_some_and(|h| match &session {
            None => true,
            Some(s) => h.sub == s.user_id && h.sid.as_ref().is_none_or(|sid| *sid == s.id),
        });
        if !hint_matches {
            return Ok(Decision::Confirm {
                client: client.map(Box::new),
                redirect,
                state: state_param,
            });
        }
        if let Some(session) = session {
            signout::sign_out(
                services,
                conn,
                &session,
                client_id.as_deref(),
                info.device(),
            )?;
        }
        Ok(Decision::SignedOut {
            redirect: redirect.map(|r| with_state(&r, state_param.as_deref())),
        })
    })
    .await;
    match decision {
        Err(e) => page::error_page(&page, &PageError::from(e)),
        Ok(Decision::Bad(detail)) => page::error_page(&page, &PageError::bad_request(detail)),
        Ok(Decision::SignedOut { redirect }) => signed_out(&page, &lang, redirect),
        Ok(Decision::Confirm {
            client,
            redirect,
            state: state_param,
        }) => {
            let context = json!({
                "client_name": client.as_ref().map(|c| c.display_name.clone()),
                "client_id": client.as_ref().map(|c| c.id.clone()),
                "post_logout_redirect_uri": redirect,
                "state": state_param,
            });
            page.with_forms()
                .render(StatusCode::OK, "logout", &lang, context)
        }
    }
}

fn signed_out(page: &Page, lang: &str, redirect: Option<String>) -> HttpResponse {
    let mut response = match redirect {
        Some(location) => HttpResponse::Found()
            .insert_header(("Location", location))
            .insert_header(("Cache-Control", "no-store"))
            .finish(),
        None => {
            let paragraphs = [page.message(lang, "logout.done_body", &[])];
            let message = Message::new("logout.done_title", "logout.done_heading", &paragraphs);
            page.say(StatusCode::OK, lang, &message)
        }
    };
    let _ = response.add_cookie(&cookies::removal(CookieKind::Session, page.https));
    response
}

/// The confirmation form.
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    /// The client, if known.
    pub client_id: Option<String>,
    /// Where to go afterwards (checked again).
    pub post_logout_redirect_uri: Option<String>,
    /// Echoed.
    pub state: Option<String>,
}

/// `POST /oidc/session/end/confirm`
pub async fn post_confirm(page: Page, CsrfForm(form): CsrfForm<ConfirmForm>) -> HttpResponse {
    let lang = page.lang(None);
    let session_token = cookies::read(&page.req, CookieKind::Session, page.https);
    let info = page.origin();
    let result = run_write(&page, move |services, conn| {
        let client = match form.client_id.as_deref() {
            Some(id) => clients::find_client(conn, id)?,
            None => None,
        };
        let redirect = match (form.post_logout_redirect_uri.as_deref(), &client) {
            (Some(uri), Some(c)) if c.has_post_logout_redirect_uri(uri) => {
                Some(with_state(uri, form.state.as_deref()))
            }
            _ => None,
        };
        if let Some(token) = session_token {
            if let Some((session, _)) = signin::current_session(services, conn, &token)? {
                let client_id = client.as_ref().map(|c| c.id.as_str());
                signout::sign_out(services, conn, &session, client_id, info.device())?;
            }
        }
        Ok(redirect)
    })
    .await;
    match result {
        Ok(redirect) => signed_out(&page, &lang, redirect),
        Err(e) => page::error_page(&page, &PageError::from(e)),
    }
}
