//! The second-factor check, one use case for every place a code is asked for: the sign-in's
//! code and recovery-code pages, and the user center before it removes factors or makes new
//! recovery codes. It applies the attempt throttle, tries the accepted methods, warns on a
//! replayed code, writes the audit trail (which method, how many recovery codes are left),
//! and — for a sign-in — upgrades the session to aal2 under a new token.

use keystep_core::audit::{self, AuditKind, NewAuditEvent};
use keystep_core::db::DbConn;
use keystep_core::sessions::{self, Device};
use keystep_core::users::User;
use keystep_core::Services;
use serde_json::json;

use crate::factors;
use crate::method::{Method, Occasion, Verification};

/// A code presented for a person.
#[derive(Debug, Clone, Copy)]
pub struct CodeAttempt<'a> {
    /// Whose.
    pub user_id: &'a str,
    /// The session the code is entered in: a mailed code belongs to the session it was sent
    /// for.
    pub session_id: &'a str,
    /// Where: a mailed code belongs to the occasion it was sent for too.
    pub occasion: Occasion,
    /// What they typed.
    pub code: &'a str,
    /// The methods this form accepts, tried in order.
    pub methods: &'a [Method],
    /// The relying party the sign-in is for, if any.
    pub client_id: Option<&'a str>,
    /// Where the request came from.
    pub device: Device<'a>,
}

/// What the check came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Accepted by `method`; for a recovery code, how many are left.
    Verified {
        /// The method that accepted it.
        method: Method,
        /// Unused recovery codes left, when a recovery code was used.
        recovery_codes_left: Option<i64>,
    },
    /// Wrong (or replayed).
    Wrong,
    /// Too many wrong codes: locked until this Unix second.
    Locked {
        /// Unix seconds.
        until: i64,
        /// This code used up the day's attempts: mail the person once the transaction is
        /// over ([`mail_day_lock`]).
        day_tripped: bool,
    },
}

/// Tells the person that their second factor is locked for the day, when `check` is the code
/// that locked it. Call it after the check's transaction.
pub fn mail_day_lock(services: &Services, user: &User, check: &CodeCheck, lang: Option<&str>) {
    if matches!(
        check,
        CodeCheck::Locked {
            day_tripped: true,
            ..
        }
    ) {
        factors::mail_day_lock(services, user, lang);
    }
}

/// Checks a code inside the caller's transaction, so what it guards (removing factors, new
/// recovery codes, the session upgrade) commits with the spent code or not at all.
#[tracing::instrument(skip_all, fields(user_id = %attempt.user_id))]
pub fn check_code(
    services: &Services,
    conn: &mut DbConn,
    attempt: &CodeAttempt<'_>,
) -> keystep_core::Result<CodeCheck> {
    let clock = services.clock.as_ref();
    let event =
        |kind| NewAuditEvent::by_user(kind, attempt.user_id, attempt.device, attempt.client_id);
    let ip = attempt.device.ip;
    let counted = match factors::count_attempt(services, attempt.user_id, ip)? {
        Ok(counted) => counted,
        Err(until) => {
            return Ok(CodeCheck::Locked {
                until,
                day_tripped: false,
            })
        }
    };
    // A right code used a second time is refused like a wrong one, but it is worth more than a
    // warning in the log: someone holds a code that was typed moments ago (a phishing relay,
    // a shoulder), so the audit event says so too.
    let mut replayed = false;
    for &method in attempt.methods {
        match method.verify(
            services,
            conn,
            attempt.user_id,
            (attempt.session_id, attempt.occasion),
            attempt.code,
        )? {
            Verification::Accepted {
                recovery_codes_left,
            } => {
                factors::reset_failures(services, attempt.user_id)?;
                audit::record(
                    conn,
                    clock,
                    &event(AuditKind::SecondFactorVerified)
                        .with_detail(json!({"method": method.as_str()})),
                )?;
                if let Some(left) = recovery_codes_left {
                    audit::record(
                        conn,
                        clock,
                        &event(AuditKind::RecoveryCodeUsed).with_detail(json!({"remaining": left})),
                    )?;
                }
                return Ok(CodeCheck::Verified {
                    method,
                    recovery_codes_left,
                });
            }
            Verification::Replayed => {
                tracing::warn!(method = method.as_str(), "second-factor code replayed");
                replayed = true;
            }
            Verification::Wrong => {}
        }
    }
    // The method the code was meant for, by its form: a mistyped recovery code at a form that
    // takes both is logged as a recovery code.
    let tried = attempt
        .methods
        .iter()
        .find(|m| m.fits(attempt.code))
        .or(attempt.methods.first())
        .map_or("none", |m| m.as_str());
    audit::record(
        conn,
        clock,
        &event(AuditKind::SecondFactorFailed).with_detail(if replayed {
            json!({"method": tried, "replayed": true})
        } else {
            json!({"method": tried})
        }),
    )?;
    if let Some(lock) = factors::record_failure(services, attempt.user_id, ip, counted)? {
        tracing::warn!(
            for_the_day = lock.day_tripped,
            "second factor locked after too many wrong codes"
        );
        let locked = event(AuditKind::SecondFactorLocked);
        let locked = if lock.day_tripped {
            locked.with_detail(json!({"window": "day"}))
        } else {
            locked
        };
        audit::record(conn, clock, &locked)?;
        return Ok(CodeCheck::Locked {
            until: lock.until,
            day_tripped: lock.day_tripped,
        });
    }
    Ok(CodeCheck::Wrong)
}

