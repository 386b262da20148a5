//! In-process ephemeral store: a mutex-guarded map with expiry times from the injected clock.
//! Right for one node; with several, each would have its own and single use would not hold.
//! Its size is bounded: past `max_bytes` the oldest values written with `put_droppable`
//! (pending sign-ins) go first. Nothing else is dropped early: not a counter (filling the
//! store must not reset a throttle), not a revocation mark or a code. Those are bounded by
//! the throttles that limit who can create them, and may take the store past its bound.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{ttl_millis, EphemeralStore};
use crate::clock::Clock;
use crate::error::{Error, Result};

/// Expired entries are dropped on access, and all of them every this many writes, so an
/// idle key cannot keep memory forever.
const SWEEP_EVERY: u32 = 1024;

/// What an entry costs beyond its key and value (the map's slot, the order index).
const ENTRY_OVERHEAD: usize = 96;

/// The bound when none is given: 256 MiB.
pub const DEFAULT_MAX_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    expires_at_ms: i64,
    /// Its place in the eviction order; `None` for a value that must not be dropped early.
    seq: Option<u64>,
}

fn cost(key: &str, value: &[u8]) -> usize {
    key.len() + value.len() + ENTRY_OVERHEAD
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Droppable keys, oldest write first.
    order: BTreeMap<u64, String>,
    next_seq: u64,
    bytes: usize,
    writes_since_sweep: u32,
    /// When a full store last swept (milliseconds), so a store kept full by values it may
    /// not drop does not scan itself at every write.
    last_full_sweep_ms: i64,
}

impl Inner {
    fn remove(&mut self, key: &str) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.bytes = self.bytes.saturating_sub(cost(key, &entry.value));
        if let Some(seq) = entry.seq {
            self.order.remove(&seq);
        }
        Some(entry)
    }

    fn insert(&mut self, key: &str, value: Vec<u8>, expires_at_ms: i64, evictable: bool) {
        self.remove(key);
        let seq = evictable.then(|| {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.order.insert(seq, key.to_owned());
            seq
        });
        self.bytes += cost(key, &value);
        self.entries.insert(
            key.to_owned(),
            Entry {
                value,
                expires_at_ms,
                seq,
            },
        );
    }

    /// Drops the oldest droppable entries until the store holds at most `max_bytes` (or
    /// nothing droppable is left).
    fn evict_to(&mut self, max_bytes: usize) {
        while self.bytes > max_bytes {
            let Some((_, key)) = self.order.pop_first() else {
                return;
            };
            if let Some(entry) = self.entries.remove(&key) {
                self.bytes = self.bytes.saturating_sub(cost(&key, &entry.value));
            }
        }
    }

    fn sweep(&mut self, now: i64) {
        let expired: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.expires_at_ms <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            self.remove(&key);
        }
    }
}

/// The memory implementation of [`EphemeralStore`].
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
    max_bytes: usize,
}

impl MemoryStore {
    /// An empty store that reads time from `clock`, bounded by [`DEFAULT_MAX_BYTES`].
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_max_bytes(clock, DEFAULT_MAX_BYTES)
    }

    /// An empty store that holds at most about `max_bytes` of keys and values.
    pub fn with_max_bytes(clock: Arc<dyn Clock>, max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            clock,
            max_bytes,
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

    fn write_entry(
        &self,
        inner: &mut Inner,
        key: &str,
        value: Vec<u8>,
        expires_at_ms: i64,
        evictable: bool,
    ) {
        inner.writes_since_sweep += 1;
        if inner.writes_since_sweep >= SWEEP_EVERY {
            inner.sweep(self.clock.now_millis());
            inner.writes_since_sweep = 0;
        }
        inner.insert(key, value, expires_at_ms, evictable);
        if inner.bytes > self.max_bytes {
            // Expired entries go before live ones, swept at most once a second; then the
            // oldest droppable ones, down to nine tenths of the bound so the next writes do
            // not each pay for this.
            let now = self.clock.now_millis();
            if now - inner.last_full_sweep_ms >= 1000 {
                inner.sweep(now);
                inner.last_full_sweep_ms = now;
            }
            inner.evict_to(self.max_bytes / 10 * 9);
        }
    }

    /// The live entry at `key`, dropping it when expired.
    fn live<'a>(&self, inner: &'a mut Inner, key: &str) -> Option<&'a mut Entry> {
        let now = self.clock.now_millis();
        if inner
            .entries
            .get(key)
            .is_some_and(|e| e.expires_at_ms <= now)
        {
            inner.remove(key);
        }
        inner.entries.get_mut(key)
    }
}

