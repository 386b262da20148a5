//! Refresh tokens (RFC 6749 §6, RFC 9700 §4.14): opaque, only their hash stored, rotated on
//! every use. Each rotation stays in the grant's family; presenting a token that was already
//! rotated means it leaked, and the whole family is revoked. Rotation is a conditional UPDATE
//! that must touch one row, so two concurrent uses of one token cannot both succeed.

use diesel::prelude::*;

use crate::clock::Clock;
use crate::db::DbConn;
use crate::error::Result;
use crate::opaque::{hash_token, random_token};
use crate::schema::refresh_tokens;

/// A stored refresh token (one link of a family).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshGrant {
    /// Row id.
    pub id: String,
    /// Hash of the token.
    pub token_hash: String,
    /// The grant this token belongs to; shared by its rotations.
    pub family_id: String,
    /// Issued to.
    pub client_id: String,
    /// Whose.
    pub user_id: String,
    /// The SSO session it ends with; `None` for offline_access.
    pub session_id: Option<String>,
    /// Space-separated scope.
    pub scope: String,
    /// `auth_time` of the sign-in behind the grant.
    pub auth_time: i64,
    /// `acr` of that sign-in.
    pub acr: String,
    /// `amr` of that sign-in, as a JSON array.
    pub amr: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// When it was rotated.
    pub used_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
}

impl RefreshGrant {
    /// The `amr` values.
    pub fn amr_values(&self) -> Vec<String> {
        serde_json::from_str(&self.amr).unwrap_or_default()
    }

    /// Usable now: not rotated, not revoked, not expired.
    pub fn is_active(&self, now: i64) -> bool {
        self.used_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }
}

/// What a new refresh token carries.
#[derive(Debug, Clone)]
pub struct NewRefreshGrant<'a> {
    /// An existing family (rotation), or `None` for a new grant.
    pub family_id: Option<&'a str>,
    /// Issued to.
    pub client_id: &'a str,
    /// Whose.
    pub user_id: &'a str,
    /// Bound session, `None` for offline_access.
    pub session_id: Option<&'a str>,
    /// Space-separated scope.
    pub scope: &'a str,
    /// From the sign-in.
    pub auth_time: i64,
    /// From the sign-in.
    pub acr: &'a str,
    /// From the sign-in.
    pub amr: &'a [String],
    /// Seconds until it expires.
    pub lifetime: i64,
}

/// Stores a new refresh token and returns it with the token to hand out.
pub fn issue(
    conn: &mut DbConn,
    clock: &dyn Clock,
    new: &NewRefreshGrant<'_>,
) -> Result<(RefreshGrant, String)> {
    let now = clock.now();
    let token = random_token();
    let grant = RefreshGrant {
        id: uuid::Uuid::new_v4().to_string(),
        token_hash: hash_token(&token),
        family_id: new
            .family_id
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned),
        client_id: new.client_id.to_owned(),
        user_id: new.user_id.to_owned(),
        session_id: new.session_id.map(str::to_owned),
        scope: new.scope.to_owned(),
        auth_time: new.auth_time,
        acr: new.acr.to_owned(),
        amr: serde_json::to_string(new.amr).unwrap_or_else(|_| "[]".to_owned()),
        created_at: now,
        expires_at: now + new.lifetime,
        used_at: None,
        revoked_at: None,
    };
    diesel::insert_into(refresh_tokens::table)
        .values(&grant)
        .execute(conn)?;
    Ok((grant, token))
}

/// The stored token behind a presented one.
pub fn find_by_token(conn: &mut DbConn, token: &str) -> Result<Option<RefreshGrant>> {
    Ok(refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash_token(token)))
        .select(RefreshGrant::as_select())
        .first(conn)
        .optional()?)
}

