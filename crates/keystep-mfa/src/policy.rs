//! The user center's and the sign-in pages' own rules about second factors, as pure functions
//! with tests: what a /u visit needs, when a password counts as recent, when replacing an
//! authenticator needs the current one, and when binding one at sign-in is what was asked for.
//! The step-up decision itself is [`crate::stepup`].

use keystep_core::config::{MfaConfig, MfaPolicyConfig};
use keystep_core::sessions::{Aal, Session};

use crate::factors::Status;
use crate::stepup::{self, Decision, SessionState, Situation, Step};

/// How recent a password must be to change sign-in settings (binding, replacing), in seconds.
pub const RECENT_PASSWORD_SECONDS: i64 = 5 * 60;

/// True when the session's password was entered within [`RECENT_PASSWORD_SECONDS`].
pub fn password_is_recent(session: &Session, now: i64) -> bool {
    now - session.password_verified_at <= RECENT_PASSWORD_SECONDS
}

/// True when the person already has a second factor but this session has not proven it:
/// replacing an authenticator then needs the current one first, so a stolen password and
/// mailbox cannot swap it out.
pub fn replacing_needs_current_factor(session_level: Aal, status: &Status) -> bool {
    session_level < Aal::Aal2 && status.has_second_factor()
}

/// Where a request to bind an authenticator at the sign-in pages comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollmentOrigin {
    /// A relying party's sign-in, with the step the protocol last sent the person to.
    SignIn {
        /// The interaction's pending step.
        pending_step: Option<Step>,
    },
    /// The user center (no relying party).
    UserCenter,
}

/// True when binding an authenticator at sign-in is what this sign-in asked for: enrollment
/// at sign-in is on, the person has no second factor yet, and the protocol sent them to this
/// step (or, from the user center, the global policy requires a second factor). Anything
/// else must go through the user center, which asks for a recent password and a mailed code.
pub fn enrollment_demanded(mfa: &MfaConfig, origin: EnrollmentOrigin, status: &Status) -> bool {
    let asked = match origin {
        EnrollmentOrigin::SignIn { pending_step } => pending_step == Some(Step::Enrollment),
        EnrollmentOrigin::UserCenter => mfa.policy == MfaPolicyConfig::Required,
    };
    mfa.enroll_at_login && asked && !status.has_second_factor()
}

/// What a visit to the user center needs: the step-up rules of a relying party that asks for
/// aal2 of everyone who holds a second factor, whatever `mfa.login` says. The user center
/// changes how the account signs in and shows where it is used: a password alone must not
/// open it for someone who has more. `session` is the live session's level, if there is one.
pub fn user_center(mfa: &MfaConfig, session: Option<Aal>, has_second_factor: bool) -> Decision {
    stepup::decide(&Situation {
        global: mfa.policy,
        client_requires_mfa: false,
        requested: has_second_factor.then_some(Aal::Aal2),
        login_mode: mfa.login,
        enroll_at_login: mfa.enroll_at_login,
        enroll_on_request: mfa.enroll_on_request,
        session: session.map(|level| SessionState { level, fresh: true }),
        has_second_factor,
        prompt_none: false,
    })
}

#[cfg(test)]
mod tests {
    use keystep_core::config::MfaLoginMode;

    use super::*;
    use crate::stepup::Refusal;

    const NONE: Status = Status::NONE;
    /// The default configuration with `change` made.
    fn config(change: fn(&mut MfaConfig)) -> MfaConfig {
        let mut config = MfaConfig::default();
        change(&mut config);
        config
    }

    /// A second factor required of everyone, and no enrollment offered at sign-in.
    fn required_without_enrollment() -> MfaConfig {
        config(|c| {
            c.policy = MfaPolicyConfig::Required;
            c.enroll_at_login = false;
        })
    }

    const BOUND: Status = Status {
        totp_bound_at: Some(1),
        recovery_codes_left: 10,
        ..Status::NONE
    };
    const ONLY_CODES: Status = Status {
        recovery_codes_left: 2,
        ..Status::NONE
    };

