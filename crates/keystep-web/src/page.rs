//! Rendering pages: language, template, no-store, forms with their CSRF field, and the one
//! error type of pages, whose page says what happened in words a person understands while the
//! detail goes to the log, once.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use serde_json::{json, Value};

use crate::cookies::{self, CookieKind};
use crate::csrf;
use crate::error::WebError;
use crate::request::ClientInfo;
use crate::session::Origin;
use crate::state::AppState;

/// The language a signed-in person chose, put on the request by the session extractor so
/// that every page of the request (its error page too) is in it.
#[derive(Debug, Clone)]
pub struct ChosenLanguage(pub String);

/// The language for this request: `ui_locales` if one is available (OIDC Core §3.1.2.1),
/// then the signed-in person's choice, then the language switch's cookie, then
/// Accept-Language, then English.
pub fn lang(state: &AppState, req: &HttpRequest, ui_locales: Option<&str>) -> String {
    let accept = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    // Two statements: reading a cookie borrows the extensions mutably (actix caches the
    // parsed cookies there), so the shared borrow must end first.
    let account = req
        .extensions()
        .get::<ChosenLanguage>()
        .map(|c| c.0.clone());
    let chosen = account.or_else(|| cookies::read(req, CookieKind::Language, state.https));
    // `ui_locales` is a space-separated list; the choice is tried after its tags.
    let preferred = [ui_locales, chosen.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    state.templates.messages().negotiate(
        Some(&preferred)
            .filter(|p| !p.is_empty())
            .map(String::as_str),
        accept,
    )
}

/// Where the language switch returns to, when it can return at all: the page's own `here`
/// (a page shown after a POST names the GET page it stands for), else a GET page's own path
/// and query, else a sign-in step's path with the query that keeps it in its flow. A page
/// shown after a POST with none of these has no switch: going back to it by GET would lose
/// what the POST showed (recovery codes are shown once) or leave the sign-in.
fn here(req: &HttpRequest, context: &Value) -> Option<String> {
    if let Some(here) = context.get("here").and_then(Value::as_str) {
        return Some(here.to_owned());
    }
    let query = if req.method() == actix_web::http::Method::GET {
        req.query_string().to_owned()
    } else {
        context
            .get("step_query")
            .and_then(Value::as_str)?
            .to_owned()
    };
    Some(if query.is_empty() {
        req.path().to_owned()
    } else {
        format!("{}?{query}", req.path())
    })
}

/// The language switch: each built-in language by its own name, linking to `/language`.
fn languages(state: &AppState, req: &HttpRequest, lang: &str, context: &Value) -> Value {
    let Some(back) = here(req, context) else {
        return Value::Array(Vec::new());
    };
    let back: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
    let messages = state.templates.messages();
    Value::Array(
        messages
            .languages()
            .map(|tag| {
                json!({
                    "tag": tag,
                    "name": messages.own(tag, "common.language_name").unwrap_or(tag),
                    "current": tag == lang,
                    "href": format!("{}?lang={tag}&back={back}", crate::paths::LANGUAGE),
                })
            })
            .collect(),
    )
}

/// What every page starts from: the server's state and the request. An extractor, so a
/// handler takes one argument for both, and rendering, messages and the request's origin are
/// read from it.
#[derive(Debug, Clone)]
pub struct Page {
    /// The server's state.
    pub state: web::Data<AppState>,
    /// The request.
    pub req: HttpRequest,
    /// Whether the page holds forms, which need the CSRF field (see [`Page::with_forms`]).
    forms: bool,
}

impl std::ops::Deref for Page {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.state
    }
}

impl FromRequest for Page {
    type Error = PageError;
    type Future = std::future::Ready<Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Self::of(req))
    }
}

