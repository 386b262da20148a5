//! A person's second factors as a whole: which are bound, removing all of them, and the
//! attempt throttle that guards every second-factor guess (counted in the ephemeral store,
//! so every node sees the same count).

use std::time::Duration;

use keystep_core::db::DbConn;
use keystep_core::mail::Notice;
use keystep_core::throttle::{Attempt, Limit, Throttle};
use keystep_core::users::User;
use keystep_core::Services;

use crate::{recovery, totp};

/// The second factors of a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// When the TOTP authenticator was bound, if it is.
    pub totp_bound_at: Option<i64>,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
}

impl Status {
    /// True when the person can pass a second-factor check.
    pub fn has_second_factor(&self) -> bool {
        self.totp_bound_at.is_some() || self.recovery_codes_left > 0
    }
}

/// A person's second factors.
pub fn status(conn: &mut DbConn, user_id: &str) -> keystep_core::Result<Status> {
    Ok(Status {
        totp_bound_at: totp::find(conn, user_id)?.map(|b| b.created_at),
        recovery_codes_left: recovery::remaining(conn, user_id)?,
    })
}

/// Removes the TOTP binding and every recovery code.
pub fn remove_all(conn: &mut DbConn, user_id: &str) -> keystep_core::Result<()> {
    totp::unbind(conn, user_id)?;
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
