//! The error of the crossing into domain code: a domain error, or the glue itself failing.
//! It is not a response of its own: each response type maps it once — pages
//! ([`crate::page::PageError`]), and the protocol's JSON errors in keystep-oidc — and the
//! detail goes to the log there, once.

use keystep_core::Error;

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

impl WebError {
    /// True when the failure may pass (a dependency is down, the hashing queue is full): the
    /// answer is 503 with `Retry-After`, never 500.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Domain(e) if e.is_unavailable())
    }
}
