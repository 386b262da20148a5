//! Redis ephemeral store, shared by every node. Atomicity comes from Redis itself: GETDEL for
//! `take`, SET NX for `put_if_absent`, and a small Lua script for `incr` so the counter and
//! its expiry are set together. Connections are blocking, pooled with r2d2.

use std::time::Duration;

use redis::Commands;

use super::{ttl_millis, EphemeralStore};
use crate::error::{Error, Result};

/// INCR, and start the window on the first increment only.
const INCR_WITH_EXPIRY: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
";

/// The Redis implementation of [`EphemeralStore`].
pub struct RedisStore {
    pool: r2d2::Pool<redis::Client>,
    prefix: String,
    incr_script: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::EphemeralUnavailable(format!("redis: {e}"))
}

impl RedisStore {
    /// Connects to `url`, prefixing every key with `prefix`; fails at once when Redis does
    /// not answer.
    pub fn connect(url: &str, prefix: &str, pool_size: u32) -> Result<Self> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(5))
            .build(client)
            .map_err(unavailable)?;
        let store = Self {
            pool,
            prefix: prefix.to_owned(),
            incr_script: redis::Script::new(INCR_WITH_EXPIRY),
        };
        // Fail at start, not at the first request, when Redis cannot be reached.
        store.ping()?;
        Ok(store)
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<redis::Client>> {
        self.pool.get().map_err(unavailable)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

impl EphemeralStore for RedisStore {
    fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let mut conn = self.conn()?;
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(ttl_millis(ttl))
            .query::<()>(&mut *conn)
            .map_err(unavailable)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let mut conn = self.conn()?;
        conn.get(self.key(key)).map_err(unavailable)
    }

    fn any_live(&self, keys: &[&str]) -> Result<bool> {
        if keys.is_empty() {
            return Ok(false);
        }
        let mut conn = self.conn()?;
        let mut exists = redis::cmd("EXISTS");
        for key in keys {
            exists.arg(self.key(key));
        }
        let count: u64 = exists.query(&mut *conn).map_err(unavailable)?;
        Ok(count > 0)
    }

    fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let mut conn = self.conn()?;
        redis::cmd("GETDEL")
            .arg(self.key(key))
            .query(&mut *conn)
            .map_err(unavailable)
    }

    fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool> {
        let mut conn = self.conn()?;
        let reply: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_millis(ttl))
            .query(&mut *conn)
            .map_err(unavailable)?;
        Ok(reply.is_some())
    }

    fn incr(&self, key: &str, ttl: Duration) -> Result<u64> {
        let mut conn = self.conn()?;
        self.incr_script
            .key(self.key(key))
            .arg(ttl_millis(ttl))
            .invoke(&mut *conn)
            .map_err(unavailable)
    }

    fn ttl(&self, key: &str) -> Result<Option<Duration>> {
        let mut conn = self.conn()?;
        // PTTL: -2 when absent, -1 when without expiry (never written so by keystep).
        let millis: i64 = redis::cmd("PTTL")
            .arg(self.key(key))
            .query(&mut *conn)
            .map_err(unavailable)?;
        Ok(u64::try_from(millis).ok().map(Duration::from_millis))
    }

    fn delete(&self, key: &str) -> Result<()> {
        let mut conn = self.conn()?;
        conn.del::<_, ()>(self.key(key)).map_err(unavailable)
    }

    fn ping(&self) -> Result<()> {
        let mut conn = self.conn()?;
        redis::cmd("PING")
            .query::<String>(&mut *conn)
            .map(|_| ())
            .map_err(unavailable)
    }
}
