//! Binding a TOTP authenticator: a new secret waits (sealed) in the ephemeral store until the
//! person proves their app has it by entering one code; only then is it stored, replacing any
//! earlier one (which keeps working until this moment); when it is the person's first method,
//! ten recovery codes are made (a person who holds one already keeps theirs).
//!
//! Two routes lead here. At sign-in ([`Route::SignIn`]), when a sign-in needs aal2 and the
//! person has none, only a person with no second factor may bind one. In the user center
//! ([`Route::UserCenter`]), anyone may bind or replace one. On both the person first proves
//! their mailbox with a mailed code: the password alone, which someone else may hold, does
//! not bind their authenticator to the account. Completing the binding upgrades the session
//! (the code just entered is a second factor), is audited, and the person is mailed (with
//! what to do if it was not them) once it has committed.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use keystep_core::db::DbConn;
use keystep_core::Services;
use qrcode::render::svg;
use qrcode::QrCode;

use keystep_core::audit::{self, AuditKind, NewAuditEvent};
use keystep_core::sessions::{self, Device};
use keystep_core::users::User;

use crate::mailed_code;
use crate::method::Method;
use crate::{factors, recovery, totp};
use keystep_core::mail::{CodePurpose, Notice};

/// How long a started enrollment waits for its confirming code.
pub const TTL: Duration = Duration::from_secs(15 * 60);

fn key(subject: &str) -> String {
    format!("mfa-enroll:{subject}")
}

/// Which way a binding goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// At sign-in, for a person with no second factor when one is required.
    SignIn,
    /// In the user center, after a recent password and a mailed code.
    UserCenter,
}

impl Route {
    /// The ephemeral-store subject of the pending secret: one per session and route, so the
    /// two pages never share a half-finished binding.
    fn subject(self, session_id: &str) -> String {
        match self {
            Self::SignIn => session_id.to_owned(),
            Self::UserCenter => format!("u:{session_id}"),
        }
    }

    /// The subject of the mailed code: apart from the lost-device page's (which is the
    /// session id), so a code mailed for one purpose does not serve another.
    fn mailbox_subject(self, session_id: &str) -> String {
        match self {
            Self::SignIn => format!("enroll:{session_id}"),
            Self::UserCenter => format!("u:{session_id}"),
        }
    }

    /// Where the proof of the mailbox waits for the binding.
    fn mailbox_key(self, session_id: &str) -> String {
        match self {
            Self::SignIn => format!("enroll-email-ok:{session_id}"),
            Self::UserCenter => format!("u-bind-email-ok:{session_id}"),
        }
    }
}

/// What the enrollment page shows.
#[derive(Debug, Clone)]
pub struct EnrollmentView {
    /// The secret in base32, to type into an app.
    pub secret_text: String,
    /// The `otpauth://` URI.
    pub otpauth_uri: String,
    /// The URI as a QR code, a `data:image/svg+xml` URL.
    pub qr_data_uri: String,
}

/// The secret-box purpose of a pending secret in the ephemeral store: not the stored
/// secrets' (`totp_secret:{owner}`), nor their pre-owner form, so a pending value cannot be
/// passed off as anyone's stored secret.
const PENDING_PURPOSE: &str = "totp_pending";

fn pending_secret(services: &Services, subject: &str) -> keystep_core::Result<Option<Vec<u8>>> {
    match services.ephemeral.get(&key(subject))? {
        Some(sealed) => {
            let sealed =
                String::from_utf8(sealed).map_err(|_| keystep_core::Error::SecretTampered)?;
            Ok(Some(services.secret_box.open(PENDING_PURPOSE, &sealed)?))
        }
        None => Ok(None),
    }
}

