//! keystep-web: the HTTP glue that keystep's protocol and page crates share — application
//! state, the one crossing from async handlers into sync domain code (on the blocking pool,
//! in a transaction), templates and the message catalogue, cookies and CSRF, the pending
//! interaction that carries a sign-in between `/oidc/auth` and `/login`, error mapping and
//! security headers. It holds no protocol logic and no pages of its own.

pub mod cookies;
pub mod csrf;
mod error;
mod headers;
pub mod i18n;
pub mod interaction;
pub mod page;
pub mod paths;
pub mod request;
pub mod session;
mod state;
pub mod templates;

pub use error::WebError;
pub use headers::security_headers;
pub use page::PageError;
pub use state::{run_blocking, run_read, run_write, AppState};

use actix_web::{web, HttpResponse};

/// `GET /static/{file}`: the stylesheet and the little JavaScript the pages use.
pub async fn get_static(state: web::Data<AppState>, file: web::Path<String>) -> HttpResponse {
    match state.templates.static_file(&file) {
        Some((content_type, bytes)) => HttpResponse::Ok()
            .content_type(content_type)
            .insert_header(("Cache-Control", "public, max-age=3600"))
            .body(bytes.to_vec()),
        None => HttpResponse::NotFound().finish(),
    }
}
