//! Operator commands run in a process of their own. With Redis they write the shared store as
//! any node does. With the in-process store (no `redis_url`) the store they would write is the
//! running server's memory, out of their reach: the marks that end the access tokens of the
//! sessions `keystep user disable` ends, the counters `keystep mfa reset` clears. So an
//! operator's store ([`RelayedStore`]) keeps each `put` and `delete`, and when the command
//! ends leaves them in the table `ephemeral_relay`; a server on the in-process store applies
//! the rows it has not seen every second ([`Follower`]). What the command ends, it ends on the
//! server within about a second.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::{EphemeralStore, MemoryStore};
use crate::clock::Clock;
use crate::db::{Database, DbConn};
use crate::error::{Error, Result};
use crate::schema::ephemeral_relay;

/// How long a relayed delete is kept: long enough for a server that was slow to poll, while
/// a server that starts later has nothing to delete anyway (its memory starts empty).
const DELETE_KEPT: Duration = Duration::from_secs(600);

/// Rows applied per query; a server that was away catches up in several.
const BATCH: i64 = 1000;

/// One write to carry over: a value until `expires_at_ms`, or a delete (`value: None`).
#[derive(Debug, Clone)]
struct Relayed {
    key: String,
    value: Option<Vec<u8>>,
    expires_at_ms: i64,
}

/// The ephemeral store of an operator command whose server keeps its store in memory. Reads
/// see this command's own writes only; `put` and `delete` are also kept for [`Self::flush`].
/// `take`, `put_if_absent` and `incr` stay local: they guard single use and throttles across
/// requests, which are the server's to decide, and no operator command needs them there.
#[derive(Debug)]
pub struct RelayedStore {
    local: MemoryStore,
    clock: Arc<dyn Clock>,
    pending: Mutex<Vec<Relayed>>,
    handed_over: std::sync::atomic::AtomicUsize,
}