/// Starts a binding for the session on `route`, or shows the one already started, so
/// reloading the page does not change the secret. `account` labels it in the person's app.
pub fn start(
    services: &Services,
    route: Route,
    session_id: &str,
    account: &str,
) -> keystep_core::Result<EnrollmentView> {
    let subject = &route.subject(session_id);
    let secret = match pending_secret(services, subject)? {
        Some(secret) => secret,
        None => {
            let secret = totp::new_secret();
            let sealed = services.secret_box.seal(PENDING_PURPOSE, &secret)?;
            services
                .ephemeral
                .put(&key(subject), sealed.as_bytes(), TTL)?;
            secret
        }
    };
    let generator = totp::generator(services, &secret, account)
        .ok_or_else(|| keystep_core::Error::invalid("mfa.issuer", "cannot build a TOTP URI"))?;
    let otpauth_uri = generator
        .to_url()
        .map_err(|e| keystep_core::Error::invalid("mfa.issuer", e.to_string()))?;
    let qr = QrCode::new(otpauth_uri.as_bytes())
        .map_err(|e| keystep_core::Error::invalid("otpauth_uri", e.to_string()))?;
    let svg = qr
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    Ok(EnrollmentView {
        secret_text: totp::secret_text(&secret),
        otpauth_uri,
        qr_data_uri: format!("data:image/svg+xml;base64,{}", STANDARD.encode(svg)),
    })
}

/// What confirming came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Confirmation {
    /// Bound; the new recovery codes when this is the person's first method, to show once.
    Bound {
        /// Ten codes, or none when the person held a method already (their codes stay).
        recovery_codes: Option<Vec<String>>,
    },
    /// The code does not match the new secret.
    Wrong,
    /// No enrollment is waiting (expired or never started).
    Expired,
}

/// Confirms the enrollment of `subject` for `user_id` with a code from the app.
fn confirm(
    services: &Services,
    conn: &mut DbConn,
    subject: &str,
    user_id: &str,
    code: &str,
) -> keystep_core::Result<Confirmation> {
    let Some(secret) = pending_secret(services, subject)? else {
        return Ok(Confirmation::Expired);
    };
    let Some(generator) = totp::generator(services, &secret, "-") else {
        return Ok(Confirmation::Expired);
    };
    let Some(step) = totp::matching_step(&generator, code, services.clock.now()) else {
        return Ok(Confirmation::Wrong);
    };
    // Recovery codes come with the first method; adding or replacing one keeps them.
    let first = !factors::status(conn, user_id)?.has_method();
    totp::bind(services, conn, user_id, &secret, step)?;
    let recovery_codes = if first {
        Some(recovery::regenerate(services, conn, user_id)?)
    } else {
        None
    };
    services.ephemeral.delete(&key(subject))?;
    Ok(Confirmation::Bound { recovery_codes })
}

/// A code from the app, presented to complete a binding.
#[derive(Debug, Clone, Copy)]
pub struct Completion<'a> {
    /// Whose.
    pub user: &'a User,
    /// The session binding it (upgraded on success).
    pub session_id: &'a str,
    /// The code from the app.
    pub code: &'a str,
    /// Which way.
    pub route: Route,
    /// The relying party the sign-in is for, if any.
    pub client_id: Option<&'a str>,
    /// Where the request came from.
    pub device: Device<'a>,
}

/// What completing came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completed {
    /// Bound: the recovery codes (shown once) and the session's new cookie token.
    Bound {
        /// Ten new codes for a person's first method; none when they held one already.
        recovery_codes: Option<Vec<String>>,
        /// The upgraded session's token.
        token: String,
    },
    /// The code does not match the new secret.
    Wrong,
    /// Nothing to complete: no binding waits (expired, never started), the mailbox was not
    /// confirmed (user center), or the person has a second factor already (sign-in).
    Expired,
}

