//! A 6-digit code mailed to the person, to prove they hold their mailbox: before filing a
//! lost-device request, before binding a method in the user center, and as a second factor
//! ([`crate::email`]). Each code is
//! tied to one flow (`subject`), single use (taken atomically), valid ten minutes, kept only
//! as a keyed hash; sends and wrong guesses are both limited through the ephemeral store.

use std::time::Duration;

use keystep_core::throttle::{Attempt, Limit, Throttle};
use keystep_core::users::User;
use keystep_core::Services;
use rand::Rng;

use keystep_core::mail::{CodePurpose, Notice};

/// How long a mailed code lives.
pub const TTL: Duration = Duration::from_secs(10 * 60);
const MAC_PURPOSE: &str = "email_code";

fn key(subject: &str) -> String {
    format!("mfa-lost-code:{subject}")
}

fn guess_limit() -> Limit {
    Limit {
        max_failures: 5,
        window: TTL,
    }
}

/// Guesses per person and day, over all their flows: each sign-in has its own code and its
/// own five guesses, so without it someone holding the password could sign in again and
/// again to guess on.
fn day_limit(services: &Services) -> Limit {
    Limit {
        max_failures: services.config.mfa.max_failures_per_day,
        window: Duration::from_secs(24 * 60 * 60),
    }
}

/// Forgets the person's wrong mailed codes of the day (an operator reset them).
pub fn forget_day(services: &Services, user_id: &str) -> keystep_core::Result<()> {
    Throttle::new(services, "email-code-day", day_limit(services)).reset(user_id)
}

/// Who presents a mailed code: the person it was mailed to, and from where.
#[derive(Debug, Clone, Copy)]
pub struct Guesser<'a> {
    /// The person.
    pub user_id: &'a str,
    /// The client address, if known.
    pub ip: Option<&'a str>,
}

/// Whether a code went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Mailed.
    Sent,
    /// Three were mailed in the last ten minutes already (the mailbox is not a spam target);
    /// the next may go at this Unix second.
    TooMany {
        /// Unix seconds.
        until: i64,
    },
}

/// Mails a new code for `subject` (replacing an earlier one) to the person, in `lang`.
pub fn send(
    services: &Services,
    subject: &str,
    user: &User,
    purpose: CodePurpose,
    lang: Option<&str>,
) -> keystep_core::Result<Sent> {
    let store = services.ephemeral.as_ref();
    let sends = Limit {
        max_failures: 3,
        window: TTL,
    };
    let sends = Throttle::new(services, "email-send", sends);
    if let Some(until) = sends.locked_until(&user.id)? {
        return Ok(Sent::TooMany { until });
    }
    sends.record_failure(&user.id)?;
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    let mac = services.secret_box.mac(MAC_PURPOSE, code.as_bytes());
    // The code's own end travels with it: the store's expiry is only a bound on what it
    // keeps, and keeps to the wall clock (Redis) while keystep's clock decides.
    let expires_at = services.clock.now() + i64::try_from(TTL.as_secs()).unwrap_or(i64::MAX);
    let stored = format!("{mac}.{expires_at}");
    store.put(&key(subject), stored.as_bytes(), TTL)?;
    let notice = Notice::ConfirmationCode {
        code,
        purpose,
        minutes: TTL.as_secs() / 60,
    };
    services.notify(user, &notice, lang)?;
    Ok(Sent::Sent)
}

/// What checking a mailed code came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right; the code is spent.
    Accepted,
    /// Wrong, expired or never sent.
    Wrong,
    /// Too many wrong codes; until this Unix second.
    Locked(i64),
    /// Wrong, and it used up the person's guesses of the day: locked until this Unix second,
    /// and the person is to be told once the caller's transaction is over
    /// ([`crate::factors::mail_day_lock`]).
    LockedForTheDay(i64),
}

/// Takes the code mailed for `subject` when `code` is it (spaces and other non-digits
/// ignored). Taking makes it single use even when two submissions race; the callers count
/// the guess first.
pub(crate) fn take_matching(
    services: &Services,
    subject: &str,
    code: &str,
) -> keystep_core::Result<bool> {
    let store = services.ephemeral.as_ref();
    let digits: String = code.chars().filter(char::is_ascii_digit).collect();
    let stored = store.get(&key(subject))?;
    let presented = services.secret_box.mac(MAC_PURPOSE, digits.as_bytes());
    let now = services.clock.now();
    let matches = stored.is_some_and(|stored| {
        let stored = String::from_utf8_lossy(&stored);
        let Some((mac, expires_at)) = stored.rsplit_once('.') else {
            return false;
        };
        let live = expires_at.parse::<i64>().is_ok_and(|at| now < at);
        keystep_core::opaque::constant_time_eq(mac, &presented) && live
    });
    Ok(matches && store.take(&key(subject))?.is_some())
}