impl Page {
    /// The page of `req`: fails only when the app was built without its state.
    pub fn of(req: &HttpRequest) -> Result<Self, PageError> {
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| PageError::Web(WebError::Internal("no app state".into())))?;
        Ok(Self {
            state,
            req: req.clone(),
            forms: false,
        })
    }

    /// The same page, holding forms: rendering adds their hidden `csrf_token` and sets the
    /// CSRF cookie when the browser has none yet. Only pages with forms do, so a request that
    /// arrives without the cookie (a cross-site POST, say) does not replace the token of forms
    /// open in other tabs by merely showing a page.
    pub fn with_forms(&self) -> Self {
        Self {
            forms: true,
            ..self.clone()
        }
    }

    /// The language of the page; see [`lang`].
    pub fn lang(&self, ui_locales: Option<&str>) -> String {
        lang(&self.state, &self.req, ui_locales)
    }

    /// A message from the catalogue in `lang`, or the key itself when missing (never panics).
    pub fn message(&self, lang: &str, key: &str, args: &[(&str, &str)]) -> String {
        self.templates
            .messages()
            .format(lang, key, args)
            .unwrap_or_else(|| key.to_owned())
    }

    /// Where the request came from, for a use case on the blocking pool.
    pub fn origin(&self) -> Origin {
        Origin(ClientInfo::from_request(
            &self.req,
            &self.services.config.http,
        ))
    }

    /// Renders the template `name` with `context` (an object) as an HTML response. Added to
    /// the context: `lang`, the language switch, and on a page [with forms](Page::with_forms)
    /// their `csrf_token`.
    pub fn render(
        &self,
        status: StatusCode,
        name: &str,
        lang: &str,
        context: Value,
    ) -> HttpResponse {
        let mut context = context;
        let switch = languages(&self.state, &self.req, lang, &context);
        let csrf = self.forms.then(|| csrf::issue(&self.req, self.https));
        if let Value::Object(map) = &mut context {
            map.insert("lang".into(), Value::String(lang.to_owned()));
            map.insert("languages".into(), switch);
            if let Some(csrf) = &csrf {
                map.insert("csrf_token".into(), Value::String(csrf.token.clone()));
            }
        }
        let mut response = match self.templates.render(name, &context) {
            Ok(body) => HttpResponse::build(status)
                .content_type("text/html; charset=utf-8")
                .insert_header(("Cache-Control", "no-store"))
                .body(body),
            Err(e) => {
                tracing::error!(template = name, error = %e, "template failed to render");
                return HttpResponse::InternalServerError()
                    .content_type("text/plain; charset=utf-8")
                    .insert_header(("Cache-Control", "no-store"))
                    .body("An internal error occurred.");
            }
        };
        if let Some(cookie) = csrf.and_then(|c| c.cookie) {
            let _ = response.add_cookie(&cookie);
        }
        response
    }

    /// Renders a [`Message`] page.
    pub fn say(&self, status: StatusCode, lang: &str, page: &Message<'_>) -> HttpResponse {
        let context = json!({
            "title": self.message(lang, page.title_key, &[]),
            "heading": self.message(lang, page.heading_key, &[]),
            "paragraphs": page.paragraphs,
            "link_href": page.link.map(|(path, _)| self.url(path)),
            "link_text": page.link.map(|(_, key)| self.message(lang, key, &[])),
        });
        self.render(status, "message", lang, context)
    }
}

/// What a page that only says something shows: the title and heading (catalogue keys), the
/// paragraphs, and a way on (a path of this server and the catalogue key of its words).
#[derive(Debug)]
pub struct Message<'a> {
    /// Catalogue key of the title.
    pub title_key: &'a str,
    /// Catalogue key of the heading.
    pub heading_key: &'a str,
    /// The paragraphs, already in the page's language.
    pub paragraphs: &'a [String],
    /// The way on, as the primary button: a path and the key of its words.
    pub link: Option<(&'a str, &'a str)>,
}

impl<'a> Message<'a> {
    /// A page with a title, a heading and paragraphs, and no way on.
    pub fn new(title_key: &'a str, heading_key: &'a str, paragraphs: &'a [String]) -> Self {
        Self {
            title_key,
            heading_key,
            paragraphs,
            link: None,
        }
    }
}

