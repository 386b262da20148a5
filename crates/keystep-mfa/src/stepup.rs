//! The step-up decision: what a sign-in needs, from the global policy, the client's policy,
//! the person's own binding, the request (`acr_values`, essential `acr`), the session's level
//! and freshness, and `prompt`. The highest demand wins; the client's minimum cannot be
//! lowered by editing the URL. Step-up asks only for what is missing, and `prompt=none`
//! never shows a page (OIDC Core §3.1.2.1).

use keystep_core::config::{MfaLoginMode, MfaPolicyConfig};
use keystep_core::sessions::Aal;

/// The SSO session, as far as the decision cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionState {
    /// Its level now.
    pub level: Aal,
    /// False when `max_age` is exceeded or `prompt=login` asks for a new sign-in that has not
    /// happened yet.
    pub fresh: bool,
}

/// Everything the decision depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Situation {
    /// `mfa.policy`.
    pub global: MfaPolicyConfig,
    /// The client registered with `--mfa required`.
    pub client_requires_mfa: bool,
    /// The highest level the request asks for (`acr_values` or an essential `acr`).
    pub requested: Option<Aal>,
    /// `mfa.login`.
    pub login_mode: MfaLoginMode,
    /// `mfa.enroll_at_login`.
    pub enroll_at_login: bool,
    /// `mfa.enroll_on_request`: a request's own `acr_values` or essential `acr` may lead to
    /// enrollment too (otherwise only the global or the client's policy does).
    pub enroll_on_request: bool,
    /// The session, if there is a live one.
    pub session: Option<SessionState>,
    /// Whether the person (of the session) has a second factor bound.
    pub has_second_factor: bool,
    /// `prompt=none`.
    pub prompt_none: bool,
}

/// The page a sign-in goes to next. Stored in the pending interaction (as `password`,
/// `second_factor`, `enrollment`) so a page does its step only when it was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Username and password.
    Password,
    /// A second factor (TOTP or a recovery code).
    SecondFactor,
    /// Binding a second factor first.
    Enrollment,
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Issue the code now, at this level.
    Issue(Aal),
    /// Show a page.
    Ask(Step),
    /// Answer the relying party with this OAuth error.
    Fail(Refusal),
}

/// Why a sign-in cannot go on here: the OAuth errors of OIDC Core §3.1.2.6 and RFC 9470.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `login_required`: `prompt=none`, and there is no fresh session.
    LoginRequired,
    /// `interaction_required`: `prompt=none`, and a page would be needed.
    InteractionRequired,
    /// `unmet_authentication_requirements`: aal2 is needed, the person has no second factor
    /// and may not bind one at sign-in (enrollment there is off, or only the request asked
    /// and `mfa.enroll_on_request` is off).
    UnmetAuthenticationRequirements,
}

impl Refusal {
    /// The `error` code.
    pub fn error(self) -> &'static str {
        match self {
            Self::LoginRequired => "login_required",
            Self::InteractionRequired => "interaction_required",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
        }
    }

    /// An `error_description` for the relying party's developers.
    pub fn description(self) -> &'static str {
        match self {
            Self::LoginRequired => "the person must sign in",
            Self::InteractionRequired => {
                "a second factor is needed and prompt=none allows no page"
            }
            Self::UnmetAuthenticationRequirements => {
                "aal2 is required but the person has no second factor and may not bind one during this sign-in"
            }
        }
    }
}

/// The level this sign-in needs.
pub fn required_level(s: &Situation) -> Aal {
    let person_wants_mfa = s.has_second_factor && s.login_mode == MfaLoginMode::Always;
    if s.global == MfaPolicyConfig::Required
        || s.client_requires_mfa
        || s.requested == Some(Aal::Aal2)
        || person_wants_mfa
    {
        Aal::Aal2
    } else {
        Aal::Aal1
    }
}

/// Whether a person without a second factor may bind one during this sign-in.
pub fn may_enroll(s: &Situation) -> bool {
    let policy_requires = s.global == MfaPolicyConfig::Required || s.client_requires_mfa;
    s.enroll_at_login && (policy_requires || s.enroll_on_request)
}

