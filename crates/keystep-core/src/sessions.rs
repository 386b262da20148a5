//! SSO sessions: the server-side record behind the session cookie. The cookie holds a random
//! token; only its hash is stored, and the token is replaced at every completed sign-in so a
//! token planted before sign-in is worthless after it (no fixation). The record keeps when
//! the password and the second factor were last verified, from which the assurance level
//! (`acr`) and `amr` of new tokens are derived.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::db::DbConn;
use crate::error::Result;
use crate::opaque::{hash_token, random_token};
use crate::refresh_tokens;
use crate::schema::sso_sessions;

/// Authentication assurance levels (NIST SP 800-63B), the values of `acr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aal {
    /// A password.
    Aal1,
    /// A password and a second factor.
    Aal2,
}

impl Aal {
    /// The `acr` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aal1 => "aal1",
            Self::Aal2 => "aal2",
        }
    }

    /// Parses an `acr` value; unknown values are `None` (callers ignore them, OIDC Core
    /// §3.1.2.1 lets the OP choose among the requested values).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "aal1" => Some(Self::Aal1),
            "aal2" => Some(Self::Aal2),
            _ => None,
        }
    }
}

/// How long sessions live, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetimes {
    /// Ends a session unused for this many seconds.
    pub idle: i64,
    /// Ends every session this many seconds after it started.
    pub absolute: i64,
    /// How long a verified second factor keeps the session at aal2.
    pub aal2: i64,
}

/// A live SSO session.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sso_sessions)]
pub struct Session {
    /// The public id, sent as `sid`.
    pub id: String,
    /// Hash of the cookie token.
    pub token_hash: String,
    /// Whose session.
    pub user_id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds, updated at most once a minute.
    pub last_seen_at: i64,
    /// Absolute end, Unix seconds.
    pub expires_at: i64,
    /// The last completed interactive sign-in (the `auth_time` claim).
    pub auth_time: i64,
    /// When the password was last verified.
    pub password_verified_at: i64,
    /// When a second factor was last verified, if ever in this session.
    pub second_factor_verified_at: Option<i64>,
    /// Which second factor (`totp`, `recovery_code`).
    pub second_factor_method: Option<String>,
    /// Where it started.
    pub ip: Option<String>,
    /// The browser it started in.
    pub user_agent: Option<String>,
}

impl Session {
    /// Neither expired nor idle too long at `now`.
    pub fn is_live(&self, now: i64, lifetimes: &SessionLifetimes) -> bool {
        self.expires_at > now && self.last_seen_at + lifetimes.idle > now
    }

    /// The level this session gives new tokens now.
    pub fn aal(&self, now: i64, lifetimes: &SessionLifetimes) -> Aal {
        match self.second_factor_verified_at {
            Some(at) if now - at < lifetimes.aal2 => Aal::Aal2,
            _ => Aal::Aal1,
        }
    }

    /// The `amr` values (RFC 8176) for tokens issued now: `pwd`, plus, while the second factor
    /// counts, the value of the method that proved it ([`second_factor_amr`]) and `mfa`.
    pub fn amr(&self, now: i64, lifetimes: &SessionLifetimes) -> Vec<String> {
        let mut amr = vec!["pwd".to_owned()];
        if self.aal(now, lifetimes) == Aal::Aal2 {
            let method = self.second_factor_method.as_deref().unwrap_or_default();
            amr.push(second_factor_amr(method).to_owned());
            amr.push("mfa".to_owned());
        }
        amr
    }
}

/// The `amr` value (RFC 8176 §2) of a second-factor method, by its stored name. RFC 8176 keeps
/// codes delivered to the person apart from one-time passwords they hold: `sms` ("confirmation
/// using SMS text message") and `tel` beside `otp`. A mailed code is delivered too, and has no
/// registered value, so it is `email`, after `sms`: calling it `otp` would tell a relying party
/// that the person's own device (or their list of recovery codes) made it, when it proves only
/// access to a mailbox, often also the password-reset channel. RFC 8176 lets parties agree on
/// further values; `mfa` beside it says "a second factor" to a party that knows no more. TOTP
/// and recovery codes are `otp`.
pub fn second_factor_amr(method: &str) -> &'static str {
    match method {
        "email" => "email",
        "sms" => "sms",
        _ => "otp",
    }
}

/// Where a request came from: the browser, its address, and the language its pages are in
/// (for the mails the request causes).
#[derive(Debug, Clone, Copy, Default)]
pub struct Device<'a> {
    /// The client IP.
    pub ip: Option<&'a str>,
    /// The User-Agent header (cut to 512 characters).
    pub user_agent: Option<&'a str>,
    /// The page language negotiated for the request (a catalogue tag).
    pub lang: Option<&'a str>,
}