/// Checks (and spends) the code mailed for `subject`. Guesses are limited per flow (five
/// per code's lifetime), per person and day (`mfa.max_failures_per_day`), and per address
/// together with second-factor codes (`mfa.max_failures_per_ip`).
pub fn check(
    services: &Services,
    subject: &str,
    by: Guesser<'_>,
    code: &str,
) -> keystep_core::Result<CodeCheck> {
    if let Some(until) = by
        .ip
        .map(|ip| crate::factors::ip_locked_until(services, ip))
        .transpose()?
        .flatten()
    {
        return Ok(CodeCheck::Locked(until));
    }
    let guesses = Throttle::new(services, "email-code", guess_limit());
    let daily = Throttle::new(services, "email-code-day", day_limit(services));
    // Counted before the check, in one atomic step each, so concurrent guesses cannot
    // overshoot.
    if let Some(until) = guesses.count_attempt(subject)? {
        return Ok(CodeCheck::Locked(until));
    }
    let last_of_the_day = match daily.attempt(by.user_id)? {
        Attempt::Allowed { last, .. } => last,
        Attempt::Locked { until } => return Ok(CodeCheck::Locked(until)),
    };
    if take_matching(services, subject, code)? {
        guesses.reset(subject)?;
        daily.reset(by.user_id)?;
        return Ok(CodeCheck::Accepted);
    }
    if let Some(ip) = by.ip {
        crate::factors::record_ip_failure(services, ip)?;
    }
    if last_of_the_day {
        if let Some(until) = daily.locked_until(by.user_id)? {
            return Ok(CodeCheck::LockedForTheDay(until));
        }
    }
    Ok(CodeCheck::Wrong)
}

#[cfg(test)]
mod tests {
    use keystep_core::testing;

    use super::*;

    /// The code in the newest outbox mail.
    fn mailed_code(t: &testing::TestServices) -> String {
        let mail = t.outbox().pop().unwrap();
        let at = mail.find("code is: ").unwrap() + "code is: ".len();
        mail[at..at + 6].to_owned()
    }

    fn by(user: &User) -> Guesser<'_> {
        Guesser {
            user_id: &user.id,
            ip: Some("192.0.2.1"),
        }
    }

    #[test]
    fn guesses_are_limited_per_person_and_day_across_flows() {
        let t = testing::services_with(|c| c.mfa.max_failures_per_day = 7);
        let ada = t.user("ada");
        // Five in one flow (its own limit), two more in a second: the day's seven; the
        // seventh says it locked the day.
        for (flow, n) in [("flow-1", 5), ("flow-2", 1)] {
            for _ in 0..n {
                assert_eq!(
                    check(&t.services, flow, by(&ada), "000000").unwrap(),
                    CodeCheck::Wrong
                );
            }
        }
        assert!(matches!(
            check(&t.services, "flow-2", by(&ada), "000000").unwrap(),
            CodeCheck::LockedForTheDay(_)
        ));
        let purpose = CodePurpose::BindAuthenticator;
        send(&t.services, "flow-3", &ada, purpose, None).unwrap();
        let right = mailed_code(&t);
        assert!(
            matches!(
                check(&t.services, "flow-3", by(&ada), &right).unwrap(),
                CodeCheck::Locked(_)
            ),
            "a new flow does not bring new guesses"
        );
        // Someone else is not held back by ada's guesses.
        let grace = t.user("grace");
        let other = Guesser {
            user_id: &grace.id,
            ip: Some("192.0.2.2"),
        };
        assert_eq!(
            check(&t.services, "flow-4", other, "000000").unwrap(),
            CodeCheck::Wrong
        );
    }

    #[test]
    fn a_mailed_code_is_single_use_and_bound_to_its_flow() {
        let t = testing::services();
        let ada = t.user("ada");
        assert_eq!(
            send(
                &t.services,
                "flow-a",
                &ada,
                CodePurpose::ResetSecondFactor,
                None
            )
            .unwrap(),
            Sent::Sent
        );
        let code = mailed_code(&t);
        assert_eq!(
            check(&t.services, "flow-b", by(&ada), &code).unwrap(),
            CodeCheck::Wrong
        );
        assert_eq!(
            check(&t.services, "flow-a", by(&ada), &code).unwrap(),
            CodeCheck::Accepted
        );
        assert_eq!(
            check(&t.services, "flow-a", by(&ada), &code).unwrap(),
            CodeCheck::Wrong
        );
    }

    #[test]
    fn sends_and_guesses_are_limited() {
        let t = testing::services();
        let ada = t.user("ada");
        for _ in 0..3 {
            assert_eq!(
                send(&t.services, "f", &ada, CodePurpose::BindAuthenticator, None).unwrap(),
                Sent::Sent
            );
        }
        assert!(matches!(
            send(&t.services, "f", &ada, CodePurpose::BindAuthenticator, None).unwrap(),
            Sent::TooMany { .. }
        ));
        for _ in 0..5 {
            assert_eq!(
                check(&t.services, "f", by(&ada), "000000").unwrap(),
                CodeCheck::Wrong
            );
        }
        assert!(matches!(
            check(&t.services, "f", by(&ada), &mailed_code(&t)).unwrap(),
            CodeCheck::Locked(_)
        ));
    }
}
