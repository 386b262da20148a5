//! The ways a person proves the second step, behind one shape: each method verifies a code
//! for a person and says whether the person holds it. The step-up decision asks for "a
//! second factor", never for a method by name; a new method (mailed codes, SMS, passkeys) is
//! one more variant with one more arm per operation here, and a module of its own.

use keystep_core::db::DbConn;
use keystep_core::Services;

use crate::email;
use crate::factors::Status;
use crate::recovery::{self, RecoveryCheck};
use crate::totp::{self, TotpCheck};

/// A second-factor method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// A code from an authenticator app (RFC 6238).
    Totp,
    /// A code mailed to the account's address for this sign-in.
    EmailCode,
    /// One of the person's one-time recovery codes.
    RecoveryCode,
}

/// What a method proves, for a client that may one day require a phishing-resistant or a
/// non-delivered method: room in the model, no policy built on it yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strength {
    /// A one-time fallback code, held on paper or in a password manager.
    Fallback,
    /// A code delivered over a channel another party runs (a mailbox, a phone number): it
    /// proves access to that channel, and a phishing page can relay it.
    Delivered,
    /// A code from a secret only the person's device holds; a phishing page can still relay
    /// it.
    DeviceSecret,
}

/// Where a code is asked for. A delivered code is kept for its occasion and session, so one
/// mailed to finish a sign-in does not confirm a change in the user center, nor the other way
/// round, and a new one for one occasion does not replace the other's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occasion {
    /// The second step of a sign-in.
    SignIn,
    /// A change in the user center behind a current code.
    Change,
}

/// The methods a person binds and chooses between, in the order they are offered when no
/// preference is set. Recovery codes come with the first and are never chosen.
pub const CHOOSABLE: [Method; 2] = [Method::Totp, Method::EmailCode];

/// What presenting a code to one method came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Accepted and spent; for recovery codes, how many are left.
    Accepted {
        /// Unused recovery codes left, when the method was a recovery code.
        recovery_codes_left: Option<i64>,
    },
    /// Wrong code, or the person does not hold this method.
    Wrong,
    /// A right code that was used already (RFC 6238 §5.2): refused, and worth a warning.
    Replayed,
}

impl Method {
    /// The name stored in sessions, preferences and audit events, and used in page paths
    /// (`totp`, `email`, `recovery_code`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::EmailCode => "email",
            Self::RecoveryCode => "recovery_code",
        }
    }

    /// The method of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Totp, Self::EmailCode, Self::RecoveryCode]
            .into_iter()
            .find(|m| m.as_str() == name)
    }

    /// What the method proves.
    pub fn strength(self) -> Strength {
        match self {
            Self::Totp => Strength::DeviceSecret,
            Self::EmailCode => Strength::Delivered,
            Self::RecoveryCode => Strength::Fallback,
        }
    }

    /// True when `code` has this method's form (six digits; twelve recovery-code symbols), so
    /// a refused code is logged under the method it was meant for.
    pub fn fits(self, code: &str) -> bool {
        match self {
            Self::Totp | Self::EmailCode => {
                totp::normalize_code(code).len() == usize::from(totp::DIGITS)
            }
            Self::RecoveryCode => recovery::normalize(code).len() == 12,
        }
    }

    /// True when the person holds this method.
    pub fn is_held(self, status: &Status) -> bool {
        match self {
            Self::Totp => status.totp_bound_at.is_some(),
            Self::EmailCode => status.email_bound_at.is_some(),
            Self::RecoveryCode => status.recovery_codes_left > 0,
        }
    }

    /// Checks `code` for the person and spends it: each code is accepted once, even when
    /// two requests race (a conditional UPDATE, or an atomic take from the shared store for a
    /// mailed code, which belongs to the session and occasion it was sent for).
    pub fn verify(
        self,
        services: &Services,
        conn: &mut DbConn,
        user_id: &str,
        (session_id, occasion): (&str, Occasion),
        code: &str,
    ) -> keystep_core::Result<Verification> {
        Ok(match self {
            Self::EmailCode => {
                if email::take_code(services, occasion, session_id, code)? {
                    Verification::Accepted {
                        recovery_codes_left: None,
                    }
                } else {
                    Verification::Wrong
                }
            }
            Self::Totp => match totp::verify(services, conn, user_id, code)? {
                TotpCheck::Accepted => Verification::Accepted {
                    recovery_codes_left: None,
                },
                TotpCheck::Wrong => Verification::Wrong,
                TotpCheck::Replayed => Verification::Replayed,
            },
            Self::RecoveryCode => match recovery::spend(services, conn, user_id, code)? {
                RecoveryCheck::Accepted { remaining } => Verification::Accepted {
                    recovery_codes_left: Some(remaining),
                },
                RecoveryCheck::Wrong => Verification::Wrong,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_holding_follows_the_status() {
        for method in [Method::Totp, Method::EmailCode, Method::RecoveryCode] {
            assert_eq!(Method::parse(method.as_str()), Some(method));
        }
        assert_eq!(Method::parse("sms"), None);
        assert!(Method::Totp.fits("123 456") && !Method::Totp.fits("abcd-efgh-jkmn"));
        assert!(Method::EmailCode.fits("123456") && !Method::EmailCode.fits("12345"));
        assert!(
            Method::RecoveryCode.fits("abcd-efgh-jkmn") && !Method::RecoveryCode.fits("123456")
        );
        let none = Status::NONE;
        let all = Status {
            totp_bound_at: Some(1),
            email_bound_at: Some(2),
            recovery_codes_left: 3,
            preferred: None,
        };
        for method in [Method::Totp, Method::EmailCode, Method::RecoveryCode] {
            assert!(!method.is_held(&none) && method.is_held(&all), "{method:?}");
        }
        assert!(Method::Totp.strength() > Method::EmailCode.strength());
        assert!(Method::EmailCode.strength() > Method::RecoveryCode.strength());
    }
}