/// The second step of a sign-in: checks the code and, when it is right, records the second
/// factor in the session (aal2, a new `auth_time`) and returns the session's new cookie token.
/// Opens its own write transaction.
pub fn step_up(
    services: &Services,
    session_id: &str,
    attempt: &CodeAttempt<'_>,
) -> keystep_core::Result<(CodeCheck, Option<String>)> {
    services.db.write(|conn| {
        let check = check_code(services, conn, attempt)?;
        let CodeCheck::Verified { method, .. } = check else {
            return Ok((check, None));
        };
        let (_, token) = sessions::record_second_factor(
            conn,
            services.clock.as_ref(),
            session_id,
            method.as_str(),
        )?;
        Ok((check, Some(token)))
    })
}

#[cfg(test)]
mod tests {
    use keystep_core::signin;
    use keystep_core::testing::{self, TestServices};
    use keystep_core::users::User;

    use super::*;
    use crate::testing::{bound, code_now};

    fn check(t: &TestServices, user: &User, code: &str, methods: &[Method]) -> CodeCheck {
        let attempt = CodeAttempt {
            user_id: &user.id,
            session_id: "s",
            occasion: Occasion::SignIn,
            code,
            methods,
            client_id: None,
            device: Device::default(),
        };
        t.write(|conn| check_code(&t.services, conn, &attempt))
    }

    fn events_now(t: &TestServices, user: &User) -> Vec<(String, String)> {
        t.read(|conn| audit::list_for_user(conn, &user.id, 100))
            .into_iter()
            .rev()
            .map(|e| (e.event, e.detail))
            .collect()
    }

