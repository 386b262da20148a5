//! keystep-web: the HTTP glue that keystep's protocol and page crates share — the application
//! state, the one crossing from async handlers into sync domain code (on the blocking pool,
//! in a transaction), the mapping of domain errors to responses, and the security headers.
//! It holds no protocol logic and no pages of its own.

mod error;
mod headers;
mod state;

pub use error::WebError;
pub use headers::security_headers;
pub use state::{run_blocking, AppState};
