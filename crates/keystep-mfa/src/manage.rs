//! What a person does to their own second factors from the user center: removing one method
//! or all of them (turning two-step verification off), and making ten new recovery codes, each
//! guarded by a current second factor checked in the same transaction (a code of any method
//! they hold; a recovery code too, except for new recovery codes: one must not mint ten new
//! ones); and choosing the method sign-ins offer first.

use keystep_core::audit::{self, AuditKind, NewAuditEvent};
use keystep_core::db::DbConn;
use keystep_core::mail::Notice;
use keystep_core::sessions::Device;
use keystep_core::users::{self, User};
use keystep_core::Services;

use serde_json::json;

use crate::check::{self, CodeAttempt, CodeCheck};
use crate::factors::Status;
use crate::method::{Method, Occasion, Strength};
use crate::{factors, recovery};

/// Why the change did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefused {
    /// Wrong (or replayed).
    Wrong,
    /// Too many wrong codes; until this Unix second.
    Locked {
        /// Unix seconds.
        until: i64,
    },
    /// The method to change is not one the person holds (a stale page, or a forged form):
    /// no code was checked.
    NotHeld,
}

fn refused(check: CodeCheck) -> Option<CodeRefused> {
    match check {
        CodeCheck::Verified { .. } => None,
        CodeCheck::Wrong => Some(CodeRefused::Wrong),
        CodeCheck::Locked { until, .. } => Some(CodeRefused::Locked { until }),
    }
}

/// Who asks for a change, with the code they typed to prove a current second factor.
#[derive(Debug, Clone, Copy)]
pub struct CurrentCode<'a> {
    /// The person.
    pub user: &'a User,
    /// Their session (a mailed code belongs to the session it was sent for).
    pub session_id: &'a str,
    /// The code: from a method they hold, or a recovery code where one is accepted.
    pub code: &'a str,
    /// Where the request came from.
    pub device: Device<'a>,
}

/// Runs `then` in one write transaction with a current code checked first, by the methods
/// `accepts` names for the person's factors (`None`: the change does not apply to them, and
/// no code is checked); when the code is refused, nothing else happens, and a code that
/// locked the second factor for the day has the person mailed after the transaction. The
/// person's row is locked first, so two changes at once see each other's result (the second
/// waits for the first to commit).
fn with_current_code<T>(
    services: &Services,
    current: &CurrentCode<'_>,
    accepts: impl FnOnce(&Status) -> Option<Vec<Method>>,
    then: impl FnOnce(&mut DbConn, &Status) -> keystep_core::Result<T>,
) -> keystep_core::Result<Result<T, CodeRefused>> {
    let user = current.user;
    let outcome = services.db.write(|conn| {
        users::lock_for_change(conn, &user.id)?;
        let status = factors::status(conn, &user.id)?;
        let Some(methods) = accepts(&status) else {
            return Ok(Err(None));
        };
        let attempt = CodeAttempt {
            user_id: &user.id,
            session_id: current.session_id,
            occasion: Occasion::Change,
            code: current.code,
            methods: &methods,
            client_id: None,
            device: current.device,
        };
        let check = check::check_code(services, conn, &attempt)?;
        if refused(check).is_some() {
            return Ok(Err(Some(check)));
        }
        then(conn, &status).map(Ok)
    })?;
    Ok(outcome.map_err(|check| match check {
        Some(check) => {
            check::mail_day_lock(services, user, &check, current.device.lang);
            refused(check).unwrap_or(CodeRefused::Wrong)
        }
        None => CodeRefused::NotHeld,
    }))
}

fn record(
    services: &Services,
    conn: &mut DbConn,
    current: &CurrentCode<'_>,
    kind: AuditKind,
    method: Option<Method>,
) -> keystep_core::Result<()> {
    let event = NewAuditEvent::by_user(kind, &current.user.id, current.device, None);
    let event = match method {
        Some(method) => event.with_detail(json!({"method": method.as_str()})),
        None => event,
    };
    audit::record(conn, services.clock.as_ref(), &event)
}

