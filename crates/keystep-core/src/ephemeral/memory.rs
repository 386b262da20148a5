//! In-process ephemeral store: a mutex-guarded map with expiry times from the injected clock.
//! Right for one node; with several, each would have its own and single use would not hold.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{ttl_millis, EphemeralStore};
use crate::clock::Clock;
use crate::error::{Error, Result};

/// Expired entries are dropped on access, and all of them every this many writes, so an
/// idle key cannot keep memory forever.
const SWEEP_EVERY: u32 = 1024;

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    expires_at_ms: i64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    writes_since_sweep: u32,
}

/// The memory implementation of [`EphemeralStore`].
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
}

impl MemoryStore {
    /// An empty store that reads time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            clock,
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| Error::EphemeralUnavailable("memory store lock poisoned".into()))
    }

    fn expiry(&self, ttl: Duration) -> i64 {
        let ttl = i64::try_from(ttl_millis(ttl)).unwrap_or(i64::MAX);
        self.clock.now_millis().saturating_add(ttl)
    }

    /// Writes an entry, sweeping expired ones now and then.
    fn write(&self, inner: &mut Inner, key: &str, value: Vec<u8>, expires_at_ms: i64) {
        inner.writes_since_sweep += 1;
        if inner.writes_since_sweep >= SWEEP_EVERY {
            let now = self.clock.now_millis();
            inner.entries.retain(|_, e| e.expires_at_ms > now);
            inner.writes_since_sweep = 0;
        }
        inner.entries.insert(
            key.to_owned(),
            Entry {
                value,
                expires_at_ms,
            },
        );
    }

    /// The live entry at `key`, dropping it when expired.
    fn live<'a>(&self, inner: &'a mut Inner, key: &str) -> Option<&'a mut Entry> {
        let now = self.clock.now_millis();
        if inner
            .entries
            .get(key)
            .is_some_and(|e| e.expires_at_ms <= now)
        {
            inner.entries.remove(key);
        }
        inner.entries.get_mut(key)
    }
}

impl EphemeralStore for MemoryStore {
    fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let expires = self.expiry(ttl);
        let mut inner = self.lock()?;
        self.write(&mut inner, key, value.to_vec(), expires);
        Ok(())
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let mut inner = self.lock()?;
        Ok(self.live(&mut inner, key).map(|e| e.value.clone()))
    }

    fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let mut inner = self.lock()?;
        if self.live(&mut inner, key).is_none() {
            return Ok(None);
        }
        Ok(inner.entries.remove(key).map(|e| e.value))
    }

    fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool> {
        let expires = self.expiry(ttl);
        let mut inner = self.lock()?;
        if self.live(&mut inner, key).is_some() {
            return Ok(false);
        }
        self.write(&mut inner, key, value.to_vec(), expires);
        Ok(true)
    }

    fn incr(&self, key: &str, ttl: Duration) -> Result<u64> {
        let expires = self.expiry(ttl);
        let mut inner = self.lock()?;
        if let Some(entry) = self.live(&mut inner, key) {
            let count = std::str::from_utf8(&entry.value)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
                    Error::EphemeralUnavailable(format!("{key} does not hold a counter"))
                })?
                .saturating_add(1);
            entry.value = count.to_string().into_bytes();
            return Ok(count);
        }
        self.write(&mut inner, key, b"1".to_vec(), expires);
        Ok(1)
    }

    fn ttl(&self, key: &str) -> Result<Option<Duration>> {
        let now = self.clock.now_millis();
        let mut inner = self.lock()?;
        Ok(self
            .live(&mut inner, key)
            .map(|e| Duration::from_millis(u64::try_from(e.expires_at_ms - now).unwrap_or(0))))
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.lock()?.entries.remove(key);
        Ok(())
    }

    fn ping(&self) -> Result<()> {
        self.lock().map(|_| ())
    }
}