impl RelayedStore {
    /// An empty store on `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            local: MemoryStore::new(clock.clone()),
            clock,
            pending: Mutex::new(Vec::new()),
            handed_over: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn keep(&self, key: &str, value: Option<&[u8]>, ttl: Duration) -> Result<()> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let relayed = Relayed {
            key: key.to_owned(),
            value: value.map(<[u8]>::to_vec),
            expires_at_ms: self.clock.now_millis().saturating_add(ttl_ms),
        };
        self.pending()?.push(relayed);
        Ok(())
    }

    fn pending(&self) -> Result<std::sync::MutexGuard<'_, Vec<Relayed>>> {
        self.pending
            .lock()
            .map_err(|_| Error::EphemeralUnavailable("the relay's lock is poisoned".to_owned()))
    }

    fn take_pending(&self) -> Result<Vec<Relayed>> {
        Ok(std::mem::take(&mut *self.pending()?))
    }

    /// Writes what the command put and deleted so far to the relay table, in order, in the
    /// transaction of `conn` (the command's own, so its marks commit with the change they
    /// belong to, or not at all), and drops rows whose values have expired. Returns how
    /// many it wrote.
    pub fn hand_over_in(&self, conn: &mut DbConn) -> Result<usize> {
        let pending = self.take_pending()?;
        if pending.is_empty() {
            return Ok(0);
        }
        // Ids are drawn from a sequence before commit; holding the table until the commit
        // makes them commit in order, so a follower that saw id n has seen every id below.
        // (SQLite has one writer: its ids commit in order anyway.)
        if let DbConn::Postgres(pg) = conn {
            pg.batch_execute("LOCK TABLE ephemeral_relay IN EXCLUSIVE MODE")?;
        }
        let now = self.clock.now_millis();
        diesel::delete(ephemeral_relay::table.filter(ephemeral_relay::expires_at.le(now)))
            .execute(conn)?;
        for write in &pending {
            diesel::insert_into(ephemeral_relay::table)
                .values((
                    ephemeral_relay::store_key.eq(&write.key),
                    ephemeral_relay::value.eq(write.value.as_deref()),
                    ephemeral_relay::expires_at.eq(write.expires_at_ms),
                ))
                .execute(conn)?;
        }
        self.handed_over
            .fetch_add(pending.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(pending.len())
    }

    /// Hands over, in a transaction of its own, what is left when the command ends: writes
    /// made outside a write transaction, or in one that failed after them (a mark for a
    /// session that lives on refuses its tokens early, never the other way round). A
    /// command that left nothing writes nothing (`client list` stays a reader).
    pub fn flush(&self, db: &Database) -> Result<usize> {
        if self.pending()?.is_empty() {
            return Ok(0);
        }
        db.write(|conn| self.hand_over_in(conn))
    }

    /// How many writes this store has handed over in all.
    pub fn handed_over(&self) -> usize {
        self.handed_over.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl EphemeralStore for RelayedStore {
    fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        self.local.put(key, value, ttl)?;
        self.keep(key, Some(value), ttl)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.local.get(key)
    }

    fn take(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.local.take(key)
    }

    fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool> {
        self.local.put_if_absent(key, value, ttl)
    }

    fn incr(&self, key: &str, ttl: Duration) -> Result<u64> {
        self.local.incr(key, ttl)
    }

    fn ttl(&self, key: &str) -> Result<Option<Duration>> {
        self.local.ttl(key)
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.local.delete(key)?;
        self.keep(key, None, DELETE_KEPT)
    }

    fn ping(&self) -> Result<()> {
        Ok(())
    }

    fn hand_over(&self, conn: &mut DbConn) -> Result<usize> {
        self.hand_over_in(conn)
    }
}

/// A server's place in the relay table: the last row it applied.
#[derive(Debug, Default)]
pub struct Follower {
    last_id: i64,
}

impl Follower {
    /// Applies the rows written since the last call to `store`, oldest first: a value for
    /// the rest of its lifetime (none when it has expired), a delete as a delete. Returns how
    /// many rows it applied. A server calls it once before it serves, so an old delete can
    /// never remove a counter made after the start.
    pub fn apply_new(
        &mut self,
        db: &Database,
        store: &dyn EphemeralStore,
        clock: &dyn Clock,
    ) -> Result<usize> {
        let mut applied = 0;
        loop {
            let rows: Vec<(i64, String, Option<Vec<u8>>, i64)> = db.read(|conn| {
                Ok(ephemeral_relay::table
                    .filter(ephemeral_relay::id.gt(self.last_id))
                    .order(ephemeral_relay::id.asc())
                    .limit(BATCH)
                    .select((
                        ephemeral_relay::id,
                        ephemeral_relay::store_key,
                        ephemeral_relay::value,
                        ephemeral_relay::expires_at,
                    ))
                    .load(conn)?)
            })?;
            let now = clock.now_millis();
            for (id, key, value, expires_at) in &rows {
                match value {
                    Some(value) if *expires_at > now => {
                        let left = u64::try_from(expires_at - now).unwrap_or(0);
                        store.put(key, value, Duration::from_millis(left))?;
                    }
                    Some(_) => {}
                    None => store.delete(key)?,
                }
                self.last_id = *id;
                applied += 1;
            }
            if i64::try_from(rows.len()).unwrap_or(BATCH) < BATCH {
                return Ok(applied);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::config::DatabaseTarget;

    fn database(dir: &tempfile::TempDir) -> Database {
        let db =
            Database::connect(&DatabaseTarget::Sqlite(dir.path().join("relay.db")), 2).unwrap();
        db.migrate().unwrap();
        db
    }

    #[test]
    fn a_commands_puts_and_deletes_reach_the_server_in_order_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir);
        let clock = Arc::new(ManualClock::starting_now());
        let server = MemoryStore::new(clock.clone());
        server
            .put("attempts:ada", b"5", Duration::from_secs(900))
            .unwrap();
        let mut follower = Follower::default();
        assert_eq!(follower.apply_new(&db, &server, clock.as_ref()).unwrap(), 0);

        let command = RelayedStore::new(clock.clone());
        command
            .put("ended:s1", b"1", Duration::from_secs(60))
            .unwrap();
        command.delete("attempts:ada").unwrap();
        // Put, then deleted in the same command: the server ends without it.
        command
            .put("code:x", b"1", Duration::from_secs(60))
            .unwrap();
        command.delete("code:x").unwrap();
        assert_eq!(command.get("ended:s1").unwrap(), Some(b"1".to_vec()));
        assert_eq!(
            server.get("ended:s1").unwrap(),
            None,
            "not before the flush"
        );
        // Handed over in the command's own transaction, as `keystep` does; nothing is left.
        assert_eq!(db.write(|conn| command.hand_over(conn)).unwrap(), 4);
        assert_eq!(command.flush(&db).unwrap(), 0, "handed over once");
        assert_eq!(command.handed_over(), 4);

        clock.advance(Duration::from_secs(20));
        assert_eq!(follower.apply_new(&db, &server, clock.as_ref()).unwrap(), 4);
        assert_eq!(server.get("code:x").unwrap(), None);
        assert_eq!(server.get("ended:s1").unwrap(), Some(b"1".to_vec()));
        assert_eq!(server.get("attempts:ada").unwrap(), None);
        let left = server.ttl("ended:s1").unwrap().unwrap();
        assert!(
            left <= Duration::from_secs(40),
            "the rest of its lifetime: {left:?}"
        );

        // A counter made after the delete was applied is not deleted again.
        server
            .incr("attempts:ada", Duration::from_secs(900))
            .unwrap();
        assert_eq!(follower.apply_new(&db, &server, clock.as_ref()).unwrap(), 0);
        assert_eq!(server.get("attempts:ada").unwrap(), Some(b"1".to_vec()));
    }

    #[test]
    fn a_server_that_starts_later_gets_what_is_still_alive_and_expired_rows_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir);
        let clock = Arc::new(ManualClock::starting_now());
        let command = RelayedStore::new(clock.clone());
        command.put("short", b"1", Duration::from_secs(5)).unwrap();
        command.put("long", b"1", Duration::from_secs(60)).unwrap();
        command.flush(&db).unwrap();
        clock.advance(Duration::from_secs(10));

        let server = MemoryStore::new(clock.clone());
        assert_eq!(
            Follower::default()
                .apply_new(&db, &server, clock.as_ref())
                .unwrap(),
            2
        );
        assert_eq!(
            server.get("short").unwrap(),
            None,
            "expired before the start"
        );
        assert_eq!(server.get("long").unwrap(), Some(b"1".to_vec()));

        // The next command's flush drops the expired row.
        let next = RelayedStore::new(clock.clone());
        next.delete("attempts:ada").unwrap();
        next.flush(&db).unwrap();
        let keys: Vec<String> = db
            .read(|conn| {
                Ok(ephemeral_relay::table
                    .select(ephemeral_relay::store_key)
                    .order(ephemeral_relay::id.asc())
                    .load(conn)?)
            })
            .unwrap();
        assert_eq!(keys, ["long", "attempts:ada"]);
    }
}