/// Removes every method and every recovery code (two-step verification is off), after a
/// current code ([`may_turn_off`]); mails the person once it has committed.
pub fn turn_off(
    services: &Services,
    current: &CurrentCode<'_>,
) -> keystep_core::Result<Result<(), CodeRefused>> {
    let outcome = with_current_code(services, current, may_turn_off, |conn, _| {
        factors::remove_all(conn, &current.user.id)?;
        record(services, conn, current, AuditKind::MfaRemoved, None)
    })?;
    if outcome.is_ok() {
        let removed = Notice::SecondFactorRemoved;
        services.notify_after_commit(current.user, &removed, current.device.lang);
    }
    Ok(outcome)
}

/// What removing one method came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// Gone; the person's other methods (and recovery codes) stay.
    Method,
    /// It was the last: two-step verification is off, and the recovery codes are gone too.
    Everything,
}

/// The codes that may remove methods as strong as `floor`: those of the person's methods
/// that prove at least as much ([`Method::strength`]: a mailed code does not remove the
/// authenticator), and recovery codes, the way back for a person who lost the device.
fn proving_at_least(floor: Strength, status: &Status) -> Vec<Method> {
    let mut methods: Vec<Method> = status
        .methods()
        .into_iter()
        .filter(|m| m.strength() >= floor)
        .collect();
    methods.push(Method::RecoveryCode);
    methods
}

/// The codes that may remove `method` ([`proving_at_least`] its strength); `None` when the
/// person does not hold it.
fn may_remove(method: Method, status: &Status) -> Option<Vec<Method>> {
    if method == Method::RecoveryCode || !method.is_held(status) {
        return None;
    }
    Some(proving_at_least(method.strength(), status))
}

/// The codes that may turn two-step verification off: as for removing the strongest method
/// the person holds, since it goes too.
fn may_turn_off(status: &Status) -> Option<Vec<Method>> {
    let strongest = status.strongest().unwrap_or(Strength::Fallback);
    Some(proving_at_least(strongest, status))
}

/// Removes one method after a current code ([`may_remove`]). Removing the last one turns
/// two-step verification off, recovery codes and all. Mails the person once it has committed.
pub fn remove_method(
    services: &Services,
    current: &CurrentCode<'_>,
    method: Method,
) -> keystep_core::Result<Result<Removed, CodeRefused>> {
    let user_id = &current.user.id;
    let accepts = |status: &Status| may_remove(method, status);
    let outcome = with_current_code(services, current, accepts, |conn, status| {
        if status.methods() == [method] {
            factors::remove_all(conn, user_id)?;
            record(services, conn, current, AuditKind::MfaRemoved, Some(method))?;
            return Ok(Removed::Everything);
        }
        factors::remove_method(conn, user_id, method)?;
        let kind = AuditKind::MfaMethodRemoved;
        record(services, conn, current, kind, Some(method))?;
        Ok(Removed::Method)
    })?;
    let notice = match outcome {
        Ok(Removed::Everything) => Some(Notice::SecondFactorRemoved),
        Ok(Removed::Method) => Some(Notice::MethodRemoved {
            method: method.as_str(),
        }),
        Err(_) => None,
    };
    if let Some(notice) = notice {
        services.notify_after_commit(current.user, &notice, current.device.lang);
    }
    Ok(outcome)
}

