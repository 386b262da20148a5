//! Password sign-in as one use case, shared by the login page and every place the user center
//! asks for the password again: the per-account and per-IP throttles, the hash (with no
//! transaction open), the audit trail, and the throttle reset on success. Also the live
//! session behind a cookie, which ends a disabled person's session where it is found.
//!
//! It knows nothing of HTTP: callers pass where the request came from as a [`Device`].

use std::time::Duration;

use crate::audit::{self, AuditKind, NewAuditEvent};
use crate::db::DbConn;
use crate::error::{Error, Result};
use crate::sessions::{self, Device, Session};
use crate::throttle::{Limit, Throttle};
use crate::users::{self, User};
use crate::Services;

/// The ephemeral-store scopes of the two sign-in throttles.
const PER_ACCOUNT: &str = "login-account";
const PER_IP: &str = "login-ip";

/// One password presented for an account.
#[derive(Debug, Clone, Copy)]
pub struct PasswordAttempt<'a> {
    /// The username as typed.
    pub username: &'a str,
    /// The password as typed.
    pub password: &'a str,
    /// The relying party the sign-in is for, if any (for the audit log).
    pub client_id: Option<&'a str>,
    /// Where the request came from.
    pub device: Device<'a>,
}

/// Why a password was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown username or wrong password: one answer for both (no enumeration).
    Wrong,
    /// The password was right but the account is disabled.
    Disabled,
    /// Too many failures for this account or from this address; locked until this Unix second.
    Locked {
        /// Unix seconds.
        until: i64,
    },
}

/// A completed sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The person, as verified.
    pub user: User,
    /// Their session (continued or new).
    pub session: Session,
    /// The session's new cookie token: the old one stops working (no session fixation).
    pub token: String,
}

/// The per-account and the per-address throttle of password guesses.
fn throttles(services: &Services) -> (Throttle<'_>, Throttle<'_>) {
    let login = &services.config.login;
    let window = Duration::from_secs(login.failure_window_seconds);
    let limit = |max_failures| Limit {
        max_failures,
        window,
    };
    (
        Throttle::new(services, PER_ACCOUNT, limit(login.max_failures_per_account)),
        Throttle::new(services, PER_IP, limit(login.max_failures_per_ip)),
    )
}

/// Checks a password under both throttles and records a failure in the audit log. Opens no
/// transaction across the hash; call it with none open.
#[tracing::instrument(skip_all)]
pub fn check_password(
    services: &Services,
    attempt: &PasswordAttempt<'_>,
) -> Result<std::result::Result<User, Refusal>> {
    // Usernames have at most 64 characters: a longer name is no account, and cutting it
    // keeps what one typed name costs the store small.
    let account: String = users::normalize_username(attempt.username)
        .chars()
        .take(65)
        .collect();
    let ip = attempt.device.ip.unwrap_or_default();
    let clock = services.clock.as_ref();
    let (per_account, per_ip) = throttles(services);
    // A locked address is refused before anything is counted for the name it typed, so it
    // cannot keep creating counters (one per name) after it was locked.
    if let Some(until) = per_ip.locked_until(ip)? {
        tracing::warn!(ip, "password refused: too many failures from this address");
        return Ok(Err(Refusal::Locked { until }));
    }
    // The account's attempt is counted before the hash, not after: checked first and
    // counted later, every guess in flight (as many as the hashing queue holds) would pass
    // the check before any of them was counted.
    if let Some(until) = per_account.count_attempt(&account)? {
        tracing::warn!(ip, "password refused: too many failures");
        return Ok(Err(Refusal::Locked { until }));
    }
    let refusal = match users::verify_password(
        &services.db,
        &services.passwords,
        clock,
        attempt.username,
        attempt.password,
    ) {
        Ok(user) => {
            per_account.reset(&account)?;
            return Ok(Ok(user));
        }
        Err(Error::InvalidCredentials) => Refusal::Wrong,
        Err(Error::UserDisabled) => Refusal::Disabled,
        Err(e) => return Err(e),
    };
    per_ip.record_failure(ip)?;
    // The same work whether the name exists or not (one audit row, one commit), so the time
    // a refusal takes does not tell which names exist. The typed name is not kept: people
    // type their password there by mistake.
    services.db.write(|conn| {
        let user = users::find_by_username(conn, attempt.username)?;
        let (device, client_id) = (attempt.device, attempt.client_id);
        let event = match &user {
            Some(user) => {
                NewAuditEvent::by_user(AuditKind::SignInFailed, &user.id, device, client_id)
            }
            None => NewAuditEvent::anonymous(AuditKind::SignInFailed, device, client_id),
        };
        audit::record(conn, clock, &event)
    })?;
    Ok(Err(refusal))
}

/// Inside the write that acts on a [`check_password`] result: the password may have been
/// changed (and sessions ended), or the account disabled, while it was hashed.
pub fn confirm_unchanged(
    conn: &mut DbConn,
    verified: &User,
) -> Result<std::result::Result<(), Refusal>> {
    match users::confirm_unchanged(conn, verified) {
        Ok(()) => Ok(Ok(())),
        Err(Error::InvalidCredentials) => Ok(Err(Refusal::Wrong)),
        Err(Error::UserDisabled) => Ok(Err(Refusal::Disabled)),
        Err(e) => Err(e),
    }
}