/// Completes a binding in one write transaction; mails the person after it commits. Call it
/// with no transaction open.
#[tracing::instrument(skip_all, fields(user_id = %c.user.id))]
pub fn complete(services: &Services, c: &Completion<'_>) -> keystep_core::Result<Completed> {
    let clock = services.clock.as_ref();
    let mailbox_key = c.route.mailbox_key(c.session_id);
    let completed = services.db.write(|conn| {
        let allowed = services.ephemeral.get(&mailbox_key)?.is_some()
            && match c.route {
                // Someone who already has a second factor proves it; binding a new one is
                // /u's job.
                Route::SignIn => !factors::status(conn, &c.user.id)?.has_second_factor(),
                Route::UserCenter => true,
            };
        if !allowed {
            return Ok(Completed::Expired);
        }
        let subject = c.route.subject(c.session_id);
        let recovery_codes = match confirm(services, conn, &subject, &c.user.id, c.code)? {
            Confirmation::Bound { recovery_codes } => recovery_codes,
            Confirmation::Wrong => return Ok(Completed::Wrong),
            Confirmation::Expired => return Ok(Completed::Expired),
        };
        services.ephemeral.delete(&mailbox_key)?;
        let (_, token) =
            sessions::record_second_factor(conn, clock, c.session_id, Method::Totp.as_str())?;
        audit::record(
            conn,
            clock,
            &NewAuditEvent::by_user(AuditKind::MfaEnrolled, &c.user.id, c.device, c.client_id)
                .with_detail(serde_json::json!({"method": Method::Totp.as_str()})),
        )?;
        Ok(Completed::Bound {
            recovery_codes,
            token,
        })
    })?;
    if matches!(completed, Completed::Bound { .. }) {
        let bound = Notice::SecondFactorBound {
            method: Method::Totp.as_str(),
        };
        services.notify_after_commit(c.user, &bound, c.device.lang);
    }
    Ok(completed)
}

/// Mails the person, in `lang`, a code that proves their mailbox before a binding on `route`.
pub fn send_mailbox_code(
    services: &Services,
    route: Route,
    session_id: &str,
    user: &User,
    lang: Option<&str>,
) -> keystep_core::Result<mailed_code::Sent> {
    mailed_code::send(
        services,
        &route.mailbox_subject(session_id),
        user,
        CodePurpose::BindAuthenticator,
        lang,
    )
}

/// Checks the mailed code; when right, the session may bind an authenticator on `route` (for
/// as long as a started binding lives).
pub fn confirm_mailbox(
    services: &Services,
    route: Route,
    session_id: &str,
    by: mailed_code::Guesser<'_>,
    code: &str,
) -> keystep_core::Result<mailed_code::CodeCheck> {
    let check = mailed_code::check(services, &route.mailbox_subject(session_id), by, code)?;
    if check == mailed_code::CodeCheck::Accepted {
        services
            .ephemeral
            .put(&route.mailbox_key(session_id), b"1", TTL)?;
    }
    Ok(check)
}

/// True when the session proved the mailbox for a binding on `route`.
pub fn mailbox_confirmed(
    services: &Services,
    route: Route,
    session_id: &str,
) -> keystep_core::Result<bool> {
    Ok(services
        .ephemeral
        .get(&route.mailbox_key(session_id))?
        .is_some())
}

#[cfg(test)]
mod tests {
    use keystep_core::testing::{self, TestServices};

    use super::*;

    fn signed_in(t: &TestServices) -> (User, String) {
        let ada = t.user("ada");
        let session = t.sign_in("ada");
        (ada, session.session.id)
    }

    /// The code the app would show now for the secret behind `view`.
    fn code_for(t: &TestServices, view: &EnrollmentView) -> String {
        let secret = base32::decode(
            base32::Alphabet::Rfc4648 { padding: false },
            &view.secret_text,
        )
        .unwrap();
        crate::testing::code_now(t, &secret)
    }

