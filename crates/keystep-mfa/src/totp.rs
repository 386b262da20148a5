//! TOTP (RFC 6238) through totp-rs: HMAC-SHA-1, 6 digits, 30-second steps, T0 = 0, so every
//! common authenticator app works; 160-bit secrets (RFC 4226 §4) sealed by the secret box; a
//! window of ±`mfa.totp_skew_steps`; and the replay guard of §5.2: the last accepted time step
//! is stored, and a code is accepted only by a conditional UPDATE that moves it forward, so a
//! code is used once even when two nodes race.

use diesel::prelude::*;
use keystep_core::db::DbConn;
use keystep_core::schema::totp_bindings;
use keystep_core::Services;
use rand::RngCore;
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// The secret-box purpose of TOTP secrets.
pub const SEAL_PURPOSE: &str = "totp_secret";

/// The associated data a person's stored secret is sealed under: the purpose and the
/// owner's id. A sealed secret copied into another person's row by someone who can write the
/// database does not open there, so it cannot make their own authenticator the victim's.
fn sealed_for(user_id: &str) -> String {
    format!("{SEAL_PURPOSE}:{user_id}")
}
/// Seconds per step.
pub const STEP: u64 = 30;
/// Digits per code.
pub const DIGITS: u8 = 6;

/// A fresh 160-bit secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::rng().fill_bytes(&mut secret);
    secret
}

/// The generator for a secret; `account` labels it in the person's app.
pub fn generator(services: &Services, secret: &[u8], account: &str) -> Option<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_step_duration(STEP)
        .with_skew(u16::from(services.config.mfa.totp_skew_steps))
        .with_secret(Secret::from(secret.to_vec()))
        .with_issuer(Some(services.config.mfa.issuer.clone()))
        .with_account_name(account.replace(':', "_"))
        .build()
        .ok()
}

/// The base32 form of a secret, as apps take it when typed in.
pub fn secret_text(secret: &[u8]) -> String {
    base32::encode(base32::Alphabet::Rfc4648 { padding: false }, secret)
}

/// Keeps only the digits of what a person typed ("123 456" is "123456").
pub fn normalize_code(code: &str) -> String {
    code.chars().filter(char::is_ascii_digit).collect()
}

/// The time step a code matches at `now`, if any (within the window).
pub fn matching_step(totp: &Totp, code: &str, now: i64) -> Option<i64> {
    let code = normalize_code(code);
    if code.len() != usize::from(DIGITS) {
        return None;
    }
    let now = u64::try_from(now).ok()?;
    totp.check(&code, now)
        .and_then(|step| i64::try_from(step).ok())
}

/// A stored binding.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = totp_bindings)]
pub struct Binding {
    /// Whose.
    pub user_id: String,
    /// Sealed secret.
    pub secret: String,
    /// Last accepted step.
    pub last_step: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
}

/// The person's binding, if any.
pub fn find(conn: &mut DbConn, user_id: &str) -> keystep_core::Result<Option<Binding>> {
    Ok(totp_bindings::table
        .find(user_id)
        .select(Binding::as_select())
        .first(conn)
        .optional()?)
}

/// Stores (or replaces) the person's binding. `accepted_step` is the step of the code that
/// confirmed it, so that code cannot be used again to sign in.
pub fn bind(
    services: &Services,
    conn: &mut DbConn,
    user_id: &str,
    secret: &[u8],
    accepted_step: i64,
) -> keystep_core::Result<()> {
    let sealed = services.secret_box.seal(&sealed_for(user_id), secret)?;
    diesel::delete(totp_bindings::table.find(user_id)).execute(conn)?;
    diesel::insert_into(totp_bindings::table)
        .values((
            totp_bindings::user_id.eq(user_id),
            totp_bindings::secret.eq(sealed),
            totp_bindings::last_step.eq(Some(accepted_step)),
            totp_bindings::created_at.eq(services.clock.now()),
            totp_bindings::sealed_for_owner.eq(true),
        ))
        .execute(conn)?;
    Ok(())
}

/// Removes the person's binding.
pub fn unbind(conn: &mut DbConn, user_id: &str) -> keystep_core::Result<usize> {
    Ok(diesel::delete(totp_bindings::table.find(user_id)).execute(conn)?)
}