    fn session(password_verified_at: i64) -> Session {
        Session {
            id: "s".into(),
            token_hash: String::new(),
            user_id: "u".into(),
            created_at: 0,
            last_seen_at: 0,
            expires_at: i64::MAX,
            auth_time: password_verified_at,
            password_verified_at,
            second_factor_verified_at: None,
            second_factor_method: None,
            ip: None,
            user_agent: None,
        }
    }

    #[test]
    fn a_password_is_recent_for_five_minutes() {
        assert!(password_is_recent(&session(1000), 1000));
        assert!(password_is_recent(&session(1000), 1300));
        assert!(!password_is_recent(&session(1000), 1301));
    }

    #[test]
    fn replacing_needs_the_current_factor_only_below_aal2_when_one_is_held() {
        for (level, status, needed) in [
            (Aal::Aal1, NONE, false),
            (Aal::Aal1, BOUND, true),
            (Aal::Aal1, ONLY_CODES, true),
            (Aal::Aal2, BOUND, false),
            (Aal::Aal2, NONE, false),
        ] {
            assert_eq!(
                replacing_needs_current_factor(level, &status),
                needed,
                "{level:?} {status:?}"
            );
        }
    }

    #[test]
    fn enrollment_at_sign_in_only_when_asked_for_and_none_is_held() {
        let on = MfaConfig::default();
        let required = config(|c| c.policy = MfaPolicyConfig::Required);
        let off = required_without_enrollment();
        let asked = EnrollmentOrigin::SignIn {
            pending_step: Some(Step::Enrollment),
        };
        let elsewhere = EnrollmentOrigin::SignIn {
            pending_step: Some(Step::SecondFactor),
        };
        let cases = [
            (&on, asked, NONE, true),
            (&on, asked, BOUND, false),
            (&on, asked, ONLY_CODES, false),
            (&on, elsewhere, NONE, false),
            (
                &on,
                EnrollmentOrigin::SignIn { pending_step: None },
                NONE,
                false,
            ),
            (&on, EnrollmentOrigin::UserCenter, NONE, false),
            (&required, EnrollmentOrigin::UserCenter, NONE, true),
            (&required, EnrollmentOrigin::UserCenter, BOUND, false),
            (&off, asked, NONE, false),
            (&off, EnrollmentOrigin::UserCenter, NONE, false),
        ];
        for (config, origin, status, demanded) in cases {
            assert_eq!(
                enrollment_demanded(config, origin, &status),
                demanded,
                "{origin:?} {status:?} policy {:?} enroll {}",
                config.policy,
                config.enroll_at_login
            );
        }
    }

    #[test]
    fn the_user_center_asks_for_the_second_factor_of_whoever_has_one() {
        let always = MfaConfig::default();
        let on_demand = config(|c| c.login = MfaLoginMode::OnDemand);
        let required_no_enroll = required_without_enrollment();
        let cases = [
            (&always, None, true, Decision::Ask(Step::Password)),
            (&always, Some(Aal::Aal1), false, Decision::Issue(Aal::Aal1)),
            (
                &always,
                Some(Aal::Aal1),
                true,
                Decision::Ask(Step::SecondFactor),
            ),
            (
                &on_demand,
                Some(Aal::Aal1),
                true,
                Decision::Ask(Step::SecondFactor),
            ),
            (
                &on_demand,
                Some(Aal::Aal1),
                false,
                Decision::Issue(Aal::Aal1),
            ),
            (&always, Some(Aal::Aal2), true, Decision::Issue(Aal::Aal2)),
            (
                &required_no_enroll,
                Some(Aal::Aal1),
                false,
                Decision::Fail(Refusal::UnmetAuthenticationRequirements),
            ),
        ];
        for (config, level, has_second_factor, expected) in cases {
            assert_eq!(
                user_center(config, level, has_second_factor),
                expected,
                "{level:?} second factor {has_second_factor} login {:?}",
                config.login
            );
        }
    }
}