/// A 303 to a path of this server, never cached.
pub fn see_other(state: &AppState, path: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, state.url(path)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Adds `Retry-After` (RFC 9110 §10.2.3) to a refusal that lasts until `until` (Unix seconds).
pub fn retry_after(mut response: HttpResponse, now: i64, until: i64) -> HttpResponse {
    let seconds = (until - now).max(1).to_string();
    if let Ok(value) = header::HeaderValue::from_str(&seconds) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// An error a person sees as a page. Handlers and extractors return it; it is logged once when
/// it becomes a response, and [`render_errors`] renders that response as a page in the
/// person's language (or [`error_page`] at once, where no middleware runs).
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// A page explaining what happened: its status and a catalogue key
    /// (`error.unknown_client`) whose `{detail}` is `detail` (never a secret).
    #[error("{key} ({status})")]
    Explained {
        /// 400, 401, 403, 404, 409 or 429.
        status: StatusCode,
        /// The catalogue key of the explanation.
        key: &'static str,
        /// What may be shown of the cause.
        detail: String,
    },
    /// Somewhere else first (303 to a path of this server): the password, a second factor.
    #[error("see {0}")]
    SeeOther(String),
    /// The form's CSRF token did not match the cookie (400): the page was open too long, the
    /// browser refuses cookies, or another site posted it.
    #[error("the form's CSRF token did not match")]
    FormExpired {
        /// The GET page of the form, in its flow (its page links there).
        reload: String,
    },
    /// The glue or the domain failed: 503 with `Retry-After` when it may pass (a dependency,
    /// a full hashing queue), else 500.
    #[error(transparent)]
    Web(#[from] WebError),
}

impl From<keystep_core::Error> for PageError {
    fn from(e: keystep_core::Error) -> Self {
        Self::Web(WebError::Domain(e))
    }
}

impl PageError {
    /// A page with a catalogue explanation.
    pub fn new(status: StatusCode, key: &'static str) -> Self {
        Self::Explained {
            status,
            key,
            detail: String::new(),
        }
    }

    /// A 400 page showing what was wrong with the request.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::Explained {
            status: StatusCode::BAD_REQUEST,
            key: "error.bad_request",
            detail: detail.into(),
        }
    }

    /// The catalogue key and detail of the page, or `None` for a redirect.
    fn explanation(&self) -> Option<(&'static str, String)> {
        Some(match self {
            Self::Explained { key, detail, .. } => (*key, detail.clone()),
            Self::SeeOther(_) => return None,
            Self::FormExpired { .. } => ("error.form_expired", String::new()),
            Self::Web(WebError::Domain(keystep_core::Error::Busy)) => ("error.busy", String::new()),
            Self::Web(WebError::Domain(keystep_core::Error::Invalid { field, reason })) => {
                ("error.bad_request", format!("{field}: {reason}"))
            }
            Self::Web(WebError::Domain(keystep_core::Error::SessionNotFound)) => {
                ("error.session_ended", String::new())
            }
            Self::Web(e) if e.is_unavailable() => ("error.unavailable", String::new()),
            Self::Web(_) => ("error.internal", String::new()),
        })
    }
}

/// What [`render_errors`] needs to render an error response as a page.
#[derive(Debug, Clone)]
struct ErrorExplanation {
    key: &'static str,
    detail: String,
    /// A way on from the page (to reload a refused form).
    link: Option<String>,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Explained { status, .. } => *status,
            Self::SeeOther(_) => StatusCode::SEE_OTHER,
            Self::FormExpired { .. } => StatusCode::BAD_REQUEST,
            Self::Web(WebError::Domain(
                keystep_core::Error::Invalid { .. } | keystep_core::Error::SessionNotFound,
            )) => StatusCode::BAD_REQUEST,
            Self::Web(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Web(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            Self::Web(WebError::Domain(keystep_core::Error::Busy)) => {
                tracing::warn!("password hashing busy; request refused for now");
            }
            Self::Web(e) if status.is_server_error() => {
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    tracing::warn!(error = %e, "dependency unavailable");
                } else {
                    tracing::error!(error = %e, "request failed");
                }
            }
            Self::FormExpired { .. } => {
                tracing::info!("form refused: CSRF token did not match")
            }
            _ => tracing::debug!(error = %self, "page error"),
        }
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Self::SeeOther(location) = self {
            response.insert_header((header::LOCATION, location.as_str()));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // The busy and unavailable cases pass quickly.
            response.insert_header((header::RETRY_AFTER, "5"));
        }
        let mut response =
            response
                .content_type("text/plain; charset=utf-8")
                .body(if status.is_server_error() {
                    "An internal error occurred.".to_owned()
                } else {
                    status.canonical_reason().unwrap_or_default().to_owned()
                });
        if let Some((key, detail)) = self.explanation() {
            response.extensions_mut().insert(ErrorExplanation {
                key,
                detail,
                link: match self {
                    Self::FormExpired { reload } => Some(reload.clone()),
                    _ => None,
                },
            });
        }
        response
    }
}

