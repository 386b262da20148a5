//! A person's second factors as a whole: which methods they hold and which they prefer,
//! adding and removing stored methods, removing all of them, and the attempt throttle that guards every second-factor guess (counted in the ephemeral store,
//! so every node sees the same count).

use std::time::Duration;

use diesel::prelude::*;
use keystep_core::db::DbConn;
use keystep_core::mail::Notice;
use keystep_core::schema::{second_factor_methods, second_factor_preferences};
use keystep_core::throttle::{Attempt, Limit, Throttle};
use keystep_core::users::User;
use keystep_core::Services;

use crate::method::{Method, Strength, CHOOSABLE};
use crate::{recovery, totp};

/// The second factors of a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// When the TOTP authenticator was bound, if it is.
    pub totp_bound_at: Option<i64>,
    /// When mailed codes were turned on, if they are.
    pub email_bound_at: Option<i64>,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
    /// The method the person chose to be offered first, if they chose one they still hold.
    pub preferred: Option<Method>,
}

impl Status {
    /// No second factor at all.
    pub const NONE: Self = Self {
        totp_bound_at: None,
        email_bound_at: None,
        recovery_codes_left: 0,
        preferred: None,
    };

    /// When `method` was bound, if it is (recovery codes have no date here).
    pub fn bound_at(&self, method: Method) -> Option<i64> {
        match method {
            Method::Totp => self.totp_bound_at,
            Method::EmailCode => self.email_bound_at,
            Method::RecoveryCode => None,
        }
    }

    /// The methods the person holds, recovery codes aside: the preferred one first, then in
    /// keystep's order ([`CHOOSABLE`]).
    pub fn methods(&self) -> Vec<Method> {
        let mut held: Vec<Method> = CHOOSABLE
            .into_iter()
            .filter(|m| self.bound_at(*m).is_some())
            .collect();
        if let Some(at) = self
            .preferred
            .and_then(|p| held.iter().position(|m| *m == p))
        {
            let preferred = held.remove(at);
            held.insert(0, preferred);
        }
        held
    }

    /// True when the person holds a method other than recovery codes.
    pub fn has_method(&self) -> bool {
        CHOOSABLE.iter().any(|m| self.bound_at(*m).is_some())
    }

    /// True when the person can pass a second-factor check.
    pub fn has_second_factor(&self) -> bool {
        self.has_method() || self.recovery_codes_left > 0
    }

    /// The method a second-factor step offers first: the preferred one, else the first held;
    /// recovery codes when they are all that is left.
    pub fn offered(&self) -> Option<Method> {
        self.methods()
            .first()
            .copied()
            .or((self.recovery_codes_left > 0).then_some(Method::RecoveryCode))
    }

    /// What the strongest method the person holds proves, if they hold one: what a change
    /// that could take every method away asks for.
    pub fn strongest(&self) -> Option<Strength> {
        self.methods().iter().map(|m| m.strength()).max()
    }
}

/// A person's second factors.
pub fn status(conn: &mut DbConn, user_id: &str) -> keystep_core::Result<Status> {
    let stored: Vec<(String, i64)> = second_factor_methods::table
        .filter(second_factor_methods::user_id.eq(user_id))
        .select((
            second_factor_methods::method,
            second_factor_methods::created_at,
        ))
        .load(conn)?;
    let stored_at = |method: Method| {
        stored
            .iter()
            .find(|(name, _)| name == method.as_str())
            .map(|(_, at)| *at)
    };
    let preferred: Option<String> = second_factor_preferences::table
        .find(user_id)
        .select(second_factor_preferences::method)
        .first(conn)
        .optional()?;
    let mut status = Status {
        totp_bound_at: totp::find(conn, user_id)?.map(|b| b.created_at),
        email_bound_at: stored_at(Method::EmailCode),
        recovery_codes_left: recovery::remaining(conn, user_id)?,
        preferred: None,
    };
    // A preference for a method since removed is no preference.
    status.preferred = preferred
        .as_deref()
        .and_then(Method::parse)
        .filter(|m| status.bound_at(*m).is_some());
    Ok(status)
}

