//! Rendering pages: language, template, no-store, and error pages that say what happened in
//! words a person understands while the detail goes to the log.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::state::AppState;

/// The language for this request: `ui_locales` if given, then Accept-Language.
pub fn lang(state: &AppState, req: &HttpRequest, ui_locales: Option<&str>) -> String {
    let accept = req
        .headers()
        .get(actix_web::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    state.templates.messages().negotiate(ui_locales, accept)
}

/// A message from the catalogue in `lang`, or the key itself when missing (never panics).
pub fn message(state: &AppState, lang: &str, key: &str, args: &[(&str, &str)]) -> String {
    state
        .templates
        .messages()
        .format(lang, key, args)
        .unwrap_or_else(|| key.to_owned())
}

/// Renders `template` with `context` (an object; `lang` is added) as an HTML response.
pub fn render(
    state: &AppState,
    status: StatusCode,
    template: &str,
    lang: &str,
    mut context: Value,
) -> HttpResponse {
    if let Value::Object(map) = &mut context {
        map.insert("lang".into(), Value::String(lang.to_owned()));
    }
    match state.templates.render(template, &context) {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(template, error = %e, "template failed to render");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .insert_header(("Cache-Control", "no-store"))
                .body("An internal error occurred.")
        }
    }
}

/// A page that only says something: title, heading, paragraphs.
pub fn message_page(
    state: &AppState,
    status: StatusCode,
    lang: &str,
    title_key: &str,
    heading_key: &str,
    paragraphs: &[String],
) -> HttpResponse {
    let context = json!({
        "title": message(state, lang, title_key, &[]),
        "heading": message(state, lang, heading_key, &[]),
        "paragraphs": paragraphs,
    });
    render(state, status, "message", lang, context)
}

/// An error a person sees as a page.
#[derive(Debug, Clone)]
pub struct PageError {
    /// HTTP status.
    pub status: StatusCode,
    /// Catalogue key of the explanation (`error.unknown_client`).
    pub message_key: &'static str,
    /// A detail that may be shown (never a secret), for `{detail}`.
    pub detail: String,
}

impl PageError {
    /// An error page with a catalogue message.
    pub fn new(status: StatusCode, message_key: &'static str) -> Self {
        Self {
            status,
            message_key,
            detail: String::new(),
        }
    }

    /// A 400 page showing what was wrong with the request.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message_key: "error.bad_request",
            detail: detail.into(),
        }
    }
}

impl From<crate::WebError> for PageError {
    fn from(e: crate::WebError) -> Self {
        use actix_web::ResponseError;
        let status = e.status_code();
        if matches!(e, crate::WebError::Domain(keystep_core::Error::Busy)) {
            tracing::warn!("password hashing busy; sign-in refused for now");
            Self::new(status, "error.busy")
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %e, "dependency unavailable");
            Self::new(status, "error.unavailable")
        } else {
            tracing::error!(error = %e, "request failed");
            Self::new(StatusCode::INTERNAL_SERVER_ERROR, "error.internal")
        }
    }
}

/// Renders an error page.
pub fn error_page(state: &AppState, req: &HttpRequest, error: &PageError) -> HttpResponse {
    let lang = lang(state, req, None);
    let paragraphs = vec![message(
        state,
        &lang,
        error.message_key,
        &[("detail", &error.detail)],
    )];
    let mut response = message_page(
        state,
        error.status,
        &lang,
        "error.title",
        "error.heading",
        &paragraphs,
    );
    if error.status == StatusCode::SERVICE_UNAVAILABLE {
        // RFC 9110 §10.2.3: when to come back; the busy and unavailable cases pass quickly.
        response.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from_static("5"),
        );
    }
    response
}
