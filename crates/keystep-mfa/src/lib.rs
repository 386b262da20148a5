//! keystep-mfa: second factors without any web framework — the methods (TOTP, RFC 6238,
//! with a replay guard; mailed codes; recovery codes) behind one shape, a person's several
//! methods with a preferred one, the second-factor check with its
//! attempt throttle and audit trail, enrollment, mailed codes, what a person may change in the
//! user center and when ([`policy`]), MFA reset requests, and the step-up decision (what a
//! sign-in needs). The decision asks for "a second factor", never for TOTP by name.

pub mod check;
pub mod email;
pub mod enrollment;
pub mod factors;
pub mod mailed_code;
pub mod manage;
pub mod method;
pub mod policy;
pub mod recovery;
pub mod reset;
pub mod stepup;
#[cfg(test)]
mod testing;
pub mod totp;
