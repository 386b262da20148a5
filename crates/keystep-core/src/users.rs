//! People who sign in: creation, lookup, disabling, passwords. The `id` is a random UUID and
//! becomes the stable `sub`; the username may be renamed later and is unique regardless of case.

use diesel::prelude::*;

use crate::clock::Clock;
use crate::db::{is_unique_violation, Database, DbConn};
use crate::error::{Error, Result};
use crate::password::{PasswordCheck, PasswordHasher};
use crate::schema::users;

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    /// Stable random id; the `sub` of every token.
    pub id: String,
    /// The name typed at sign-in, as the operator wrote it.
    pub username: String,
    /// Lower-cased username, unique.
    pub username_normalized: String,
    /// Where mails go.
    pub email: String,
    /// The name shown in pages and the `name` claim.
    pub display_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// A disabled user cannot sign in.
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// The language the person chose for pages and mails (a catalogue tag), if they did.
    pub locale: Option<String>,
}

/// What is needed to create a user.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    /// 1–64 characters: letters, digits, `.`, `_`, `-`, `@`.
    pub username: &'a str,
    /// A valid mail address.
    pub email: &'a str,
    /// Defaults to the username when empty.
    pub display_name: &'a str,
    /// Checked against the password rules, then hashed.
    pub password: &'a str,
}

/// Lower-cases a username for lookups and uniqueness.
pub fn normalize_username(username: &str) -> String {
    username.trim().to_lowercase()
}

/// Checks a username: 1–64 characters of letters, digits, `.`, `_`, `-`, `@`.
pub fn check_username(username: &str) -> Result<()> {
    let count = username.chars().count();
    if count == 0 || count > 64 {
        return Err(Error::invalid("username", "must be 1 to 64 characters"));
    }
    if !username
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(Error::invalid(
            "username",
            "may contain only letters, digits, '.', '_', '-' and '@'",
        ));
    }
    Ok(())
}

/// Checks a mail address (RFC 5322 addr-spec, as lettre parses it).
pub fn check_email(email: &str) -> Result<()> {
    email
        .parse::<lettre::Address>()
        .map(|_| ())
        .map_err(|e| Error::invalid("email", format!("not a valid mail address: {e}")))
}

/// Creates a user, hashing the password first. Hashing is slow: inside a write transaction
/// call [`insert_user`] with a hash made before it began.
pub fn create_user(
    conn: &mut DbConn,
    passwords: &PasswordHasher,
    clock: &dyn Clock,
    new: &NewUser<'_>,
) -> Result<User> {
    let password_hash = passwords.hash(new.password)?;
    insert_user(conn, clock, new, password_hash)
}

/// Creates a user whose password `new.password` was hashed into `password_hash` (by
/// [`PasswordHasher::hash`], which checks the password rules). A taken username (in any case)
/// is [`Error::UsernameTaken`] and writes nothing.
pub fn insert_user(
    conn: &mut DbConn,
    clock: &dyn Clock,
    new: &NewUser<'_>,
    password_hash: String,
) -> Result<User> {
    let username = new.username.trim();
    check_username(username)?;
    check_email(new.email.trim())?;
    let display_name = match new.display_name.trim() {
        "" => username,
        name if name.chars().count() > 128 => {
            return Err(Error::invalid(
                "display_name",
                "must be at most 128 characters",
            ))
        }
        name => name,
    };
    let now = clock.now();
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        username: username.to_owned(),
        username_normalized: normalize_username(username),
        email: new.email.trim().to_owned(),
        display_name: display_name.to_owned(),
        password_hash,
        disabled: false,
        locale: None,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(users::table)
        .values(&user)
        .execute(conn)
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::UsernameTaken(username.to_owned())
            } else {
                Error::Database(e)
            }
        })?;
    Ok(user)
}