impl EphemeralStore for MemoryStore {
    fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let expires = self.expiry(ttl);
        let mut inner = self.lock()?;
        self.write_entry(&mut inner, key, value.to_vec(), expires, false);
        Ok(())
    }

    fn put_droppable(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let expires = self.expiry(ttl);
        let mut inner = self.lock()?;
        self.write_entry(&mut inner, key, value.to_vec(), expires, true);
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
        Ok(inner.remove(key).map(|e| e.value))
    }

    fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool> {
        let expires = self.expiry(ttl);
        let mut inner = self.lock()?;
        if self.live(&mut inner, key).is_some() {
            return Ok(false);
        }
        self.write_entry(&mut inner, key, value.to_vec(), expires, false);
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
            let value = count.to_string().into_bytes();
            let before = entry.value.len();
            let after = value.len();
            entry.value = value;
            inner.bytes = inner.bytes.saturating_sub(before) + after;
            return Ok(count);
        }
        self.write_entry(&mut inner, key, b"1".to_vec(), expires, false);
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
        self.lock()?.remove(key);
        Ok(())
    }

    fn ping(&self) -> Result<()> {
        self.lock().map(|_| ())
    }

    fn is_process_local(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn past_its_bound_the_oldest_droppable_values_go_first_and_nothing_else() {
        let clock = Arc::new(ManualClock::at(1_000));
        // Room for about ten 1 KiB values.
        let store = MemoryStore::with_max_bytes(clock.clone(), 10 * (1024 + 128));
        store.incr("throttle:login:ada", MINUTE).unwrap();
        store.put("revoked-jti:j1", b"1", MINUTE).unwrap();
        for i in 0..100 {
            store
                .put_droppable(&format!("interaction:{i}"), &[0u8; 1024], MINUTE)
                .unwrap();
        }
        let kept: Vec<usize> = (0..100)
            .filter(|i| store.get(&format!("interaction:{i}")).unwrap().is_some())
            .collect();
        assert!(
            !kept.is_empty() && kept.len() <= 10,
            "a bounded number kept: {kept:?}"
        );
        assert_eq!(kept.last(), Some(&99), "the newest are kept");
        assert_eq!(
            kept,
            (kept[0]..100).collect::<Vec<_>>(),
            "the oldest went first"
        );
        assert!(store.lock().unwrap().bytes <= 10 * (1024 + 128));
        assert_eq!(
            store.incr("throttle:login:ada", MINUTE).unwrap(),
            2,
            "the counter was not evicted"
        );
        assert!(
            store.get("revoked-jti:j1").unwrap().is_some(),
            "nor a value written with put"
        );
    }

    #[test]
    fn removing_and_expiring_give_the_room_back() {
        let clock = Arc::new(ManualClock::at(1_000));
        let store = MemoryStore::with_max_bytes(clock.clone(), 1 << 20);
        store.put("a", &[1; 100], MINUTE).unwrap();
        store.put("a", &[1; 50], MINUTE).unwrap();
        store.put("b", &[1; 100], MINUTE).unwrap();
        assert!(store.take("b").unwrap().is_some());
        store.put("c", &[1; 100], MINUTE).unwrap();
        store.delete("c").unwrap();
        assert_eq!(store.lock().unwrap().bytes, cost("a", &[1; 50]));
        clock.advance(2 * MINUTE);
        assert!(store.get("a").unwrap().is_none());
        let inner = store.lock().unwrap();
        assert_eq!((inner.bytes, inner.order.len()), (0, 0));
    }
}
