//! CSRF protection for every form: the double-submit pattern. A random token lives in an
//! HttpOnly cookie and in a hidden field; a POST is accepted only when both are present and
//! equal (compared in constant time). A forging site can neither read the cookie nor set it.

use actix_web::cookie::Cookie;
use actix_web::HttpRequest;
use std::collections::HashMap;

use keystep_core::opaque::{constant_time_eq, random_token};

use crate::cookies::{self, CookieKind};
use crate::page::PageError;

/// The form field that carries the token.
pub const FIELD: &str = "csrf_token";

/// The token for a page, and the cookie to set when the browser had none.
#[derive(Debug)]
pub struct CsrfToken {
    /// Goes into the hidden field.
    pub token: String,
    /// Set this cookie on the response, when present.
    pub cookie: Option<Cookie<'static>>,
}

/// The token for a page with a form: the browser's current one, or a new one.
pub fn issue(req: &HttpRequest, https: bool) -> CsrfToken {
    match cookies::read(req, CookieKind::Csrf, https) {
        Some(token) => CsrfToken {
            token,
            cookie: None,
        },
        None => {
            let token = random_token();
            CsrfToken {
                cookie: Some(cookies::build(CookieKind::Csrf, token.clone(), https)),
                token,
            }
        }
    }
}

/// True when the form's token matches the cookie.
pub fn verify(req: &HttpRequest, https: bool, presented: &str) -> bool {
    match cookies::read(req, CookieKind::Csrf, https) {
        Some(expected) => !presented.is_empty() && constant_time_eq(&expected, presented),
        None => false,
    }
}

/// A form whose CSRF field matched the cookie. Extracting it refuses a forged or expired
/// form with [`PageError::FormExpired`] (400) before the handler runs, so no handler checks
/// the token itself; the refusal's page links back to the form, in the same flow.
#[derive(Debug)]
pub struct CsrfForm<T>(pub T);

/// The GET page a refused form came from, keeping its sign-in (`interaction`) or its way on
/// (`next`): the "reload the form" link of the refusal.
fn reload_path(req: &HttpRequest, fields: &HashMap<String, String>) -> String {
    let path = req.path();
    let id = fields.get("interaction").filter(|id| {
        !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    match (
        id,
        crate::paths::safe_next(fields.get("next").map(String::as_str)),
    ) {
        (Some(id), _) => crate::paths::with_interaction(path, id),
        (None, Some(next)) => crate::paths::with_next(path, &next),
        (None, None) => path.to_owned(),
    }
}

impl<T> actix_web::FromRequest for CsrfForm<T>
where
    T: serde::de::DeserializeOwned + 'static,
{
    type Error = PageError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        // Read as name/value pairs first (with actix's size limit and content-type check):
        // the token is checked, and the refusal knows its way back, before the form's own
        // type is parsed.
        let form = actix_web::web::Form::<HashMap<String, String>>::from_request(&req, payload);
        Box::pin(async move {
            let https = req
                .app_data::<actix_web::web::Data<crate::AppState>>()
                .is_some_and(|s| s.https);
            let fields = form
                .await
                .map_err(|e| PageError::bad_request(e.to_string()))?
                .into_inner();
            let presented = fields.get(FIELD).map(String::as_str).unwrap_or_default();
            if !verify(&req, https, presented) {
                return Err(PageError::FormExpired {
                    reload: reload_path(&req, &fields),
                });
            }
            let object = fields
                .into_iter()
                .filter(|(name, _)| name != FIELD)
                .map(|(name, value)| (name, serde_json::Value::String(value)))
                .collect();
            serde_json::from_value(serde_json::Value::Object(object))
                .map(Self)
                .map_err(|e| PageError::bad_request(e.to_string()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_form_goes_back_to_its_page_in_its_flow() {
        let req = actix_web::test::TestRequest::post()
            .uri("/login/mfa")
            .to_http_request();
        let fields = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            reload_path(
                &req,
                &fields(&[("interaction", "abc_DEF-1"), ("next", "/u")])
            ),
            "/login/mfa?interaction=abc_DEF-1"
        );
        assert_eq!(
            reload_path(
                &req,
                &fields(&[("interaction", ""), ("next", "/u/mfa/bind")])
            ),
            "/login/mfa?next=%2Fu%2Fmfa%2Fbind"
        );
        assert_eq!(
            reload_path(
                &req,
                &fields(&[
                    ("interaction", "x\"><script>"),
                    ("next", "https://evil.example/")
                ])
            ),
            "/login/mfa"
        );
    }
}