/// Finds a user by username, in any case.
pub fn find_by_username(conn: &mut DbConn, username: &str) -> Result<Option<User>> {
    Ok(users::table
        .filter(users::username_normalized.eq(normalize_username(username)))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// Finds a user by id (`sub`).
pub fn find_by_id(conn: &mut DbConn, id: &str) -> Result<Option<User>> {
    Ok(users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// The person with this id when they may still use what was issued to them (not disabled).
pub fn find_active(conn: &mut DbConn, id: &str) -> Result<Option<User>> {
    Ok(find_by_id(conn, id)?.filter(|user| !user.disabled))
}

/// Locks the person's row until the transaction ends, so changes to what belongs to them that
/// read before they write (their second factors) take turns. SQLite's write transactions hold
/// the database's one write lock from their start already; PostgreSQL locks the row.
pub fn lock_for_change(conn: &mut DbConn, user_id: &str) -> Result<()> {
    if let DbConn::Postgres(pg) = conn {
        diesel::sql_query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::Text, _>(user_id)
            .execute(pg)?;
    }
    Ok(())
}

/// Every user, ordered by username.
pub fn list_users(conn: &mut DbConn) -> Result<Vec<User>> {
    Ok(users::table
        .order(users::username_normalized.asc())
        .select(User::as_select())
        .load(conn)?)
}

/// Disables (or re-enables) a user by username.
pub fn set_disabled(
    conn: &mut DbConn,
    clock: &dyn Clock,
    username: &str,
    disabled: bool,
) -> Result<User> {
    let updated = diesel::update(
        users::table.filter(users::username_normalized.eq(normalize_username(username))),
    )
    .set((
        users::disabled.eq(disabled),
        users::updated_at.eq(clock.now()),
    ))
    .execute(conn)?;
    found(updated, username)?;
    find_by_username(conn, username)?.ok_or_else(|| Error::UserNotFound(username.to_owned()))
}

/// Stores a new password hash (made by [`PasswordHasher::hash`] before the transaction) for
/// the user with this id.
pub fn set_password_hash(
    conn: &mut DbConn,
    clock: &dyn Clock,
    user_id: &str,
    hash: &str,
) -> Result<()> {
    let updated = diesel::update(users::table.find(user_id))
        .set((
            users::password_hash.eq(hash),
            users::updated_at.eq(clock.now()),
        ))
        .execute(conn)?;
    found(updated, user_id)
}

/// A change that reached no row: nobody is named `who`.
fn found(updated: usize, who: &str) -> Result<()> {
    if updated == 0 {
        return Err(Error::UserNotFound(who.to_owned()));
    }
    Ok(())
}

/// Saves the language the person chose (`None` forgets it).
pub fn set_locale(
    conn: &mut DbConn,
    clock: &dyn Clock,
    user_id: &str,
    locale: Option<&str>,
) -> Result<()> {
    let updated = diesel::update(users::table.find(user_id))
        .set((users::locale.eq(locale), users::updated_at.eq(clock.now())))
        .execute(conn)?;
    found(updated, user_id)
}

/// Inside the write that acts on a [`verify_password`] result: fails with
/// [`Error::InvalidCredentials`] when the password was changed since it was verified (the hash
/// runs outside any transaction, so a change can commit meanwhile, ending sessions that this
/// sign-in must not outlive), and with [`Error::UserDisabled`] when the account was disabled.
pub fn confirm_unchanged(conn: &mut DbConn, verified: &User) -> Result<()> {
    let current: Option<(String, bool)> = users::table
        .find(&verified.id)
        .select((users::password_hash, users::disabled))
        .first(conn)
        .optional()?;
    match current {
        Some((hash, _)) if hash != verified.password_hash => Err(Error::InvalidCredentials),
        Some((_, true)) => Err(Error::UserDisabled),
        Some(_) => Ok(()),
        None => Err(Error::InvalidCredentials),
    }
}

/// Checks a username and password. Unknown user and wrong password are the same
/// [`Error::InvalidCredentials`], at the same cost; a right password for a disabled account
/// is [`Error::UserDisabled`]. A hash made with old parameters is replaced on success.
///
/// Takes the database rather than a connection: the user is read, the hash is checked with
/// no transaction open (it takes tens of milliseconds, and a write lock held that long would
/// queue every other sign-in behind it), and only a rehash writes, in a short transaction.
#[tracing::instrument(skip_all)]
pub fn verify_password(
    db: &Database,
    passwords: &PasswordHasher,
    clock: &dyn Clock,
    username: &str,
    password: &str,
) -> Result<User> {
    let Some(mut user) = db.read(|conn| find_by_username(conn, username))? else {
        passwords.verify_dummy(password)?;
        return Err(Error::InvalidCredentials);
    };
    match passwords.verify(password, &user.password_hash)? {
        PasswordCheck::Mismatch => return Err(Error::InvalidCredentials),
        PasswordCheck::Match => {}
        PasswordCheck::MatchNeedsRehash => {
            // Rules may have tightened since; the old password stays valid, only its hash
            // moves to the configured cost.
            // Only over the hash just verified: a password changed meanwhile is not undone.
            match passwords.hash_for_rehash(password) {
                Ok(hash) => {
                    let replaced = db.write(|conn| {
                        let updated = diesel::update(
                            users::table
                                .find(&user.id)
                                .filter(users::password_hash.eq(&user.password_hash)),
                        )
                        .set((
                            users::password_hash.eq(&hash),
                            users::updated_at.eq(clock.now()),
                        ))
                        .execute(conn)?;
                        Ok(updated == 1)
                    })?;
                    if replaced {
                        user.password_hash = hash;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "password rehash failed; keeping old hash"),
            }
        }
    }
    if user.disabled {
        return Err(Error::UserDisabled);
    }
    Ok(user)
}
