//! CSRF protection for every form: the double-submit pattern. A random token lives in an
//! HttpOnly cookie and in a hidden field; a POST is accepted only when both are present and
//! equal (compared in constant time). A forging site can neither read the cookie nor set it.

use actix_web::cookie::Cookie;
use actix_web::HttpRequest;
use keystep_core::opaque::{constant_time_eq, random_token};

use crate::cookies::{self, CookieKind};

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
/// the token itself.
#[derive(Debug)]
pub struct CsrfForm<T>(pub T);

#[derive(serde::Deserialize)]
struct WithToken<T> {
    #[serde(default)]
    csrf_token: String,
    #[serde(flatten)]
    form: T,
}

impl<T> actix_web::FromRequest for CsrfForm<T>
where
    T: serde::de::DeserializeOwned + 'static,
{
    type Error = crate::page::PageError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let form = actix_web::web::Form::<WithToken<T>>::from_request(&req, payload);
        Box::pin(async move {
            let https = req
                .app_data::<actix_web::web::Data<crate::AppState>>()
                .is_some_and(|s| s.https);
            let form = form
                .await
                .map_err(|e| crate::page::PageError::bad_request(e.to_string()))?
                .into_inner();
            if !verify(&req, https, &form.csrf_token) {
                return Err(crate::page::PageError::FormExpired);
            }
            Ok(Self(form.form))
        })
    }
}