/// Makes `method`, which the person holds, the one their sign-ins offer first; audits it and
/// mails them. The user center lets in only a session that proved a second factor, so no
/// code is asked here. Returns false when they do not hold it.
pub fn set_preferred(
    services: &Services,
    user: &User,
    method: Method,
    device: Device<'_>,
) -> keystep_core::Result<bool> {
    let (held, changed) = services.db.write(|conn| {
        let status = factors::status(conn, &user.id)?;
        if method == Method::RecoveryCode || !method.is_held(&status) {
            return Ok((false, false));
        }
        if status.preferred == Some(method) {
            return Ok((true, false));
        }
        factors::set_preferred(services, conn, &user.id, method)?;
        let event = NewAuditEvent::by_user(AuditKind::MfaPreferredChanged, &user.id, device, None)
            .with_detail(json!({"method": method.as_str()}));
        audit::record(conn, services.clock.as_ref(), &event)?;
        Ok((true, true))
    })?;
    if changed {
        let notice = Notice::PreferredMethodChanged {
            method: method.as_str(),
        };
        services.notify_after_commit(user, &notice, device.lang);
    }
    Ok(held)
}

/// The codes that may make new recovery codes: those of the person's strongest methods, and
/// no recovery code. A recovery code removes any method, so minting ten must ask as much as
/// removing the strongest: a mailed code must not lead, through new recovery codes, to the
/// authenticator app's removal.
fn may_regenerate(status: &Status) -> Option<Vec<Method>> {
    let mut methods = proving_at_least(status.strongest()?, status);
    methods.retain(|m| *m != Method::RecoveryCode);
    Some(methods)
}

/// Replaces the recovery codes with ten new ones (returned, to show once), after a current
/// code of the person's strongest method ([`may_regenerate`]).
pub fn new_recovery_codes(
    services: &Services,
    current: &CurrentCode<'_>,
) -> keystep_core::Result<Result<Vec<String>, CodeRefused>> {
    with_current_code(services, current, may_regenerate, |conn, _| {
        let codes = recovery::regenerate(services, conn, &current.user.id)?;
        let kind = AuditKind::RecoveryCodesRegenerated;
        record(services, conn, current, kind, None)?;
        Ok(codes)
    })
}

#[cfg(test)]
mod tests {
    use keystep_core::testing::{self, TestServices};

    use super::*;

    fn current<'a>(user: &'a User, code: &'a str) -> CurrentCode<'a> {
        CurrentCode {
            user,
            session_id: "s",
            code,
            device: Device::default(),
        }
    }

    /// Ada as [`crate::testing::bound`] makes her, with mailed codes on too.
    fn with_email(t: &TestServices) -> (User, Vec<u8>, Vec<String>) {
        let (ada, secret, codes) = crate::testing::bound(t);
        t.write(|conn| factors::add_stored(&t.services, conn, &ada.id, Method::EmailCode, None));
        (ada, secret, codes)
    }

    #[test]
    fn turning_off_needs_a_current_code_and_removes_everything() {
        let t = testing::services();
        let (ada, _, codes) = with_email(&t);
        assert_eq!(
            new_recovery_codes(&t.services, &current(&ada, &codes[0])).unwrap(),
            Err(CodeRefused::Wrong),
            "a recovery code does not make new ones"
        );
        assert_eq!(
            turn_off(&t.services, &current(&ada, "000000")).unwrap(),
            Err(CodeRefused::Wrong)
        );
        let status = t.read(|conn| factors::status(conn, &ada.id));
        assert!(status.has_second_factor(), "a wrong code changes nothing");
        assert_eq!(
            turn_off(&t.services, &current(&ada, &codes[1])).unwrap(),
            Ok(())
        );
        let status = t.read(|conn| factors::status(conn, &ada.id));
        assert_eq!(status, Status::NONE, "every method and code is gone");
        let mail = t.outbox().pop().unwrap();
        assert!(mail.contains("second_factor_removed"), "{mail}");
    }

