//! Storage of the OpenID provider's signing keys, shared by every node. The private part is
//! sealed by the secret box; key material itself (generation, signing, JWKS) is keystep-oidc's.

use diesel::prelude::*;

use crate::db::DbConn;
use crate::error::Result;
use crate::schema::signing_keys;

/// A stored key.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct StoredKey {
    /// Key id (the RFC 7638 thumbprint).
    pub kid: String,
    /// `RS256` or `ES256`.
    pub alg: String,
    /// PKCS#8 DER, sealed for purpose `signing_key`.
    pub private_key: String,
    /// The public JWK, JSON.
    pub public_jwk: String,
    /// Unix seconds.
    pub created_at: i64,
    /// When it stops (or stopped) signing; `None` while active with no end set. A time in
    /// the future is a key rotated out that signs until its successor takes over.
    pub retired_at: Option<i64>,
    /// When it starts signing; `None`: from its creation. Until then it is only published.
    pub signs_from: Option<i64>,
}

/// Stores a new key.
pub fn insert(conn: &mut DbConn, key: &StoredKey) -> Result<()> {
    diesel::insert_into(signing_keys::table)
        .values(key)
        .execute(conn)?;
    Ok(())
}

/// Every key, newest first.
pub fn list(conn: &mut DbConn) -> Result<Vec<StoredKey>> {
    Ok(signing_keys::table
        .order(signing_keys::created_at.desc())
        .select(StoredKey::as_select())
        .load(conn)?)
}

/// Retires the keys of `alg` at `at` (now, or when their successor starts signing): those
/// still active, and those set to retire later than that. They keep verifying until dropped.
pub fn retire_active(conn: &mut DbConn, alg: &str, at: i64) -> Result<usize> {
    Ok(diesel::update(
        signing_keys::table
            .filter(signing_keys::alg.eq(alg))
            .filter(
                signing_keys::retired_at
                    .is_null()
                    .or(signing_keys::retired_at.gt(at)),
            ),
    )
    .set(signing_keys::retired_at.eq(at))
    .execute(conn)?)
}

/// Deletes keys retired before `cutoff` (no token they signed is still valid).
pub fn delete_retired_before(conn: &mut DbConn, cutoff: i64) -> Result<usize> {
    Ok(
        diesel::delete(signing_keys::table.filter(signing_keys::retired_at.lt(cutoff)))
            .execute(conn)?,
    )
}
