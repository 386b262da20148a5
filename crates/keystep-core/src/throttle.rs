//! Throttling of guesses (passwords now, second factors and mail codes later): failures are
//! counted per key in the ephemeral store within a fixed window, so every node sees the same
//! count; at the limit the key is locked until the window ends.

use std::time::Duration;

use crate::clock::Clock;
use crate::ephemeral::EphemeralStore;
use crate::error::Result;
use crate::Services;

/// A limit on failures per window.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Failures allowed within the window; the next attempt is refused.
    pub max_failures: u64,
    /// The window.
    pub window: Duration,
}

/// What counting an attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// It may be checked.
    Allowed {
        /// Which attempt of the window it is, from 1.
        number: u64,
        /// It is the last one allowed: if it fails, the subject is locked.
        last: bool,
    },
    /// Too many already; locked until this Unix second.
    Locked {
        /// Unix seconds.
        until: i64,
    },
}

/// One kind of guess (`scope`: `login`, `mfa`, …) with its limit, counted per subject
/// (an account, an address) in the shared ephemeral store.
#[derive(Clone, Copy)]
pub struct Throttle<'a> {
    store: &'a dyn EphemeralStore,
    clock: &'a dyn Clock,
    scope: &'a str,
    limit: Limit,
}

impl<'a> Throttle<'a> {
    /// The throttle of `scope` over the store and clock of `services`.
    pub fn new(services: &'a Services, scope: &'a str, limit: Limit) -> Self {
        Self::over(
            services.ephemeral.as_ref(),
            services.clock.as_ref(),
            scope,
            limit,
        )
    }

    /// The throttle of `scope` over a store and a clock.
    pub fn over(
        store: &'a dyn EphemeralStore,
        clock: &'a dyn Clock,
        scope: &'a str,
        limit: Limit,
    ) -> Self {
        Self {
            store,
            clock,
            scope,
            limit,
        }
    }

    fn key(&self, subject: &str) -> String {
        format!("throttle:{}:{subject}", self.scope)
    }

    /// The Unix second the window of `key` ends (and with it a lock).
    fn lock_end(&self, key: &str) -> Result<i64> {
        let left = self.store.ttl(key)?.unwrap_or(self.limit.window);
        Ok(self.clock.now() + i64::try_from(left.as_secs()).unwrap_or(0) + 1)
    }

    /// When `subject` is locked, the Unix second the lock ends.
    pub fn locked_until(&self, subject: &str) -> Result<Option<i64>> {
        let key = self.key(subject);
        let count = self
            .store
            .get(&key)?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if count < self.limit.max_failures {
            return Ok(None);
        }
        self.lock_end(&key).map(Some)
    }

    /// Counts an attempt before it is checked, and says whether it may go ahead: `None` for
    /// the first `max_failures` attempts of the window, else the Unix second the lock ends.
    /// Counting first with one atomic increment means concurrent attempts cannot all pass a
    /// check made before any of them was counted. A success should [`Throttle::reset`] the
    /// count; a failure leaves it.
    pub fn count_attempt(&self, subject: &str) -> Result<Option<i64>> {
        Ok(match self.attempt(subject)? {
            Attempt::Allowed { .. } => None,
            Attempt::Locked { until } => Some(until),
        })
    }

    /// [`Throttle::count_attempt`], telling which attempt of the window an allowed one is:
    /// the one numbered `max_failures` is the last, and (exactly one attempt gets each number)
    /// the one that locks the subject if it fails.
    pub fn attempt(&self, subject: &str) -> Result<Attempt> {
        let key = self.key(subject);
        let number = self.store.incr(&key, self.limit.window)?;
        if number <= self.limit.max_failures {
            return Ok(Attempt::Allowed {
                number,
                last: number == self.limit.max_failures,
            });
        }
        Ok(Attempt::Locked {
            until: self.lock_end(&key)?,
        })
    }

    /// Counts a failure; returns the count in the current window.
    pub fn record_failure(&self, subject: &str) -> Result<u64> {
        self.store.incr(&self.key(subject), self.limit.window)
    }

    /// Forgets the failures of `subject` (after a success).
    pub fn reset(&self, subject: &str) -> Result<()> {
        self.store.delete(&self.key(subject))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::ephemeral::MemoryStore;

    const LIMIT: Limit = Limit {
        max_failures: 3,
        window: Duration::from_secs(900),
    };

    fn at_1000() -> (Arc<ManualClock>, MemoryStore) {
        let clock = Arc::new(ManualClock::at(1_000));
        let store = MemoryStore::new(clock.clone());
        (clock, store)
    }

    #[test]
    fn locks_at_the_limit_until_the_window_ends() {
        let (clock, store) = at_1000();
        let login = Throttle::over(&store, clock.as_ref(), "login", LIMIT);
        for expected in 1..=2 {
            assert_eq!(login.record_failure("ada").unwrap(), expected);
            assert_eq!(login.locked_until("ada").unwrap(), None);
        }
        login.record_failure("ada").unwrap();
        let until = login.locked_until("ada").unwrap().unwrap();
        assert!((1_900..=1_901).contains(&until), "{until}");
        assert_eq!(login.locked_until("bob").unwrap(), None);
        clock.advance(Duration::from_secs(901));
        assert_eq!(login.locked_until("ada").unwrap(), None);
        login.record_failure("bob").unwrap();
        login.reset("bob").unwrap();
        assert_eq!(login.record_failure("bob").unwrap(), 1);
    }

    #[test]
    fn attempts_are_counted_before_they_are_let_through() {
        let (clock, store) = at_1000();
        let login = Throttle::over(&store, clock.as_ref(), "login", LIMIT);
        for _ in 0..3 {
            assert_eq!(login.count_attempt("ada").unwrap(), None);
        }
        let until = login.count_attempt("ada").unwrap().unwrap();
        assert!((1_900..=1_901).contains(&until), "{until}");
        // Locked for the check as well, and a success's reset opens it again.
        assert!(login.locked_until("ada").unwrap().is_some());
        login.reset("ada").unwrap();
        assert_eq!(login.count_attempt("ada").unwrap(), None);
    }
}