    #[test]
    fn a_code_is_accepted_once_and_its_replay_is_refused() {
        let t = testing::services();
        let (ada, secret, _) = bound(&t);
        let code = code_now(&t, &secret);
        assert_eq!(
            check(&t, &ada, &code, &[Method::Totp]),
            CodeCheck::Verified {
                method: Method::Totp,
                recovery_codes_left: None
            }
        );
        assert_eq!(check(&t, &ada, &code, &[Method::Totp]), CodeCheck::Wrong);
        let events = events_now(&t, &ada);
        assert_eq!(events[0].0, "second_factor_verified");
        assert_eq!(events[0].1, r#"{"method":"totp"}"#);
        assert_eq!(events[1].0, "second_factor_failed");
        assert_eq!(
            events[1].1, r#"{"method":"totp","replayed":true}"#,
            "the replay is on record, wherever the code was entered (sign-in or /u)"
        );
        assert_eq!(check(&t, &ada, "000000", &[Method::Totp]), CodeCheck::Wrong);
        assert_eq!(
            events_now(&t, &ada)[2].1,
            r#"{"method":"totp"}"#,
            "a plain wrong code"
        );
    }

    #[test]
    fn a_recovery_code_counts_only_where_it_is_accepted_and_is_logged_with_what_is_left() {
        let t = testing::services();
        let (ada, _, codes) = bound(&t);
        assert_eq!(
            check(&t, &ada, &codes[0], &[Method::Totp]),
            CodeCheck::Wrong,
            "an authenticator-only form takes no recovery code"
        );
        assert_eq!(
            check(&t, &ada, &codes[0], &[Method::Totp, Method::RecoveryCode]),
            CodeCheck::Verified {
                method: Method::RecoveryCode,
                recovery_codes_left: Some(9)
            }
        );
        assert_eq!(
            check(&t, &ada, &codes[0], &[Method::RecoveryCode]),
            CodeCheck::Wrong,
            "spent"
        );
        assert_eq!(
            check(
                &t,
                &ada,
                "zzzz-zzzz-zzzz",
                &[Method::Totp, Method::RecoveryCode]
            ),
            CodeCheck::Wrong
        );
        let events = events_now(&t, &ada);
        assert_eq!(
            events.last().map(|(e, d)| (e.as_str(), d.as_str())),
            Some(("second_factor_failed", r#"{"method":"recovery_code"}"#)),
            "logged under the method the code was meant for"
        );
        assert!(events
            .iter()
            .any(|(e, d)| e == "recovery_code_used" && d == r#"{"remaining":9}"#));
        assert!(events
            .iter()
            .any(|(e, d)| e == "second_factor_verified" && d == r#"{"method":"recovery_code"}"#));
    }

    #[test]
    fn the_limit_locks_every_method_until_the_window_ends() {
        let t = testing::services();
        let (ada, secret, codes) = bound(&t);
        let max = t.services.config.mfa.max_failures;
        for n in 1..=max {
            let refused = check(&t, &ada, "000000", &[Method::Totp]);
            if n < max {
                assert_eq!(refused, CodeCheck::Wrong);
            } else {
                assert!(matches!(refused, CodeCheck::Locked { .. }), "{refused:?}");
            }
        }
        let right = code_now(&t, &secret);
        assert!(matches!(
            check(&t, &ada, &right, &[Method::Totp]),
            CodeCheck::Locked { .. }
        ));
        assert!(matches!(
            check(&t, &ada, &codes[1], &[Method::RecoveryCode]),
            CodeCheck::Locked { .. }
        ));
        assert!(events_now(&t, &ada)
            .iter()
            .any(|(e, _)| e == "second_factor_locked"));
    }

    #[test]
    fn step_up_moves_the_session_to_aal2_under_a_new_token() {
        let t = testing::services();
        let (ada, secret, _) = bound(&t);
        let signed_in = t.sign_in("ada");
        let code = code_now(&t, &secret);
        let (check, token) = step_up(
            &t.services,
            &signed_in.session.id,
            &CodeAttempt {
                user_id: &ada.id,
                session_id: &signed_in.session.id,
                occasion: Occasion::SignIn,
                code: &code,
                methods: &[Method::Totp],
                client_id: None,
                device: Device::default(),
            },
        )
        .unwrap();
        assert!(matches!(check, CodeCheck::Verified { .. }));
        let token = token.unwrap();
        assert_ne!(token, signed_in.token);
        let session = t
            .write(|conn| signin::current_session(&t.services, conn, &token))
            .unwrap()
            .0;
        let lifetimes = t.services.config.session_lifetimes();
        let now = keystep_core::clock::Clock::now(t.clock.as_ref());
        assert_eq!(
            session.aal(now, &lifetimes),
            keystep_core::sessions::Aal::Aal2
        );
        assert_eq!(session.second_factor_method.as_deref(), Some("totp"));
    }
}
