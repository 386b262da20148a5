//! Binding a TOTP authenticator: a new secret waits (sealed) in the ephemeral store until the
//! person proves their app has it by entering one code; only then is it stored, replacing any
//! earlier one (which keeps working until this moment), and ten recovery codes are made.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use keystep_core::db::DbConn;
use keystep_core::Services;
use qrcode::render::svg;
use qrcode::QrCode;

use crate::{recovery, totp};

/// How long a started enrollment waits for its confirming code.
pub const TTL: Duration = Duration::from_secs(15 * 60);

fn key(subject: &str) -> String {
    format!("mfa-enroll:{subject}")
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

fn pending_secret(services: &Services, subject: &str) -> keystep_core::Result<Option<Vec<u8>>> {
    match services.ephemeral.get(&key(subject))? {
        Some(sealed) => {
            let sealed =
                String::from_utf8(sealed).map_err(|_| keystep_core::Error::SecretTampered)?;
            Ok(Some(services.secret_box.open(totp::SEAL_PURPOSE, &sealed)?))
        }
        None => Ok(None),
    }
}

/// Starts an enrollment for `subject` (a session id or a user id), or shows the one already
/// started, so reloading the page does not change the secret.
pub fn start(
    services: &Services,
    subject: &str,
    account: &str,
) -> keystep_core::Result<EnrollmentView> {
    let secret = match pending_secret(services, subject)? {
        Some(secret) => secret,
        None => {
            let secret = totp::new_secret();
            let sealed = services.secret_box.seal(totp::SEAL_PURPOSE, &secret)?;
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
pub enum Confirmation {
    /// Bound; the new recovery codes, to show once.
    Bound {
        /// Ten codes.
        recovery_codes: Vec<String>,
    },
    /// The code does not match the new secret.
    Wrong,
    /// No enrollment is waiting (expired or never started).
    Expired,
}

/// Confirms the enrollment of `subject` for `user_id` with a code from the app.
pub fn confirm(
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
    totp::bind(services, conn, user_id, &secret, step)?;
    let recovery_codes = recovery::regenerate(services, conn, user_id)?;
    services.ephemeral.delete(&key(subject))?;
    Ok(Confirmation::Bound { recovery_codes })
}

/// Abandons a started enrollment.
pub fn cancel(services: &Services, subject: &str) -> keystep_core::Result<()> {
    services.ephemeral.delete(&key(subject))
}
