//! Protocol errors, each mapped to its response once: the token-endpoint errors of RFC 6749
//! §5.2 (JSON, `invalid_client` as 401 with `WWW-Authenticate`) and the bearer-token errors of
//! RFC 6750 §3 (`WWW-Authenticate: Bearer error=…`). Authorization-endpoint errors are
//! redirects or pages and live with the authorize handler.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use keystep_web::WebError;
use serde_json::json;

/// An error of the token, revocation or introspection endpoint (RFC 6749 §5.2).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {description}")]
pub struct TokenError {
    /// The spec's error code.
    pub code: &'static str,
    /// A human-readable description (never a secret).
    pub description: String,
}

impl TokenError {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
    /// `invalid_request`
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", d)
    }
    /// `invalid_client` (401)
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new("invalid_client", d)
    }
    /// `invalid_grant`
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", d)
    }
    /// `unauthorized_client`
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new("unauthorized_client", d)
    }
    /// `unsupported_grant_type`
    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_grant_type", d)
    }
    /// `invalid_scope`
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new("invalid_scope", d)
    }
    /// `server_error` (500)
    pub fn server_error() -> Self {
        Self::new("server_error", "an internal error occurred")
    }
    /// `temporarily_unavailable` (503)
    pub fn unavailable() -> Self {
        Self::new(
            "temporarily_unavailable",
            "the service is temporarily unavailable; try again shortly",
        )
    }
}

impl From<WebError> for TokenError {
    fn from(e: WebError) -> Self {
        if e.status_code() == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %e, "dependency unavailable");
            Self::unavailable()
        } else {
            tracing::error!(error = %e, "token endpoint failed");
            Self::server_error()
        }
    }
}

impl ResponseError for TokenError {
    fn status_code(&self) -> StatusCode {
        match self.code {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Pragma", "no-cache"));
        if self.code == "invalid_client" {
            response.insert_header((
                "WWW-Authenticate",
                r#"Basic realm="keystep", charset="UTF-8""#,
            ));
        }
        response.json(json!({"error": self.code, "error_description": self.description}))
    }
}

/// An error of a bearer-protected endpoint (RFC 6750 §3.1).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {description}")]
pub struct BearerError {
    /// `invalid_request`, `invalid_token` or `insufficient_scope`; empty when no token came.
    pub code: &'static str,
    /// A human-readable description.
    pub description: String,
}

impl BearerError {
    /// No credentials at all: a bare challenge (RFC 6750 §3.1).
    pub fn missing() -> Self {
        Self {
            code: "",
            description: String::new(),
        }
    }
    /// `invalid_token`
    pub fn invalid_token(d: impl Into<String>) -> Self {
        Self {
            code: "invalid_token",
            description: d.into(),
        }
    }
    /// `invalid_request`
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self {
            code: "invalid_request",
            description: d.into(),
        }
    }
    /// `insufficient_scope`
    pub fn insufficient_scope(d: impl Into<String>) -> Self {
        Self {
            code: "insufficient_scope",
            description: d.into(),
        }
    }
}

impl From<WebError> for BearerError {
    fn from(e: WebError) -> Self {
        tracing::warn!(error = %e, "bearer endpoint failed");
        Self {
            code: "server_error",
            description: "temporarily unavailable".into(),
        }
    }
}

impl ResponseError for BearerError {
    fn status_code(&self) -> StatusCode {
        match self.code {
            "invalid_request" => StatusCode::BAD_REQUEST,
            "insufficient_scope" => StatusCode::FORBIDDEN,
            "server_error" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let challenge = if self.code.is_empty() || self.code == "server_error" {
            r#"Bearer realm="keystep""#.to_owned()
        } else {
            format!(
                r#"Bearer realm="keystep", error="{}", error_description="{}""#,
                self.code,
                self.description.replace(['"', '\\'], "'")
            )
        };
        let mut response = HttpResponse::build(self.status_code());
        response
            .insert_header(("WWW-Authenticate", challenge))
            .insert_header(("Cache-Control", "no-store"));
        if self.code.is_empty() {
            response.finish()
        } else {
            response.json(json!({"error": self.code, "error_description": self.description}))
        }
    }
}