    /// Completes the binding of the person's session with `code` on `route`.
    fn finish(
        t: &TestServices,
        (user, session_id): (&User, &str),
        code: &str,
        route: Route,
    ) -> Completed {
        let completion = Completion {
            user,
            session_id,
            code,
            route,
            client_id: None,
            device: Device::default(),
        };
        complete(&t.services, &completion).unwrap()
    }
    /// Mails a code for `route` and confirms it.
    fn prove_mailbox(t: &TestServices, (user, session_id): (&User, &str), route: Route) {
        assert_eq!(
            send_mailbox_code(&t.services, route, session_id, user, None).unwrap(),
            mailed_code::Sent::Sent
        );
        let mail = t
            .take_outbox()
            .into_iter()
            .find(|m| m.contains("code is: "))
            .unwrap();
        let at = mail.find("code is: ").unwrap() + "code is: ".len();
        let by = mailed_code::Guesser {
            user_id: &user.id,
            ip: None,
        };
        assert_eq!(
            confirm_mailbox(&t.services, route, session_id, by, &mail[at..at + 6]).unwrap(),
            mailed_code::CodeCheck::Accepted
        );
    }

    #[test]
    fn at_sign_in_a_person_without_a_factor_binds_once_and_is_mailed() {
        let t = testing::services();
        let (ada, session_id) = signed_in(&t);
        let view = start(&t.services, Route::SignIn, &session_id, "ada").unwrap();
        assert_eq!(
            finish(&t, (&ada, &session_id), &code_for(&t, &view), Route::SignIn),
            Completed::Expired,
            "no binding before the mailed code"
        );
        prove_mailbox(&t, (&ada, &session_id), Route::SignIn);
        let view = start(&t.services, Route::SignIn, &session_id, "ada").unwrap();
        let again = start(&t.services, Route::SignIn, &session_id, "ada").unwrap();
        assert_eq!(
            view.secret_text, again.secret_text,
            "a reload keeps the secret"
        );
        assert_eq!(
            finish(&t, (&ada, &session_id), "000000", Route::SignIn),
            Completed::Wrong
        );
        let code = code_for(&t, &view);
        let Completed::Bound { recovery_codes, .. } =
            finish(&t, (&ada, &session_id), &code, Route::SignIn)
        else {
            panic!("not bound");
        };
        assert_eq!(recovery_codes.map(|c| c.len()), Some(recovery::COUNT));
        let status = t.read(|conn| factors::status(conn, &ada.id));
        assert!(status.totp_bound_at.is_some());
        assert!(t.outbox().pop().unwrap().contains("second_factor_bound"));
        // Holding a factor now, the person cannot bind another at sign-in.
        prove_mailbox(&t, (&ada, &session_id), Route::SignIn);
        let view = start(&t.services, Route::SignIn, &session_id, "ada").unwrap();
        let code = code_for(&t, &view);
        assert_eq!(
            finish(&t, (&ada, &session_id), &code, Route::SignIn),
            Completed::Expired
        );
    }

    #[test]
    fn in_the_user_center_the_mailbox_comes_first() {
        let t = testing::services();
        let (ada, session_id) = signed_in(&t);
        let view = start(&t.services, Route::UserCenter, &session_id, "ada").unwrap();
        let code = code_for(&t, &view);
        assert_eq!(
            finish(&t, (&ada, &session_id), &code, Route::UserCenter),
            Completed::Expired,
            "no binding before the mailed code"
        );
        let route = Route::UserCenter;
        assert!(!mailbox_confirmed(&t.services, route, &session_id).unwrap());
        prove_mailbox(&t, (&ada, &session_id), route);
        assert!(mailbox_confirmed(&t.services, route, &session_id).unwrap());
        assert!(
            !mailbox_confirmed(&t.services, Route::SignIn, &session_id).unwrap(),
            "a proof for one route is not one for the other"
        );
        assert!(matches!(
            finish(&t, (&ada, &session_id), &code, Route::UserCenter),
            Completed::Bound { .. }
        ));
        assert!(
            !mailbox_confirmed(&t.services, route, &session_id).unwrap(),
            "the proof is spent by the binding"
        );
    }
}