/// Seals again, under their owner's id, the secrets stored before sealing named the owner
/// (they open under the purpose alone), and marks every row it has seen sealed for its
/// owner, so that only an upgrade's first start reads the table. Run when the services are
/// opened; a row that opens under neither is reported and left unmarked (it will be
/// refused). Returns how many rows were resealed.
pub fn reseal_for_owners(services: &Services) -> keystep_core::Result<usize> {
    let unmarked = totp_bindings::table.filter(totp_bindings::sealed_for_owner.eq(false));
    // The common start: nothing to do, and no write lock taken.
    if services
        .db
        .read(|conn| {
            Ok(unmarked
                .select(totp_bindings::user_id)
                .first::<String>(conn)
                .optional()?)
        })?
        .is_none()
    {
        return Ok(0);
    }
    services.db.write(|conn| {
        let rows: Vec<Binding> = unmarked.select(Binding::as_select()).load(conn)?;
        let mut resealed = 0;
        for row in rows {
            let owner = sealed_for(&row.user_id);
            let sealed = if services.secret_box.open(&owner, &row.secret).is_ok() {
                row.secret
            } else if let Ok(secret) = services.secret_box.open(SEAL_PURPOSE, &row.secret) {
                resealed += 1;
                services.secret_box.seal(&owner, &secret)?
            } else {
                tracing::warn!(user_id = %row.user_id, "a stored TOTP secret opens for nobody; left as it is");
                continue;
            };
            diesel::update(totp_bindings::table.find(&row.user_id))
                .set((
                    totp_bindings::secret.eq(sealed),
                    totp_bindings::sealed_for_owner.eq(true),
                ))
                .execute(conn)?;
        }
        Ok(resealed)
    })
}

/// What checking a code came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpCheck {
    /// Right code, now spent.
    Accepted,
    /// Wrong code (or no binding).
    Wrong,
    /// A right code whose step was already used.
    Replayed,
}

/// Checks a code against the person's binding and spends its step.
pub fn verify(
    services: &Services,
    conn: &mut DbConn,
    user_id: &str,
    code: &str,
) -> keystep_core::Result<TotpCheck> {
    let Some(binding) = find(conn, user_id)? else {
        return Ok(TotpCheck::Wrong);
    };
    let secret = match services
        .secret_box
        .open(&sealed_for(user_id), &binding.secret)
    {
        Ok(secret) => secret,
        Err(keystep_core::Error::SecretTampered) => {
            // Not sealed for this row: copied from another person's, or altered.
            tracing::warn!(
                user_id,
                "a stored TOTP secret does not open for its owner; refused"
            );
            return Ok(TotpCheck::Wrong);
        }
        Err(e) => return Err(e),
    };
    let Some(totp) = generator(services, &secret, "-") else {
        return Ok(TotpCheck::Wrong);
    };
    let Some(step) = matching_step(&totp, code, services.clock.now()) else {
        return Ok(TotpCheck::Wrong);
    };
    // The replay guard: only a step later than the last accepted one moves it.
    let moved = diesel::update(
        totp_bindings::table.find(user_id).filter(
            totp_bindings::last_step
                .is_null()
                .or(totp_bindings::last_step.lt(step)),
        ),
    )
    .set(totp_bindings::last_step.eq(Some(step)))
    .execute(conn)?;
    Ok(if moved == 1 {
        TotpCheck::Accepted
    } else {
        TotpCheck::Replayed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_generator(digits: u8) -> Totp {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(digits)
            .with_step_duration(30)
            .with_skew(0)
            .with_secret(Secret::from(b"12345678901234567890".to_vec()))
            .with_account_name("test".to_owned())
            .build()
            .unwrap()
    }

    /// RFC 6238 appendix B, SHA-1.
    #[test]
    fn rfc_6238_appendix_b_vectors() {
        let totp = rfc_generator(8);
        for (time, expected) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(totp.generate(time).to_string(), expected, "T = {time}");
        }
    }

    #[test]
    fn six_digit_codes_and_the_window() {
        let totp = Builder::new()
            .with_digits(6)
            .with_skew(1)
            .with_secret(Secret::from(b"12345678901234567890".to_vec()))
            .with_account_name("t".to_owned())
            .build()
            .unwrap();
        let now = 1_111_111_111i64;
        let current = totp.generate(1_111_111_111).to_string();
        assert_eq!(current.len(), 6);
        assert_eq!(matching_step(&totp, &current, now), Some(now / 30));
        let previous = totp.generate(1_111_111_111 - 30).to_string();
        assert_eq!(
            matching_step(&totp, &previous, now),
            Some(now / 30 - 1),
            "one step back is accepted"
        );
        let too_old = totp.generate(1_111_111_111 - 60).to_string();
        assert_eq!(
            matching_step(&totp, &too_old, now),
            None,
            "two steps back is not"
        );
        assert_eq!(
            matching_step(&totp, &format!("{} {}", &current[..3], &current[3..]), now),
            Some(now / 30),
            "spaces ignored"
        );
        assert_eq!(matching_step(&totp, "12345", now), None);
    }

    #[test]
    fn secrets_are_160_bits_and_base32() {
        let secret = new_secret();
        assert_eq!(secret.len(), 20);
        assert_ne!(secret, new_secret());
        assert_eq!(secret_text(&secret).len(), 32);
    }
}