    #[test]
    fn removing_one_method_keeps_the_others_and_the_last_takes_the_codes() {
        let t = testing::services();
        let (ada, secret, codes) = with_email(&t);
        let code = crate::testing::code_now(&t, &secret);
        assert_eq!(
            remove_method(&t.services, &current(&ada, &code), Method::EmailCode).unwrap(),
            Ok(Removed::Method)
        );
        let status = t.read(|conn| factors::status(conn, &ada.id));
        assert_eq!(status.methods(), [Method::Totp]);
        assert_eq!(status.recovery_codes_left, 10);
        let mails = t.take_outbox();
        assert!(
            mails.len() == 1 && mails[0].contains("method_removed"),
            "{mails:?}"
        );
        assert_eq!(
            remove_method(&t.services, &current(&ada, &codes[0]), Method::EmailCode).unwrap(),
            Err(CodeRefused::NotHeld)
        );
        assert_eq!(
            t.read(|conn| factors::status(conn, &ada.id))
                .recovery_codes_left,
            10,
            "no code is spent on a method not held"
        );
        assert_eq!(
            remove_method(&t.services, &current(&ada, &codes[1]), Method::Totp).unwrap(),
            Ok(Removed::Everything)
        );
        let status = t.read(|conn| factors::status(conn, &ada.id));
        assert_eq!(status, Status::NONE);
        let mails = t.take_outbox();
        assert!(
            mails.len() == 1 && mails[0].contains("second_factor_removed"),
            "{mails:?}"
        );
    }

    #[test]
    fn the_preferred_method_is_offered_first_until_it_is_removed() {
        let t = testing::services();
        let (ada, _, codes) = with_email(&t);
        let status = t.read(|conn| factors::status(conn, &ada.id));
        assert_eq!(status.methods(), [Method::Totp, Method::EmailCode]);
        let device = Device::default();
        assert!(!set_preferred(&t.services, &ada, Method::RecoveryCode, device).unwrap());
        assert!(set_preferred(&t.services, &ada, Method::EmailCode, device).unwrap());
        assert!(t
            .take_outbox()
            .pop()
            .unwrap()
            .contains("preferred_method_changed"));
        let status = t.read(|conn| factors::status(conn, &ada.id));
        assert_eq!(status.methods(), [Method::EmailCode, Method::Totp]);
        assert_eq!(status.offered(), Some(Method::EmailCode));
        assert!(set_preferred(&t.services, &ada, Method::EmailCode, device).unwrap());
        assert!(t.outbox().is_empty(), "no change, no mail");
        remove_method(&t.services, &current(&ada, &codes[0]), Method::EmailCode)
            .unwrap()
            .unwrap();
        let status = t.read(|conn| factors::status(conn, &ada.id));
        assert_eq!(
            (status.preferred, status.offered()),
            (None, Some(Method::Totp))
        );
    }

    /// A code mailed to `user` to confirm a change in the session `s`.
    fn mailed_change_code(t: &TestServices, user: &User) -> String {
        crate::email::send_code(&t.services, Occasion::Change, "s", user, None).unwrap();
        let mail = t.take_outbox().pop().unwrap();
        let at = mail.find("code is: ").unwrap() + "code is: ".len();
        mail[at..at + 6].to_owned()
    }

    #[test]
    fn a_mailed_code_removes_codes_by_mail_but_not_the_authenticator() {
        let t = testing::services();
        let (ada, _, _) = with_email(&t);
        let code = &mailed_change_code(&t, &ada);
        assert_eq!(
            remove_method(&t.services, &current(&ada, code), Method::Totp).unwrap(),
            Err(CodeRefused::Wrong),
            "a code from the mailbox proves less than the app"
        );
        assert_eq!(
            turn_off(&t.services, &current(&ada, code)).unwrap(),
            Err(CodeRefused::Wrong),
            "nor does it turn everything off, the app with it"
        );
        assert_eq!(
            new_recovery_codes(&t.services, &current(&ada, code)).unwrap(),
            Err(CodeRefused::Wrong),
            "nor make recovery codes, which would remove the app"
        );
        let code = &mailed_change_code(&t, &ada);
        assert_eq!(
            remove_method(&t.services, &current(&ada, code), Method::EmailCode).unwrap(),
            Ok(Removed::Method)
        );
    }
}
