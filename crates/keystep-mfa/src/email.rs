//! Mailed codes as a second factor: a 6-digit code mailed to the account's address when the
//! person asks for one at the second step, tied to that sign-in's session, single use (taken
//! atomically from the shared store), valid ten minutes ([`mailed_code::TTL`]), kept only as a
//! keyed hash. Sends are limited like every mailed code (three in ten minutes); guesses count
//! against the second-factor throttle like any code ([`crate::check`]).
//!
//! Binding it in the user center proves the mailbox first: a code mailed to the address, typed
//! back, turns the method on. The first method a person binds brings their recovery codes.

use keystep_core::audit::{self, AuditKind, NewAuditEvent};
use keystep_core::mail::{CodePurpose, Notice};
use keystep_core::sessions::{self, Device};
use keystep_core::users::User;
use keystep_core::Services;
use serde_json::json;

use crate::mailed_code::{self, CodeCheck, Guesser, Sent};
use crate::method::{Method, Occasion};
use crate::{factors, recovery};

/// A mailed code that proves the second factor belongs to its session and occasion: a code
/// sent for one browser's sign-in does not serve another's, and one sent to finish a sign-in
/// does not confirm a change in the user center.
fn subject(occasion: Occasion, session_id: &str) -> String {
    match occasion {
        Occasion::SignIn => format!("second-factor:{session_id}"),
        Occasion::Change => format!("u-confirm:{session_id}"),
    }
}

/// The code that proves the mailbox before the method is turned on in the user center.
fn binding_subject(session_id: &str) -> String {
    format!("u-email:{session_id}")
}

/// Mails the person, in `lang`, a code to prove a second factor in the session `session_id`
/// on `occasion`: the second step of its sign-in, or a change in the user center.
pub fn send_code(
    services: &Services,
    occasion: Occasion,
    session_id: &str,
    user: &User,
    lang: Option<&str>,
) -> keystep_core::Result<Sent> {
    let purpose = match occasion {
        Occasion::SignIn => CodePurpose::SignIn,
        Occasion::Change => CodePurpose::ConfirmChange,
    };
    let subject = subject(occasion, session_id);
    mailed_code::send(services, &subject, user, purpose, lang)
}

/// Takes the code mailed for the session on `occasion`, if `code` is it.
pub fn take_code(
    services: &Services,
    occasion: Occasion,
    session_id: &str,
    code: &str,
) -> keystep_core::Result<bool> {
    mailed_code::take_matching(services, &subject(occasion, session_id), code)
}

/// The address as the pages show it: the first character of the local part and the domain
/// (`a•••@example.com`), so a person sees where the code went and a passer-by learns little.
pub fn masked_address(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".to_owned(),
    }
}

/// Mails a code that proves the mailbox, to turn the method on from the user center.
pub fn send_binding_code(
    services: &Services,
    session_id: &str,
    user: &User,
    lang: Option<&str>,
) -> keystep_core::Result<Sent> {
    let subject = binding_subject(session_id);
    mailed_code::send(services, &subject, user, CodePurpose::BindEmail, lang)
}

/// What turning the method on came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// On. The person's first method brings ten recovery codes, to show once, and moves the
    /// session to aal2 under a new token (the mailed code just typed is a second factor).
    Bound {
        /// New recovery codes, when this is the person's first method.
        recovery_codes: Option<Vec<String>>,
        /// The session's new cookie token, when this is the person's first method.
        token: Option<String>,
    },
    /// The mailed code was refused.
    Refused(CodeCheck),
}