/// What presenting a refresh token led to. Reuse is an outcome, not an error, so the caller
/// commits the family's revocation before it answers `invalid_grant`.
#[derive(Debug)]
pub enum Rotation {
    /// The token was live and is now spent; this is the grant it belonged to.
    Rotated(Box<RefreshGrant>),
    /// Unknown, expired, revoked, or another client's token.
    Invalid,
    /// A token that was already rotated: its family has been revoked.
    Reused {
        /// The revoked family.
        family_id: String,
    },
}

/// Spends a presented refresh token of `client_id`. The caller issues the successor in the
/// same family (and transaction).
pub fn spend(
    conn: &mut DbConn,
    clock: &dyn Clock,
    token: &str,
    client_id: &str,
) -> Result<Rotation> {
    let now = clock.now();
    let Some(grant) = find_by_token(conn, token)? else {
        return Ok(Rotation::Invalid);
    };
    if grant.client_id != client_id || grant.revoked_at.is_some() || grant.expires_at <= now {
        return Ok(Rotation::Invalid);
    }
    if grant.used_at.is_some() {
        tracing::warn!(family_id = %grant.family_id, client_id, "rotated refresh token presented again; revoking its family");
        revoke_family(conn, clock, &grant.family_id)?;
        return Ok(Rotation::Reused {
            family_id: grant.family_id,
        });
    }
    let spent = diesel::update(
        refresh_tokens::table
            .find(&grant.id)
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(now))
    .execute(conn)?;
    if spent != 1 {
        // Another request spent it between our read and our write: that is reuse too.
        revoke_family(conn, clock, &grant.family_id)?;
        return Ok(Rotation::Reused {
            family_id: grant.family_id,
        });
    }
    Ok(Rotation::Rotated(Box::new(grant)))
}

/// The ephemeral store's mark that a family was revoked: the access tokens issued under it
/// (they name it in `gid`) are refused until they would have expired anyway.
pub fn family_revoked_mark(family_id: &str) -> String {
    format!("revoked-gid:{family_id}")
}

/// The live `offline_access` grants of a person (one row per family: its current token),
/// newest first, optionally of one client.
pub fn live_offline(
    conn: &mut DbConn,
    clock: &dyn Clock,
    user_id: &str,
    client_id: Option<&str>,
) -> Result<Vec<RefreshGrant>> {
    let mut query = refresh_tokens::table
        .filter(refresh_tokens::user_id.eq(user_id))
        .filter(refresh_tokens::session_id.is_null())
        .filter(refresh_tokens::used_at.is_null())
        .filter(refresh_tokens::revoked_at.is_null())
        .filter(refresh_tokens::expires_at.gt(clock.now()))
        .order(refresh_tokens::created_at.desc())
        .select(RefreshGrant::as_select())
        .into_boxed();
    if let Some(client_id) = client_id {
        query = query.filter(refresh_tokens::client_id.eq(client_id));
    }
    Ok(query.load(conn)?)
}

/// Revokes every token of a family.
pub fn revoke_family(conn: &mut DbConn, clock: &dyn Clock, family_id: &str) -> Result<usize> {
    revoke(conn, clock, Bound::Family(family_id))
}

/// Revokes the tokens bound to an SSO session (not offline_access ones).
pub fn revoke_for_session(conn: &mut DbConn, clock: &dyn Clock, session_id: &str) -> Result<usize> {
    revoke(conn, clock, Bound::Session(session_id))
}

/// What revoked tokens were bound to.
enum Bound<'a> {
    Family(&'a str),
    Session(&'a str),
}

fn revoke(conn: &mut DbConn, clock: &dyn Clock, bound: Bound<'_>) -> Result<usize> {
    let live = diesel::update(refresh_tokens::table)
        .filter(refresh_tokens::revoked_at.is_null())
        .into_boxed();
    let chosen = match bound {
        Bound::Family(id) => live.filter(refresh_tokens::family_id.eq(id)),
        Bound::Session(id) => live.filter(refresh_tokens::session_id.eq(id)),
    };
    Ok(chosen
        .set(refresh_tokens::revoked_at.eq(clock.now()))
        .execute(conn)?)
}