/// Decides.
pub fn decide(s: &Situation) -> Decision {
    let Some(session) = s.session.filter(|session| session.fresh) else {
        return if s.prompt_none {
            Decision::Fail(Refusal::LoginRequired)
        } else {
            Decision::Ask(Step::Password)
        };
    };
    let needed = required_level(s);
    if session.level >= needed {
        return Decision::Issue(session.level);
    }
    // The session is at aal1 and aal2 is needed: only the second factor is missing.
    if s.has_second_factor {
        return if s.prompt_none {
            Decision::Fail(Refusal::InteractionRequired)
        } else {
            Decision::Ask(Step::SecondFactor)
        };
    }
    // Binding at sign-in needs only the password, so a request alone (anyone can add
    // acr_values=aal2 to a URL) must not lead a password holder to bind their own app to
    // the account; the deployment's or the client's policy may.
    if !may_enroll(s) {
        return Decision::Fail(Refusal::UnmetAuthenticationRequirements);
    }
    if s.prompt_none {
        Decision::Fail(Refusal::InteractionRequired)
    } else {
        Decision::Ask(Step::Enrollment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_situations() -> Vec<Situation> {
        let mut out = Vec::new();
        let sessions = [
            None,
            Some(SessionState {
                level: Aal::Aal1,
                fresh: true,
            }),
            Some(SessionState {
                level: Aal::Aal2,
                fresh: true,
            }),
            Some(SessionState {
                level: Aal::Aal1,
                fresh: false,
            }),
            Some(SessionState {
                level: Aal::Aal2,
                fresh: false,
            }),
        ];
        for global in [MfaPolicyConfig::Optional, MfaPolicyConfig::Required] {
            for client_requires_mfa in [false, true] {
                for requested in [None, Some(Aal::Aal1), Some(Aal::Aal2)] {
                    for login_mode in [MfaLoginMode::Always, MfaLoginMode::OnDemand] {
                        for (enroll_at_login, enroll_on_request) in
                            [(false, false), (false, true), (true, false), (true, true)]
                        {
                            for session in sessions {
                                for has_second_factor in [false, true] {
                                    for prompt_none in [false, true] {
                                        out.push(Situation {
                                            global,
                                            client_requires_mfa,
                                            requested,
                                            login_mode,
                                            enroll_at_login,
                                            enroll_on_request,
                                            session,
                                            has_second_factor,
                                            prompt_none,
                                        });
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// The rules, written independently of `decide`, checked on every combination.
    #[test]
    fn the_whole_decision_table() {
        let situations = all_situations();
        assert_eq!(situations.len(), 2 * 2 * 3 * 2 * 4 * 5 * 2 * 2);
        for s in situations {
            let decision = decide(&s);
            let aal2_needed = s.global == MfaPolicyConfig::Required
                || s.client_requires_mfa
                || s.requested == Some(Aal::Aal2)
                || (s.has_second_factor && s.login_mode == MfaLoginMode::Always);
            let expected = match s.session {
                None | Some(SessionState { fresh: false, .. }) if s.prompt_none => {
                    Decision::Fail(Refusal::LoginRequired)
                }
                None | Some(SessionState { fresh: false, .. }) => Decision::Ask(Step::Password),
                Some(SessionState {
                    level: Aal::Aal2, ..
                }) => Decision::Issue(Aal::Aal2),
                Some(SessionState {
                    level: Aal::Aal1, ..
                }) if !aal2_needed => Decision::Issue(Aal::Aal1),
                Some(_) if s.has_second_factor && s.prompt_none => {
                    Decision::Fail(Refusal::InteractionRequired)
                }
                Some(_) if s.has_second_factor => Decision::Ask(Step::SecondFactor),
                Some(_) if !s.enroll_at_login => {
                    Decision::Fail(Refusal::UnmetAuthenticationRequirements)
                }
                // Only the request asks for aal2: it may not lead to enrollment on its own.
                Some(_)
                    if !s.enroll_on_request
                        && s.global == MfaPolicyConfig::Optional
                        && !s.client_requires_mfa =>
                {
                    Decision::Fail(Refusal::UnmetAuthenticationRequirements)
                }
                Some(_) if s.prompt_none => Decision::Fail(Refusal::InteractionRequired),
                Some(_) => Decision::Ask(Step::Enrollment),
            };
            assert_eq!(decision, expected, "{s:?}");
            // prompt=none never shows a page.
            if s.prompt_none {
                assert!(!matches!(decision, Decision::Ask(_)), "{s:?}");
            }
        }
    }

    #[test]
    fn readable_cases() {
        let base = Situation {
            global: MfaPolicyConfig::Optional,
            client_requires_mfa: false,
            requested: None,
            login_mode: MfaLoginMode::OnDemand,
            enroll_at_login: true,
            enroll_on_request: false,
            session: Some(SessionState {
                level: Aal::Aal1,
                fresh: true,
            }),
            has_second_factor: true,
            prompt_none: false,
        };
        assert_eq!(
            decide(&base),
            Decision::Issue(Aal::Aal1),
            "on demand, nothing asked"
        );
        assert_eq!(
            decide(&Situation {
                requested: Some(Aal::Aal2),
                ..base
            }),
            Decision::Ask(Step::SecondFactor),
            "step-up asks only for the code"
        );
        assert_eq!(
            decide(&Situation {
                login_mode: MfaLoginMode::Always,
                ..base
            }),
            Decision::Ask(Step::SecondFactor)
        );
        assert_eq!(
            decide(&Situation {
                client_requires_mfa: true,
                has_second_factor: false,
                ..base
            }),
            Decision::Ask(Step::Enrollment)
        );
        assert_eq!(
            decide(&Situation {
                client_requires_mfa: true,
                has_second_factor: false,
                enroll_at_login: false,
                ..base
            }),
            Decision::Fail(Refusal::UnmetAuthenticationRequirements)
        );
        assert_eq!(
            decide(&Situation {
                requested: Some(Aal::Aal2),
                prompt_none: true,
                ..base
            }),
            Decision::Fail(Refusal::InteractionRequired)
        );
        assert_eq!(
            decide(&Situation {
                session: None,
                ..base
            }),
            Decision::Ask(Step::Password)
        );
        // acr_values=aal2 alone does not lead someone without a factor to bind one, unless
        // mfa.enroll_on_request allows it.
        let asked_by_the_request = Situation {
            requested: Some(Aal::Aal2),
            has_second_factor: false,
            ..base
        };
        assert_eq!(
            decide(&asked_by_the_request),
            Decision::Fail(Refusal::UnmetAuthenticationRequirements)
        );
        assert_eq!(
            decide(&Situation {
                enroll_on_request: true,
                ..asked_by_the_request
            }),
            Decision::Ask(Step::Enrollment)
        );
        // A client's minimum holds whatever the request says.
        assert_eq!(
            decide(&Situation {
                client_requires_mfa: true,
                requested: Some(Aal::Aal1),
                ..base
            }),
            Decision::Ask(Step::SecondFactor)
        );
    }
}