/// Records that the person holds `method` (a stored one: mailed or SMS codes), with its sealed
/// phone number for SMS. Holding it already changes nothing.
pub fn add_stored(
    services: &Services,
    conn: &mut DbConn,
    user_id: &str,
    method: Method,
    phone: Option<&str>,
) -> keystep_core::Result<()> {
    diesel::delete(
        second_factor_methods::table
            .filter(second_factor_methods::user_id.eq(user_id))
            .filter(second_factor_methods::method.eq(method.as_str())),
    )
    .execute(conn)?;
    diesel::insert_into(second_factor_methods::table)
        .values((
            second_factor_methods::user_id.eq(user_id),
            second_factor_methods::method.eq(method.as_str()),
            second_factor_methods::phone.eq(phone),
            second_factor_methods::created_at.eq(services.clock.now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Removes one method of the person (not recovery codes: they go with the last method).
/// Returns whether they held it.
pub fn remove_method(
    conn: &mut DbConn,
    user_id: &str,
    method: Method,
) -> keystep_core::Result<bool> {
    let removed = match method {
        Method::Totp => totp::unbind(conn, user_id)?,
        Method::EmailCode => diesel::delete(
            second_factor_methods::table
                .filter(second_factor_methods::user_id.eq(user_id))
                .filter(second_factor_methods::method.eq(method.as_str())),
        )
        .execute(conn)?,
        Method::RecoveryCode => 0,
    };
    // A preference for it goes with it: adding it again later must not bring it back.
    diesel::delete(
        second_factor_preferences::table
            .filter(second_factor_preferences::user_id.eq(user_id))
            .filter(second_factor_preferences::method.eq(method.as_str())),
    )
    .execute(conn)?;
    Ok(removed > 0)
}

/// Makes `method` the one offered first at sign-in.
pub fn set_preferred(
    services: &Services,
    conn: &mut DbConn,
    user_id: &str,
    method: Method,
) -> keystep_core::Result<()> {
    diesel::delete(second_factor_preferences::table.find(user_id)).execute(conn)?;
    diesel::insert_into(second_factor_preferences::table)
        .values((
            second_factor_preferences::user_id.eq(user_id),
            second_factor_preferences::method.eq(method.as_str()),
            second_factor_preferences::updated_at.eq(services.clock.now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Removes every method, every recovery code and the preference: two-step verification is
/// off.
pub fn remove_all(conn: &mut DbConn, user_id: &str) -> keystep_core::Result<()> {
    totp::unbind(conn, user_id)?;
    diesel::delete(second_factor_methods::table.filter(second_factor_methods::user_id.eq(user_id)))
        .execute(conn)?;
    diesel::delete(second_factor_preferences::table.find(user_id)).execute(conn)?;
    recovery::remove_all(conn, user_id)?;
    Ok(())
}

const THROTTLE_SCOPE: &str = "second-factor";
const PER_IP_SCOPE: &str = "second-factor-ip";
const PER_DAY_SCOPE: &str = "second-factor-day";
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

fn limit(services: &Services, max_failures: u64) -> Limit {
    Limit {
        max_failures,
        window: Duration::from_secs(services.config.mfa.failure_window_seconds),
    }
}

fn throttle(services: &Services) -> Throttle<'_> {
    Throttle::new(
        services,
        THROTTLE_SCOPE,
        limit(services, services.config.mfa.max_failures),
    )
}

fn per_ip(services: &Services) -> Throttle<'_> {
    let max = services.config.mfa.max_failures_per_ip;
    Throttle::new(services, PER_IP_SCOPE, limit(services, max))
}

/// The longer window: the short one alone still allows about 480 guesses a day.
fn per_day(services: &Services) -> Throttle<'_> {
    let limit = Limit {
        max_failures: services.config.mfa.max_failures_per_day,
        window: DAY,
    };
    Throttle::new(services, PER_DAY_SCOPE, limit)
}

/// When the person's second factor is locked (for the short window or the day), until when
/// (Unix seconds).
pub fn locked_until(services: &Services, user_id: &str) -> keystep_core::Result<Option<i64>> {
    let day = per_day(services).locked_until(user_id)?;
    let window = throttle(services).locked_until(user_id)?;
    Ok(day.max(window))
}

/// A lock a wrong code led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    /// Unix seconds.
    pub until: i64,
    /// This code used up the day's attempts: the person is to be told.
    pub day_tripped: bool,
}

/// An attempt at the person's second factor that may be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// It is the day's last: if its code is wrong, the second factor is locked for the day.
    pub last_of_the_day: bool,
}

/// Counts an attempt at the person's second factor before its code is checked, for the short
/// window and the day, and says whether it may be checked: `Ok` while both have attempts
/// left, else the lock's end. Each count is one atomic increment in the shared store, made
/// first, so concurrent guesses (on one node or several) cannot all pass a check made before
/// any of them was counted; a right code then forgets the counts ([`reset_failures`]). Codes
/// from an address with too many wrong ones (`mfa.max_failures_per_ip`, whoever they were
/// for) are refused too; that count is of wrong codes only, since a right one must not
/// forgive an address the wrong ones of others.
pub fn count_attempt(
    services: &Services,
    user_id: &str,
    ip: Option<&str>,
) -> keystep_core::Result<Result<Counted, i64>> {
    if let Some(until) = ip
        .map(|ip| per_ip(services).locked_until(ip))
        .transpose()?
        .flatten()
    {
        return Ok(Err(until));
    }
    if let Some(until) = throttle(services).count_attempt(user_id)? {
        return Ok(Err(until));
    }
    Ok(match per_day(services).attempt(user_id)? {
        Attempt::Allowed { last, .. } => Ok(Counted {
            last_of_the_day: last,
        }),
        Attempt::Locked { until } => Err(until),
    })
}

/// After a wrong code (already counted by [`count_attempt`]): counts it for the address, and
/// returns the lock when the person's attempts of the window or the day are now used up.
pub fn record_failure(
    services: &Services,
    user_id: &str,
    ip: Option<&str>,
    counted: Counted,
) -> keystep_core::Result<Option<Lock>> {
    if let Some(ip) = ip {
        per_ip(services).record_failure(ip)?;
    }
    Ok(locked_until(services, user_id)?.map(|until| Lock {
        until,
        day_tripped: counted.last_of_the_day,
    }))
}

/// Tells the person that wrong codes locked their codes for the day (second-factor or mailed
/// ones). Call it after the transaction of the check.
pub fn mail_day_lock(services: &Services, user: &User, lang: Option<&str>) {
    services.notify_after_commit(user, &Notice::SecondFactorLocked, lang);
}

/// When codes from `ip` are refused for too many wrong ones (of any kind: second factors and
/// mailed codes), until when.
pub fn ip_locked_until(services: &Services, ip: &str) -> keystep_core::Result<Option<i64>> {
    per_ip(services).locked_until(ip)
}

/// Counts a wrong code from `ip`.
pub fn record_ip_failure(services: &Services, ip: &str) -> keystep_core::Result<()> {
    per_ip(services).record_failure(ip).map(|_| ())
}

/// Forgets the person's failures, of the short window and of the day: after a right code, or
/// when an operator resets their second factors.
pub fn reset_failures(services: &Services, user_id: &str) -> keystep_core::Result<()> {
    throttle(services).reset(user_id)?;
    per_day(services).reset(user_id)
}