/// Records a completed password sign-in and returns the session with a fresh cookie token.
/// A live session of the same person (from `previous_token`) is continued under a new token,
/// keeping its id and second-factor record; one of another person is ended first.
pub fn sign_in_with_password(
    conn: &mut DbConn,
    clock: &dyn Clock,
    lifetimes: &SessionLifetimes,
    user_id: &str,
    previous_token: Option<&str>,
    device: Device<'_>,
) -> Result<(Session, String)> {
    let now = clock.now();
    let token = random_token();
    if let Some(previous) = previous_token {
        if let Some(session) = find_live(conn, clock, lifetimes, previous)? {
            if session.user_id == user_id {
                diesel::update(sso_sessions::table.find(&session.id))
                    .set((
                        sso_sessions::token_hash.eq(hash_token(&token)),
                        sso_sessions::auth_time.eq(now),
                        sso_sessions::password_verified_at.eq(now),
                        sso_sessions::last_seen_at.eq(now),
                    ))
                    .execute(conn)?;
                let session =
                    find_by_id(conn, &session.id)?.ok_or(crate::Error::SessionNotFound)?;
                return Ok((session, token));
            }
            end(conn, clock, &session.id)?;
        }
    }
    let user_agent = device
        .user_agent
        .map(|ua| ua.chars().take(512).collect::<String>());
    let session = Session {
        id: uuid::Uuid::new_v4().to_string(),
        token_hash: hash_token(&token),
        user_id: user_id.to_owned(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + lifetimes.absolute,
        auth_time: now,
        password_verified_at: now,
        second_factor_verified_at: None,
        second_factor_method: None,
        ip: device.ip.map(str::to_owned),
        user_agent,
    };
    diesel::insert_into(sso_sessions::table)
        .values(&session)
        .execute(conn)?;
    Ok((session, token))
}

/// Records a verified second factor in the session: the level becomes aal2, `auth_time`
/// moves to now (step-up is an interactive sign-in), and the cookie token is replaced.
pub fn record_second_factor(
    conn: &mut DbConn,
    clock: &dyn Clock,
    session_id: &str,
    method: &str,
) -> Result<(Session, String)> {
    let now = clock.now();
    let token = random_token();
    let updated = diesel::update(sso_sessions::table.find(session_id))
        .set((
            sso_sessions::token_hash.eq(hash_token(&token)),
            sso_sessions::auth_time.eq(now),
            sso_sessions::second_factor_verified_at.eq(Some(now)),
            sso_sessions::second_factor_method.eq(Some(method)),
            sso_sessions::last_seen_at.eq(now),
        ))
        .execute(conn)?;
    if updated != 1 {
        return Err(crate::Error::SessionNotFound);
    }
    let session = find_by_id(conn, session_id)?.ok_or(crate::Error::SessionNotFound)?;
    Ok((session, token))
}

/// The session by id.
pub fn find_by_id(conn: &mut DbConn, id: &str) -> Result<Option<Session>> {
    Ok(sso_sessions::table
        .find(id)
        .select(Session::as_select())
        .first(conn)
        .optional()?)
}

/// The live session behind a cookie token, if any. An idle or expired session is ended
/// here; a live one has its last-seen time refreshed (at most once a minute, to keep reads
/// from becoming writes).
pub fn find_live(
    conn: &mut DbConn,
    clock: &dyn Clock,
    lifetimes: &SessionLifetimes,
    token: &str,
) -> Result<Option<Session>> {
    let Some(session) = sso_sessions::table
        .filter(sso_sessions::token_hash.eq(hash_token(token)))
        .select(Session::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let now = clock.now();
    if !session.is_live(now, lifetimes) {
        end(conn, clock, &session.id)?;
        return Ok(None);
    }
    if now - session.last_seen_at >= 60 {
        diesel::update(sso_sessions::table.find(&session.id))
            .set(sso_sessions::last_seen_at.eq(now))
            .execute(conn)?;
    }
    Ok(Some(session))
}

/// Ends a session and the refresh tokens bound to it (offline_access tokens are not bound
/// and survive).
pub fn end(conn: &mut DbConn, clock: &dyn Clock, session_id: &str) -> Result<()> {
    refresh_tokens::revoke_for_session(conn, clock, session_id)?;
    diesel::delete(sso_sessions::table.find(session_id)).execute(conn)?;
    Ok(())
}

/// The ephemeral store's mark that the session `session_id` ended (see
/// [`crate::signout::end_session`]).
pub fn ended_mark(session_id: &str) -> String {
    format!("ended-sid:{session_id}")
}

/// Every live session of a person, newest first.
pub fn list_for_user(conn: &mut DbConn, clock: &dyn Clock, user_id: &str) -> Result<Vec<Session>> {
    let now = clock.now();
    Ok(sso_sessions::table
        .filter(sso_sessions::user_id.eq(user_id))
        .filter(sso_sessions::expires_at.gt(now))
        .order(sso_sessions::created_at.desc())
        .select(Session::as_select())
        .load(conn)?)
}

/// Deletes sessions that have expired or idled out, and refresh tokens past their expiry.
/// Behaviour does not change (both would be refused anyway); the tables just stop growing.
/// Returns how many sessions and refresh tokens went.
pub fn sweep_expired(
    conn: &mut DbConn,
    clock: &dyn Clock,
    lifetimes: &SessionLifetimes,
) -> Result<(usize, usize)> {
    use crate::schema::refresh_tokens;
    let now = clock.now();
    let sessions = diesel::delete(
        sso_sessions::table.filter(
            sso_sessions::expires_at
                .le(now)
                .or(sso_sessions::last_seen_at.le(now - lifetimes.idle)),
        ),
    )
    .execute(conn)?;
    let tokens = diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.le(now)))
        .execute(conn)?;
    Ok((sessions, tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_has_its_amr_value() {
        for (method, amr) in [
            ("totp", "otp"),
            ("recovery_code", "otp"),
            ("email", "email"),
            ("sms", "sms"),
        ] {
            assert_eq!(second_factor_amr(method), amr, "{method}");
        }
    }
}
