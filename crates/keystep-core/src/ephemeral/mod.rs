//! The ephemeral store: short-lived state with a time to live (authorization codes, login
//! transactions, email codes, attempt counters, revoked token ids). In-process memory for one
//! node, Redis when several nodes must agree. Both give the same guarantees, which one test
//! suite checks against both: `take` and `put_if_absent` are atomic, so a single-use value is
//! used once even when two nodes race for it.

mod memory;
mod redis_store;
pub mod relay;

use std::time::Duration;

pub use memory::MemoryStore;
pub use redis_store::RedisStore;
pub use relay::{Follower, RelayedStore};

use crate::error::Result;

/// Short-lived key-value state with expiry. Keys are plain strings chosen by the caller,
/// namespaced by purpose (`code:…`, `attempts:…`).
pub trait EphemeralStore: Send + Sync + std::fmt::Debug {
    /// Stores `value` under `key` for `ttl`, replacing what was there.
    fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()>;

    /// [`EphemeralStore::put`] for a value the store may drop before its time when it is
    /// full: losing it costs the person a retry (a pending sign-in), never a guarantee.
    /// Everything else (codes, revocation marks, counters) is kept until it expires.
    fn put_droppable(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        self.put(key, value, ttl)
    }

    /// Reads a live value without consuming it.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// True when any of `keys` holds a live value. Redis answers it in one round trip
    /// (`EXISTS`), which matters for the revocation marks every token check reads.
    fn any_live(&self, keys: &[&str]) -> Result<bool> {
        for key in keys {
            if self.get(key)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Reads and removes a live value in one atomic step: of several concurrent takes of one
    /// key, exactly one gets the value.
    fn take(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Stores `value` only when `key` holds no live value; true when it was stored. Atomic.
    fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool>;

    /// Adds one to the counter at `key` and returns the new count. A counter that did not
    /// exist starts at 1 and expires after `ttl`; later increments keep that expiry (a fixed
    /// window, as throttling wants).
    fn incr(&self, key: &str, ttl: Duration) -> Result<u64>;

    /// How long a live value has left; `None` when there is none. Lets a throttle say when
    /// to retry.
    fn ttl(&self, key: &str) -> Result<Option<Duration>>;

    /// Removes `key` (no error when absent).
    fn delete(&self, key: &str) -> Result<()>;

    /// Checks the store answers: for `/healthz`.
    fn ping(&self) -> Result<()>;

    /// Writes to the database, in `conn`'s transaction, what this store owes servers that
    /// cannot see it, and returns how many writes: only an operator command's relayed store
    /// owes any ([`relay`]). Called at the end of each of a command's write transactions.
    fn hand_over(&self, _conn: &mut crate::db::DbConn) -> Result<usize> {
        Ok(0)
    }

    /// True when only this process sees the store (memory): another process, an operator
    /// command, reaches a server's store only through the relay ([`relay`]).
    fn is_process_local(&self) -> bool {
        false
    }
}

/// A TTL in whole milliseconds, at least 1 (a zero TTL would mean "forever" to Redis).
fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}
