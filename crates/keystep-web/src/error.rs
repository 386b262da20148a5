//! The mapping of domain errors to HTTP responses, done once here. What a person sees and what
//! is logged are separate: 5xx bodies are generic, the detail goes to the log, once.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use keystep_core::Error;
use serde::Serialize;

/// An error at the HTTP boundary.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A domain error.
    #[error(transparent)]
    Domain(#[from] Error),
    /// Something in the glue itself failed.
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Domain(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Domain(Error::Invalid { .. }) => StatusCode::BAD_REQUEST,
            Self::Domain(Error::InvalidCredentials | Error::UserDisabled) => {
                StatusCode::UNAUTHORIZED
            }
            Self::Domain(Error::UserNotFound(_) | Error::ClientNotFound(_)) => {
                StatusCode::NOT_FOUND
            }
            Self::Domain(Error::UsernameTaken(_) | Error::ClientIdTaken(_)) => StatusCode::CONFLICT,
            Self::Domain(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (code, description) = if status.is_server_error() {
            if status == StatusCode::SERVICE_UNAVAILABLE {
                tracing::warn!(error = %self, "dependency unavailable");
                (
                    "temporarily_unavailable",
                    "The service is temporarily unavailable; try again shortly.".to_owned(),
                )
            } else {
                tracing::error!(error = %self, "request failed");
                ("server_error", "An internal error occurred.".to_owned())
            }
        } else {
            ("invalid_request", self.to_string())
        };
        HttpResponse::build(status)
            .insert_header(("Cache-Control", "no-store"))
            .json(ErrorBody {
                error: code,
                error_description: &description,
            })
    }
}
