//! Security headers on every response. The CSP allows only same-origin resources and no
//! framing; `form-action` is deliberately absent, since browsers apply it to the redirect
//! after a form post and the login form must redirect to the relying party.

use actix_web::middleware::DefaultHeaders;

/// The headers middleware. `https` adds HSTS (only meaningful, and only safe to send, when
/// keystep is reached over TLS).
pub fn security_headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ))
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"));
    if https {
        headers.add(("Strict-Transport-Security", "max-age=31536000"))
    } else {
        headers
    }
}
