//! Recovery codes: ten per person, each 12 symbols of Crockford's base32 (60 random bits),
//! written `xxxx-xxxx-xxxx`, stored only as a keyed hash (HMAC under the master key), each
//! accepted once by a conditional UPDATE, all replaced on regeneration.

use diesel::prelude::*;
use keystep_core::db::DbConn;
use keystep_core::schema::recovery_codes;
use keystep_core::Services;
use rand::RngCore;

/// Codes per person.
pub const COUNT: usize = 10;
/// Crockford's base32 in lower case: no i, l, o, u to confuse.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const MAC_PURPOSE: &str = "recovery_code";

/// A new code, `xxxx-xxxx-xxxx`.
pub fn generate_code() -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    // 256 is a multiple of 32, so the remainder is uniform.
    let symbols: Vec<char> = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
        .collect();
    symbols
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// What a person typed, in canonical form: case, spaces and dashes ignored, and the letters
/// Crockford reads as digits (i, l → 1; o → 0) mapped.
pub fn normalize(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'i' | 'l' => '1',
            'o' => '0',
            other => other,
        })
        .collect()
}

fn hash(services: &Services, code: &str) -> String {
    services
        .secret_box
        .mac(MAC_PURPOSE, normalize(code).as_bytes())
}

/// Replaces all of a person's codes with ten new ones and returns them (shown once).
pub fn regenerate(
    services: &Services,
    conn: &mut DbConn,
    user_id: &str,
) -> keystep_core::Result<Vec<String>> {
    remove_all(conn, user_id)?;
    let now = services.clock.now();
    let codes: Vec<String> = (0..COUNT).map(|_| generate_code()).collect();
    for code in &codes {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::id.eq(uuid_like()),
                recovery_codes::user_id.eq(user_id),
                recovery_codes::code_hash.eq(hash(services, code)),
                recovery_codes::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(codes)
}

fn uuid_like() -> String {
    keystep_core::opaque::random_token()
}

/// Unused codes left.
pub fn remaining(conn: &mut DbConn, user_id: &str) -> keystep_core::Result<i64> {
    Ok(recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)?)
}

/// Removes every code of a person.
pub fn remove_all(conn: &mut DbConn, user_id: &str) -> keystep_core::Result<usize> {
    Ok(
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
            .execute(conn)?,
    )
}

/// What presenting a code came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryCheck {
    /// Accepted and spent; this many remain.
    Accepted {
        /// Unused codes left.
        remaining: i64,
    },
    /// Unknown or already used.
    Wrong,
}

/// Spends a code of the person. Of two concurrent uses of one code exactly one succeeds:
/// the UPDATE only touches an unused row.
pub fn spend(
    services: &Services,
    conn: &mut DbConn,
    user_id: &str,
    code: &str,
) -> keystep_core::Result<RecoveryCheck> {
    if normalize(code).len() != 12 {
        return Ok(RecoveryCheck::Wrong);
    }
    let spent = diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::code_hash.eq(hash(services, code)))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(Some(services.clock.now())))
    .execute(conn)?;
    if spent != 1 {
        return Ok(RecoveryCheck::Wrong);
    }
    Ok(RecoveryCheck::Accepted {
        remaining: remaining(conn, user_id)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_random_and_normalize() {
        let code = generate_code();
        assert_eq!(code.len(), 14);
        assert_eq!(code.matches('-').count(), 2);
        assert!(code
            .chars()
            .all(|c| c == '-' || ALPHABET.contains(&(c as u8))));
        assert_ne!(code, generate_code());
        assert_eq!(normalize(" AbCd-EfGh-1L0O "), "abcdefgh1100");
        assert_eq!(
            normalize(&code.to_uppercase().replace('-', " ")),
            normalize(&code)
        );
    }
}