/// The page for an error response: the explanation in the request's language, with the
/// response's status and headers (`Retry-After`) kept.
fn explained_page(page: &Page, error: &ErrorExplanation, status: StatusCode) -> HttpResponse {
    let lang = page.lang(None);
    let paragraphs = vec![page.message(&lang, error.key, &[("detail", &error.detail)])];
    let message = Message {
        link: error.link.as_deref().map(|path| (path, "error.reload")),
        ..Message::new("error.title", "error.heading", &paragraphs)
    };
    page.say(status, &lang, &message)
}

fn with_headers_of(mut page: HttpResponse, original: &header::HeaderMap) -> HttpResponse {
    for name in [header::RETRY_AFTER, header::LOCATION] {
        if let Some(value) = original.get(&name) {
            page.headers_mut().insert(name, value.clone());
        }
    }
    page
}

/// Renders an error page now (for code that answers an error without returning it).
pub fn error_page(page: &Page, error: &PageError) -> HttpResponse {
    let response = error.error_response();
    let explanation = response.extensions().get::<ErrorExplanation>().cloned();
    match explanation {
        Some(explanation) => with_headers_of(
            explained_page(page, &explanation, response.status()),
            response.headers(),
        ),
        None => redirect_to_this_server(page, response.status(), response.headers()),
    }
}

/// A [`PageError::SeeOther`] carries a path; the `Location` a browser gets is absolute.
fn redirect_to_this_server(
    state: &AppState,
    status: StatusCode,
    headers: &header::HeaderMap,
) -> HttpResponse {
    match headers.get(header::LOCATION).and_then(|l| l.to_str().ok()) {
        Some(path) if path.starts_with('/') => see_other(state, path),
        _ => HttpResponse::build(status)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
    }
}

/// Middleware: turns every [`PageError`] response — from a handler or an extractor — into its
/// page, rendered once here.
pub async fn render_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let explanation = res
        .response()
        .extensions()
        .get::<ErrorExplanation>()
        .cloned();
    let is_redirect = res.status() == StatusCode::SEE_OTHER
        && res
            .headers()
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .is_some_and(|l| l.starts_with('/'));
    let Ok(page) = Page::of(res.request()) else {
        return Ok(res.map_into_boxed_body());
    };
    if let Some(explanation) = explanation {
        let page = explained_page(&page, &explanation, res.status());
        let page = with_headers_of(page, res.headers());
        return Ok(res.into_response(page).map_into_boxed_body());
    }
    if is_redirect {
        let page = redirect_to_this_server(&page, res.status(), res.headers());
        return Ok(res.into_response(page).map_into_boxed_body());
    }
    Ok(res.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_returns_by_get_or_not_at_all() {
        let get = actix_web::test::TestRequest::get()
            .uri("/login?interaction=abc")
            .to_http_request();
        assert_eq!(
            here(&get, &json!({})).as_deref(),
            Some("/login?interaction=abc")
        );
        let post = actix_web::test::TestRequest::post()
            .uri("/login/mfa")
            .to_http_request();
        assert_eq!(
            here(&post, &json!({"step_query": "interaction=abc"})).as_deref(),
            Some("/login/mfa?interaction=abc")
        );
        assert_eq!(
            here(&post, &json!({"here": "/u/sessions"})).as_deref(),
            Some("/u/sessions")
        );
        // The recovery codes, shown once after a POST, cannot be gone back to.
        assert_eq!(here(&post, &json!({"codes": ["a"]})), None);
    }
}