/// A whole password sign-in: [`check_password`], then one short write that starts the
/// session (or continues `previous_token`'s, when it is the same person's, under a new token)
/// and records `signed_in`.
pub fn sign_in(
    services: &Services,
    attempt: &PasswordAttempt<'_>,
    previous_token: Option<&str>,
) -> Result<std::result::Result<SignedIn, Refusal>> {
    let user = match check_password(services, attempt)? {
        Ok(user) => user,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let lifetimes = services.config.session_lifetimes();
    let clock = services.clock.as_ref();
    services.db.write(|conn| {
        if let Err(refusal) = confirm_unchanged(conn, &user)? {
            return Ok(Err(refusal));
        }
        let (session, token) = sessions::sign_in_with_password(
            conn,
            clock,
            &lifetimes,
            &user.id,
            previous_token,
            attempt.device,
        )?;
        audit::record(
            conn,
            clock,
            &NewAuditEvent::by_user(
                AuditKind::SignedIn,
                &user.id,
                attempt.device,
                attempt.client_id,
            ),
        )?;
        Ok(Ok(SignedIn {
            user: user.clone(),
            session,
            token,
        }))
    })
}

/// The live session behind a cookie token, with its person. A session whose person has been
/// disabled is ended here, wherever it is presented.
pub fn current_session(
    services: &Services,
    conn: &mut DbConn,
    token: &str,
) -> Result<Option<(Session, User)>> {
    let lifetimes = services.config.session_lifetimes();
    let clock = services.clock.as_ref();
    let Some(session) = sessions::find_live(conn, clock, &lifetimes, token)? else {
        return Ok(None);
    };
    match users::find_by_id(conn, &session.user_id)? {
        Some(user) if !user.disabled => Ok(Some((session, user))),
        _ => {
            crate::signout::end_session(services, conn, &session.id)?;
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    fn attempt<'a>(username: &'a str, password: &'a str) -> PasswordAttempt<'a> {
        PasswordAttempt {
            username,
            password,
            client_id: Some("shop"),
            device: Device {
                ip: Some("192.0.2.7"),
                user_agent: Some("test"),
                lang: None,
            },
        }
    }

    #[test]
    fn a_right_password_signs_in_and_a_wrong_one_is_audited() {
        let t = testing::services();
        let ada = t.user("ada");
        let signed_in = sign_in(&t.services, &attempt("Ada", testing::PASSWORD), None)
            .unwrap()
            .unwrap();
        assert_eq!(signed_in.user.id, ada.id);
        assert_eq!(signed_in.session.user_id, ada.id);
        assert_eq!(
            sign_in(&t.services, &attempt("ada", "wrong password"), None)
                .unwrap()
                .err(),
            Some(Refusal::Wrong)
        );
        assert_eq!(
            sign_in(&t.services, &attempt("nobody", "wrong password"), None)
                .unwrap()
                .err(),
            Some(Refusal::Wrong),
            "an unknown name is answered like a wrong password"
        );
        assert_eq!(t.events(&ada.id), ["sign_in_failed", "signed_in"]);
        // The unknown name cost the same write: an event of nobody's, without the name.
        let recent = t.read(|conn| audit::list_recent(conn, 10));
        let anonymous: Vec<_> = recent.iter().filter(|e| e.actor == "anonymous").collect();
        assert_eq!(anonymous.len(), 1, "{recent:?}");
        assert_eq!(anonymous[0].event, "sign_in_failed");
        assert_eq!(anonymous[0].user_id, None);
        assert!(!anonymous[0].detail.contains("nobody"));
    }

    #[test]
    fn the_account_locks_after_its_limit_and_a_right_password_resets_the_count() {
        let t = testing::services();
        t.user("ada");
        let max = t.services.config.login.max_failures_per_account;
        // One short of the limit, then the right password: the count starts again.
        for _ in 1..max {
            let refused = check_password(&t.services, &attempt("ada", "nope")).unwrap();
            assert_eq!(refused.err(), Some(Refusal::Wrong));
        }
        assert!(
            check_password(&t.services, &attempt("ada", testing::PASSWORD))
                .unwrap()
                .is_ok()
        );
        for _ in 0..max {
            let refused = check_password(&t.services, &attempt("ada", "nope")).unwrap();
            assert_eq!(refused.err(), Some(Refusal::Wrong));
        }
        let locked = check_password(&t.services, &attempt("ada", testing::PASSWORD)).unwrap();
        assert!(
            matches!(locked, Err(Refusal::Locked { until }) if until > crate::clock::Clock::now(t.clock.as_ref())),
            "{locked:?}"
        );
    }

    #[test]
    fn a_disabled_person_is_refused_and_their_session_ends_where_it_is_presented() {
        let t = testing::services();
        let ada = t.user("ada");
        let signed_in = t.sign_in("ada");
        let found = t.write(|conn| current_session(&t.services, conn, &signed_in.token));
        assert_eq!(found.map(|(s, _)| s.id), Some(signed_in.session.id.clone()));
        t.write(|conn| users::set_disabled(conn, t.clock.as_ref(), "ada", true));
        let found = t.write(|conn| current_session(&t.services, conn, &signed_in.token));
        assert!(found.is_none());
        let gone = t.read(|conn| sessions::find_by_id(conn, &signed_in.session.id));
        assert!(gone.is_none(), "the disabled person's session is ended");
        assert_eq!(
            sign_in(&t.services, &attempt("ada", testing::PASSWORD), None)
                .unwrap()
                .err(),
            Some(Refusal::Disabled)
        );
        let _ = ada;
    }

    #[test]
    fn signing_in_again_continues_the_session_under_a_new_token() {
        let t = testing::services();
        t.user("ada");
        let first = sign_in(&t.services, &attempt("ada", testing::PASSWORD), None)
            .unwrap()
            .unwrap();
        let again = sign_in(
            &t.services,
            &attempt("ada", testing::PASSWORD),
            Some(&first.token),
        )
        .unwrap()
        .unwrap();
        assert_eq!(again.session.id, first.session.id);
        assert_ne!(again.token, first.token);
    }
}
