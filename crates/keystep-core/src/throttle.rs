//! Throttling of guesses (passwords now, second factors and mail codes later): failures are
//! counted per key in the ephemeral store within a fixed window, so every node sees the same
//! count; at the limit the key is locked until the window ends.

use std::time::Duration;

use crate::clock::Clock;
use crate::ephemeral::EphemeralStore;
use crate::error::Result;

/// A limit on failures per window.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Failures allowed within the window; the next attempt is refused.
    pub max_failures: u64,
    /// The window.
    pub window: Duration,
}

fn key(scope: &str, subject: &str) -> String {
    format!("throttle:{scope}:{subject}")
}

/// The Unix second the window of `key` ends (and with it a lock).
fn lock_end(store: &dyn EphemeralStore, clock: &dyn Clock, key: &str, limit: Limit) -> Result<i64> {
    let left = store.ttl(key)?.unwrap_or(limit.window);
    Ok(clock.now() + i64::try_from(left.as_secs()).unwrap_or(0) + 1)
}

/// When `subject` is locked, the Unix second the lock ends.
pub fn locked_until(
    store: &dyn EphemeralStore,
    clock: &dyn Clock,
    scope: &str,
    subject: &str,
    limit: Limit,
) -> Result<Option<i64>> {
    let key = key(scope, subject);
    let count = store
        .get(&key)?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if count < limit.max_failures {
        return Ok(None);
    }
    lock_end(store, clock, &key, limit).map(Some)
}

/// Counts an attempt before it is checked, and says whether it may go ahead: `None` for the
/// first `max_failures` attempts of the window, else the Unix second the lock ends. Counting
/// first with one atomic increment means concurrent attempts cannot all pass a check made
/// before any of them was counted. A success should [`reset`] the count; a failure leaves it.
pub fn count_attempt(
    store: &dyn EphemeralStore,
    clock: &dyn Clock,
    scope: &str,
    subject: &str,
    limit: Limit,
) -> Result<Option<i64>> {
    let key = key(scope, subject);
    if store.incr(&key, limit.window)? <= limit.max_failures {
        return Ok(None);
    }
    lock_end(store, clock, &key, limit).map(Some)
}

/// Counts a failure; returns the count in the current window.
pub fn record_failure(
    store: &dyn EphemeralStore,
    scope: &str,
    subject: &str,
    limit: Limit,
) -> Result<u64> {
    store.incr(&key(scope, subject), limit.window)
}

/// Forgets the failures of `subject` (after a success).
pub fn reset(store: &dyn EphemeralStore, scope: &str, subject: &str) -> Result<()> {
    store.delete(&key(scope, subject))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::ephemeral::MemoryStore;

    #[test]
    fn locks_at_the_limit_until_the_window_ends() {
        let clock = Arc::new(ManualClock::at(1_000));
        let store = MemoryStore::new(clock.clone());
        let limit = Limit {
            max_failures: 3,
            window: Duration::from_secs(900),
        };
        for expected in 1..=2 {
            assert_eq!(
                record_failure(&store, "login", "ada", limit).unwrap(),
                expected
            );
            assert_eq!(
                locked_until(&store, clock.as_ref(), "login", "ada", limit).unwrap(),
                None
            );
        }
        record_failure(&store, "login", "ada", limit).unwrap();
        let until = locked_until(&store, clock.as_ref(), "login", "ada", limit)
            .unwrap()
            .unwrap();
        assert!((1_900..=1_901).contains(&until), "{until}");
        assert_eq!(
            locked_until(&store, clock.as_ref(), "login", "bob", limit).unwrap(),
            None
        );
        clock.advance(Duration::from_secs(901));
        assert_eq!(
            locked_until(&store, clock.as_ref(), "login", "ada", limit).unwrap(),
            None
        );
        record_failure(&store, "login", "bob", limit).unwrap();
        reset(&store, "login", "bob").unwrap();
        assert_eq!(record_failure(&store, "login", "bob", limit).unwrap(), 1);
    }

    #[test]
    fn attempts_are_counted_before_they_are_let_through() {
        let clock = Arc::new(ManualClock::at(1_000));
        let store = MemoryStore::new(clock.clone());
        let limit = Limit {
            max_failures: 3,
            window: Duration::from_secs(900),
        };
        for _ in 0..3 {
            assert_eq!(
                count_attempt(&store, clock.as_ref(), "login", "ada", limit).unwrap(),
                None
            );
        }
        let until = count_attempt(&store, clock.as_ref(), "login", "ada", limit)
            .unwrap()
            .unwrap();
        assert!((1_900..=1_901).contains(&until), "{until}");
        // Locked for the check as well, and a success's reset opens it again.
        assert!(locked_until(&store, clock.as_ref(), "login", "ada", limit)
            .unwrap()
            .is_some());
        reset(&store, "login", "ada").unwrap();
        assert_eq!(
            count_attempt(&store, clock.as_ref(), "login", "ada", limit).unwrap(),
            None
        );
    }
}
