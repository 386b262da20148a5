//! keystep-mfa: second factors without any web framework — TOTP (RFC 6238) with a replay
//! guard, recovery codes, enrollment, the attempt throttle, MFA reset requests, and the
//! step-up decision (what a sign-in needs). Methods share one shape (enroll, confirm, verify,
//! remove) so the decision asks for "a second factor", never for TOTP by name.

pub mod enrollment;
pub mod factors;
pub mod recovery;
pub mod reset;
pub mod stepup;
pub mod totp;