/// Turns mailed codes on for the person when `code` is the one mailed to prove the mailbox, in
/// one write transaction; audits it and mails the person once it has committed.
pub fn bind(
    services: &Services,
    user: &User,
    session_id: &str,
    code: &str,
    device: Device<'_>,
) -> keystep_core::Result<Binding> {
    let by = Guesser {
        user_id: &user.id,
        ip: device.ip,
    };
    let check = mailed_code::check(services, &binding_subject(session_id), by, code)?;
    if check != CodeCheck::Accepted {
        if let CodeCheck::LockedForTheDay(_) = check {
            factors::mail_day_lock(services, user, device.lang);
        }
        return Ok(Binding::Refused(check));
    }
    let (recovery_codes, token) = services.db.write(|conn| {
        let first = !factors::status(conn, &user.id)?.has_method();
        factors::add_stored(services, conn, &user.id, Method::EmailCode, None)?;
        // A session that proved another method keeps it on record.
        let (codes, token) = if first {
            let codes = recovery::regenerate(services, conn, &user.id)?;
            let clock = services.clock.as_ref();
            let method = Method::EmailCode.as_str();
            let (_, token) = sessions::record_second_factor(conn, clock, session_id, method)?;
            (Some(codes), Some(token))
        } else {
            (None, None)
        };
        audit::record(
            conn,
            services.clock.as_ref(),
            &NewAuditEvent::by_user(AuditKind::MfaEnrolled, &user.id, device, None)
                .with_detail(json!({"method": Method::EmailCode.as_str()})),
        )?;
        Ok((codes, token))
    })?;
    let bound = Notice::SecondFactorBound {
        method: Method::EmailCode.as_str(),
    };
    services.notify_after_commit(user, &bound, device.lang);
    Ok(Binding::Bound {
        recovery_codes,
        token,
    })
}

#[cfg(test)]
mod tests {
    use keystep_core::testing;

    use super::*;

    fn code_in(mail: &str) -> String {
        let at = mail.find("code is: ").unwrap() + "code is: ".len();
        mail[at..at + 6].to_owned()
    }

    #[test]
    fn the_mailbox_is_proven_before_the_method_is_on_and_the_first_method_brings_codes() {
        let t = testing::services();
        let ada = t.user("ada");
        let session = t.sign_in("ada").session.id;
        assert_eq!(
            send_binding_code(&t.services, &session, &ada, None).unwrap(),
            Sent::Sent
        );
        let code = code_in(&t.take_outbox().pop().unwrap());
        assert_eq!(
            bind(&t.services, &ada, &session, "000000", Device::default()).unwrap(),
            Binding::Refused(CodeCheck::Wrong)
        );
        let Binding::Bound {
            recovery_codes,
            token,
        } = bind(&t.services, &ada, &session, &code, Device::default()).unwrap()
        else {
            panic!("not bound");
        };
        assert_eq!(recovery_codes.map(|c| c.len()), Some(recovery::COUNT));
        let token = token.expect("the session moves on under a new token");
        let upgraded = t
            .write(|conn| keystep_core::signin::current_session(&t.services, conn, &token))
            .unwrap()
            .0;
        assert_eq!(upgraded.second_factor_method.as_deref(), Some("email"));
        let status = t.read(|conn| factors::status(conn, &ada.id));
        assert!(status.email_bound_at.is_some() && status.has_method());
        let mails = t.take_outbox();
        assert!(
            mails.len() == 1 && mails[0].contains("second_factor_bound"),
            "{mails:?}"
        );
        assert_eq!(
            bind(&t.services, &ada, &session, &code, Device::default()).unwrap(),
            Binding::Refused(CodeCheck::Wrong),
            "the proof is single use"
        );
    }

    #[test]
    fn a_sign_in_code_serves_its_own_session_once() {
        let t = testing::services();
        let ada = t.user("ada");
        let (sign_in, change) = (Occasion::SignIn, Occasion::Change);
        assert_eq!(
            send_code(&t.services, sign_in, "session-a", &ada, None).unwrap(),
            Sent::Sent
        );
        let code = code_in(&t.take_outbox().pop().unwrap());
        assert!(!take_code(&t.services, sign_in, "session-b", &code).unwrap());
        assert!(
            !take_code(&t.services, change, "session-a", &code).unwrap(),
            "a sign-in's code confirms no change"
        );
        assert!(take_code(&t.services, sign_in, "session-a", &code).unwrap());
        assert!(!take_code(&t.services, sign_in, "session-a", &code).unwrap());
        send_code(&t.services, change, "session-a", &ada, None).unwrap();
        let code = code_in(&t.take_outbox().pop().unwrap());
        t.clock.advance(mailed_code::TTL);
        assert!(
            !take_code(&t.services, change, "session-a", &code).unwrap(),
            "expired at keystep's clock, whatever the store keeps"
        );
    }

    #[test]
    fn addresses_are_masked() {
        assert_eq!(masked_address("ada@example.com"), "a•••@example.com");
        assert_eq!(masked_address("no-at-sign"), "•••");
    }
}
