//! A 6-digit code mailed to the person, to prove they hold their mailbox: before filing a
//! lost-device request, and before binding an authenticator in the user center. Each code is
//! tied to one flow (`subject`), single use (taken atomically), valid ten minutes, kept only
//! as a keyed hash; sends and wrong guesses are both limited through the ephemeral store.

use std::time::Duration;

use keystep_core::throttle::{Limit, Throttle};
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
    store.put(&key(subject), mac.as_bytes(), TTL)?;
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
}

/// Checks (and spends) the code mailed for `subject`.
pub fn check(services: &Services, subject: &str, code: &str) -> keystep_core::Result<CodeCheck> {
    let store = services.ephemeral.as_ref();
    let guesses = Throttle::new(services, "email-code", guess_limit());
    // Counted before the check, in one atomic step, so concurrent guesses cannot overshoot.
    if let Some(until) = guesses.count_attempt(subject)? {
        return Ok(CodeCheck::Locked(until));
    }
    let digits: String = code.chars().filter(char::is_ascii_digit).collect();
    let expected = store.get(&key(subject))?;
    let presented = services.secret_box.mac(MAC_PURPOSE, digits.as_bytes());
    let matches = expected.is_some_and(|e| {
        keystep_core::opaque::constant_time_eq(&String::from_utf8_lossy(&e), &presented)
    });
    // Taking the code makes it single use even if two submissions race.
    if matches && store.take(&key(subject))?.is_some() {
        guesses.reset(subject)?;
        return Ok(CodeCheck::Accepted);
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
            check(&t.services, "flow-b", &code).unwrap(),
            CodeCheck::Wrong
        );
        assert_eq!(
            check(&t.services, "flow-a", &code).unwrap(),
            CodeCheck::Accepted
        );
        assert_eq!(
            check(&t.services, "flow-a", &code).unwrap(),
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
            assert_eq!(check(&t.services, "f", "000000").unwrap(), CodeCheck::Wrong);
        }
        assert!(matches!(
            check(&t.services, "f", &mailed_code(&t)).unwrap(),
            CodeCheck::Locked(_)
        ));
    }
}
