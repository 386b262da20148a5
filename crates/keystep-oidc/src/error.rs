//! Protocol errors, each mapped to its response once: the token-endpoint errors of RFC 6749
//! §5.2 (JSON, `invalid_client` as 401 with `WWW-Authenticate`) and the bearer-token errors of
//! RFC 6750 §3 (`WWW-Authenticate: Bearer error=…`). Authorization-endpoint errors are
//! redirects or pages and live with the authorize handler.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use keystep_web::WebError;
use serde_json::json;

/// The `error` codes of the token, revocation and introspection endpoints (RFC 6749 §5.2,
/// RFC 7009 §2.2.1), with the names openidconnect uses for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenErrorCode {
    /// `invalid_request`
    InvalidRequest,
    /// `invalid_client` (401 with a `Basic` challenge)
    InvalidClient,
    /// `invalid_grant`
    InvalidGrant,
    /// `unauthorized_client`
    UnauthorizedClient,
    /// `unsupported_grant_type`
    UnsupportedGrantType,
    /// `invalid_scope`
    InvalidScope,
    /// `invalid_target` (RFC 8707 §2): the `resource` is not one keystep issues tokens for.
    InvalidTarget,
    /// `server_error` (500)
    ServerError,
    /// `temporarily_unavailable` (503)
    TemporarilyUnavailable,
}

impl TokenErrorCode {
    /// The spec's code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// Constructors named after the codes they carry: `TokenError::invalid_grant("…")`.
macro_rules! named_after_codes {
    ($code:ident: $($name:ident => $variant:ident),+ $(,)?) => {
        $(
            #[doc = concat!("`", stringify!($name), "`")]
            pub fn $name(description: impl Into<String>) -> Self {
                Self::new($code::$variant, description)
            }
        )+
    };
}

/// An error of the token, revocation or introspection endpoint (RFC 6749 §5.2).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct TokenError {
    /// The spec's error code.
    pub code: TokenErrorCode,
    /// A human-readable description (never a secret).
    pub description: String,
}

impl TokenError {
    fn new(code: TokenErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
    named_after_codes!(TokenErrorCode:
        invalid_request => InvalidRequest,
        invalid_client => InvalidClient,
        invalid_grant => InvalidGrant,
        unauthorized_client => UnauthorizedClient,
        unsupported_grant_type => UnsupportedGrantType,
        invalid_scope => InvalidScope,
        invalid_target => InvalidTarget,
    );

    /// `server_error` (500)
    pub fn server_error() -> Self {
        Self::new(TokenErrorCode::ServerError, "an internal error occurred")
    }
    /// `temporarily_unavailable` (503)
    pub fn unavailable() -> Self {
        Self::new(
            TokenErrorCode::TemporarilyUnavailable,
            "the service is temporarily unavailable; try again shortly",
        )
    }
}

impl From<WebError> for TokenError {
    fn from(e: WebError) -> Self {
        if e.is_unavailable() {
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
            TokenErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            TokenErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            TokenErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Pragma", "no-cache"));
        match self.code {
            TokenErrorCode::InvalidClient => {
                response.insert_header((
                    "WWW-Authenticate",
                    r#"Basic realm="keystep", charset="UTF-8""#,
                ));
            }
            TokenErrorCode::TemporarilyUnavailable => {
                response.insert_header(("Retry-After", "5"));
            }
            _ => {}
        }
        response.json(json!({"error": self.code.as_str(), "error_description": self.description}))
    }
}

/// What went wrong at a bearer-protected endpoint (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerErrorCode {
    /// No credentials at all: a bare challenge, no `error` (RFC 6750 §3.1).
    Missing,
    /// `invalid_request` (400)
    InvalidRequest,
    /// `invalid_token` (401)
    InvalidToken,
    /// `insufficient_scope` (403)
    InsufficientScope,
    /// keystep itself failed (503, a bare challenge).
    Unavailable,
}

impl BearerErrorCode {
    /// The `error` attribute, when there is one.
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Self::Missing | Self::Unavailable => None,
            Self::InvalidRequest => Some("invalid_request"),
            Self::InvalidToken => Some("invalid_token"),
            Self::InsufficientScope => Some("insufficient_scope"),
        }
    }
}

/// An error of a bearer-protected endpoint (RFC 6750 §3.1).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?}: {description}")]
pub struct BearerError {
    /// What went wrong.
    pub code: BearerErrorCode,
    /// A human-readable description.
    pub description: String,
}

impl BearerError {
    fn new(code: BearerErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
    /// No credentials at all: a bare challenge (RFC 6750 §3.1).
    pub fn missing() -> Self {
        Self::new(BearerErrorCode::Missing, "")
    }
    named_after_codes!(BearerErrorCode:
        invalid_token => InvalidToken,
        invalid_request => InvalidRequest,
        insufficient_scope => InsufficientScope,
    );
}

impl From<WebError> for BearerError {
    fn from(e: WebError) -> Self {
        tracing::warn!(error = %e, "bearer endpoint failed");
        Self::new(BearerErrorCode::Unavailable, "temporarily unavailable")
    }
}

impl ResponseError for BearerError {
    fn status_code(&self) -> StatusCode {
        match self.code {
            BearerErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
            BearerErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
            BearerErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            BearerErrorCode::Missing | BearerErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let challenge = match self.code.as_str() {
            None => r#"Bearer realm="keystep""#.to_owned(),
            Some(code) => format!(
                r#"Bearer realm="keystep", error="{code}", error_description="{}""#,
                self.description.replace(['"', '\\'], "'")
            ),
        };
        let mut response = HttpResponse::build(self.status_code());
        response
            .insert_header(("WWW-Authenticate", challenge))
            .insert_header(("Cache-Control", "no-store"));
        match self.code {
            BearerErrorCode::Missing => response.finish(),
            BearerErrorCode::Unavailable => response.insert_header(("Retry-After", "5")).json(
                json!({"error": "temporarily_unavailable", "error_description": self.description}),
            ),
            _ => response
                .json(json!({"error": self.code.as_str(), "error_description": self.description})),
        }
    }
}
