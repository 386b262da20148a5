//! What a person does to their own second factors from the user center, each guarded by a
//! current second factor checked in the same transaction: turning two-step verification off
//! (an authenticator code or a recovery code), and making ten new recovery codes (an
//! authenticator code only: a recovery code must not mint ten new ones).

use keystep_core::audit::{self, AuditKind, NewAuditEvent};
use keystep_core::mail::Notice;
use keystep_core::sessions::Device;
use keystep_core::users::User;
use keystep_core::Services;

use crate::check::{self, CodeAttempt, CodeCheck};
use crate::method::Method;
use crate::{factors, recovery};

/// Why the current code was not enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefused {
    /// Wrong (or replayed).
    Wrong,
    /// Too many wrong codes; until this Unix second.
    Locked {
        /// Unix seconds.
        until: i64,
    },
}

fn refused(check: CodeCheck) -> Option<CodeRefused> {
    match check {
        CodeCheck::Verified { .. } => None,
        CodeCheck::Wrong => Some(CodeRefused::Wrong),
        CodeCheck::Locked { until, .. } => Some(CodeRefused::Locked { until }),
    }
}

/// Runs `then` in one write transaction with a current code checked first (by `methods`);
/// when the code is refused, nothing else happens, and a code that locked the second factor
/// for the day has the person mailed after the transaction.
fn with_current_code<T>(
    services: &Services,
    user: &User,
    attempt: &CodeAttempt<'_>,
    then: impl FnOnce(&mut keystep_core::db::DbConn) -> keystep_core::Result<T>,
) -> keystep_core::Result<Result<T, CodeRefused>> {
    let outcome = services.db.write(|conn| {
        let check = check::check_code(services, conn, attempt)?;
        if refused(check).is_some() {
            return Ok(Err(check));
        }
        then(conn).map(Ok)
    })?;
    Ok(outcome.map_err(|check| {
        check::mail_day_lock(services, user, &check, attempt.device.lang);
        refused(check).unwrap_or(CodeRefused::Wrong)
    }))
}

/// Removes the authenticator and every recovery code, after a current code; mails the person
/// once it has committed.
pub fn turn_off(
    services: &Services,
    user: &User,
    code: &str,
    device: Device<'_>,
) -> keystep_core::Result<Result<(), CodeRefused>> {
    let attempt = CodeAttempt {
        user_id: &user.id,
        code,
        methods: &[Method::Totp, Method::RecoveryCode],
        client_id: None,
        device,
    };
    let outcome = with_current_code(services, user, &attempt, |conn| {
        factors::remove_all(conn, &user.id)?;
        audit::record(
            conn,
            services.clock.as_ref(),
            &NewAuditEvent::by_user(AuditKind::MfaRemoved, &user.id, device, None),
        )
    })?;
    if outcome.is_ok() {
        let removed = Notice::SecondFactorRemoved;
        services.notify_after_commit(user, &removed, device.lang);
    }
    Ok(outcome)
}

/// Replaces the recovery codes with ten new ones (returned, to show once), after a current
/// authenticator code.
pub fn new_recovery_codes(
    services: &Services,
    user: &User,
    code: &str,
    device: Device<'_>,
) -> keystep_core::Result<Result<Vec<String>, CodeRefused>> {
    let attempt = CodeAttempt {
        user_id: &user.id,
        code,
        methods: &[Method::Totp],
        client_id: None,
        device,
    };
    with_current_code(services, user, &attempt, |conn| {
        let codes = recovery::regenerate(services, conn, &user.id)?;
        audit::record(
            conn,
            services.clock.as_ref(),
            &NewAuditEvent::by_user(AuditKind::RecoveryCodesRegenerated, &user.id, device, None),
        )?;
        Ok(codes)
    })
}

#[cfg(test)]
mod tests {
    use keystep_core::testing;

    use super::*;

    #[test]
    fn turning_off_needs_a_current_code_and_removes_everything() {
        let t = testing::services();
        let (ada, _, codes) = crate::testing::bound(&t);
        assert_eq!(
            new_recovery_codes(&t.services, &ada, &codes[0], Device::default()).unwrap(),
            Err(CodeRefused::Wrong),
            "a recovery code does not make new ones"
        );
        assert_eq!(
            turn_off(&t.services, &ada, "000000", Device::default()).unwrap(),
            Err(CodeRefused::Wrong)
        );
        let status = t.read(|conn| factors::status(conn, &ada.id));
        assert!(status.has_second_factor(), "a wrong code changes nothing");
        assert_eq!(
            turn_off(&t.services, &ada, &codes[1], Device::default()).unwrap(),
            Ok(())
        );
        let status = t.read(|conn| factors::status(conn, &ada.id));
        assert!(!status.has_second_factor());
        let mail = t.outbox().pop().unwrap();
        assert!(mail.contains("second_factor_removed"), "{mail}");
    }
}
