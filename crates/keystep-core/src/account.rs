//! What a person changes about their own account from the user center: their password. The
//! current password is checked like a sign-in ([`signin::check_password`]: throttled,
//! audited), the new one against the rules, both hashes run with no transaction open, and one
//! short write replaces the hash, ends the other sessions when asked, and records it.

use crate::audit::{self, Actor, AuditKind, NewAuditEvent};
use crate::error::Result;
use crate::mail::Notice;
use crate::password::PasswordRule;
use crate::sessions::Device;
use crate::signin::{self, PasswordAttempt, Refusal};
use crate::signout::{self, Ender, Which};
use crate::users::{self, User};
use crate::Services;

/// A password change as the person asked for it.
#[derive(Debug, Clone, Copy)]
pub struct PasswordChange<'a> {
    /// Whose (the session's person).
    pub user: &'a User,
    /// The current password, as typed.
    pub current: &'a str,
    /// The new password.
    pub new: &'a str,
    /// The new password again.
    pub confirm: &'a str,
    /// Sessions of the person to end with the change, if any (the page offers every one but
    /// the asking session: `Which::AllBut`).
    pub end_sessions: Option<Which<'a>>,
    /// Where the request came from.
    pub device: Device<'a>,
}

/// Why a password change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeRefusal {
    /// The two new passwords differ.
    Mismatch,
    /// The new password breaks a rule.
    Rule(PasswordRule),
    /// The current password is wrong (or was changed meanwhile).
    WrongCurrent,
    /// Too many wrong passwords; until this Unix second.
    Locked {
        /// Unix seconds.
        until: i64,
    },
}

/// Changes the password; returns how many other sessions ended.
pub fn change_password(
    services: &Services,
    change: &PasswordChange<'_>,
) -> Result<std::result::Result<usize, ChangeRefusal>> {
    if change.new != change.confirm {
        return Ok(Err(ChangeRefusal::Mismatch));
    }
    if let Some(rule) = services.passwords.broken_rule(change.new) {
        return Ok(Err(ChangeRefusal::Rule(rule)));
    }
    let attempt = PasswordAttempt {
        username: &change.user.username,
        password: change.current,
        client_id: None,
        device: change.device,
    };
    let verified = match signin::check_password(services, &attempt)? {
        Ok(verified) => verified,
        Err(Refusal::Locked { until }) => return Ok(Err(ChangeRefusal::Locked { until })),
        Err(Refusal::Wrong | Refusal::Disabled) => return Ok(Err(ChangeRefusal::WrongCurrent)),
    };
    let password_hash = services.passwords.hash(change.new)?;
    let clock = services.clock.as_ref();
    let outcome = services.db.write(|conn| {
        // Changed meanwhile (another session, the CLI): the current password is not this.
        if signin::confirm_unchanged(conn, &verified)?.is_err() {
            return Ok(Err(ChangeRefusal::WrongCurrent));
        }
        users::set_password_hash(conn, clock, &verified.id, &password_hash)?;
        let by = Ender {
            actor: Actor::User(verified.id.clone()),
            device: change.device,
            reason: Some("password changed"),
        };
        let ended = match change.end_sessions {
            Some(which) => signout::end_sessions(services, conn, &verified.id, which, &by)?,
            None => 0,
        };
        // Whoever held the old password may have granted an application offline access;
        // that ends with the password, whether or not other sessions do.
        signout::revoke_offline_access(services, conn, &verified.id, None, &by)?;
        audit::record(
            conn,
            clock,
            &NewAuditEvent::by_user(
                AuditKind::PasswordChanged,
                &verified.id,
                change.device,
                None,
            ),
        )?;
        Ok(Ok(ended))
    })?;
    if outcome.is_ok() {
        // ASVS 2.2.3: the owner hears of it, also when it was not them.
        services.notify_after_commit(&verified, &Notice::PasswordChanged, change.device.lang);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    fn change<'a>(user: &'a User, current: &'a str, new: &'a str) -> PasswordChange<'a> {
        PasswordChange {
            user,
            current,
            new,
            confirm: new,
            end_sessions: None,
            device: Device::default(),
        }
    }

    #[test]
    fn rules_then_current_password_then_the_change() {
        let t = testing::services();
        let ada = t.user("ada");
        let mismatch = PasswordChange {
            confirm: "something else",
            ..change(&ada, testing::PASSWORD, "a new passphrase")
        };
        assert_eq!(
            change_password(&t.services, &mismatch).unwrap(),
            Err(ChangeRefusal::Mismatch)
        );
        assert_eq!(
            change_password(&t.services, &change(&ada, testing::PASSWORD, "short")).unwrap(),
            Err(ChangeRefusal::Rule(PasswordRule::TooShort { min: 8 }))
        );
        assert_eq!(
            change_password(&t.services, &change(&ada, "not it", "a new passphrase")).unwrap(),
            Err(ChangeRefusal::WrongCurrent)
        );
        assert_eq!(
            change_password(
                &t.services,
                &change(&ada, testing::PASSWORD, "a new passphrase")
            )
            .unwrap(),
            Ok(0)
        );
        let old = testing::attempt("ada");
        assert_eq!(
            signin::check_password(&t.services, &old).unwrap().err(),
            Some(Refusal::Wrong)
        );
        assert_eq!(
            t.events(&ada.id),
            ["sign_in_failed", "password_changed", "sign_in_failed"]
        );
        let mails = t.outbox();
        assert_eq!(mails.len(), 1, "only the change that happened is mailed");
        assert!(mails[0].contains("password_changed"), "{}", mails[0]);
    }

    #[test]
    fn other_sessions_end_when_asked_and_this_one_stays() {
        let t = testing::services();
        let ada = t.user("ada");
        let this = t.sign_in("ada");
        t.sign_in("ada");
        let ended = change_password(
            &t.services,
            &PasswordChange {
                end_sessions: Some(Which::AllBut(&this.session.id)),
                ..change(&ada, testing::PASSWORD, "a new passphrase")
            },
        )
        .unwrap();
        assert_eq!(ended, Ok(1));
        assert_eq!(t.live_sessions(&ada.id), [this.session.id]);
    }
}
