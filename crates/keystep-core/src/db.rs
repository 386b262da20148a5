//! The durable store: one diesel `MultiConnection` over SQLite and PostgreSQL, an r2d2 pool,
//! and the embedded migrations of both backends. The backend is chosen at run time from
//! `database_url` ([`DatabaseTarget`]); everything above this module writes one query path.
//! Connections are blocking: callers run on a blocking pool, never on an async worker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::{Connection, ConnectionError, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::DatabaseTarget;
use crate::error::{Error, Result};

/// A connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// PostgreSQL, for several nodes.
    Postgres(PgConnection),
    /// SQLite, the single-node default.
    Sqlite(SqliteConnection),
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Serialises migrations of several nodes starting at once against one PostgreSQL.
const MIGRATION_LOCK: i64 = 0x006b_6579_7374_6570; // "keystep" in ASCII

/// How long a SQLite writer of this process waits for its turn: `busy_timeout`'s 5 seconds.
const SQLITE_WRITER_WAIT: Duration = Duration::from_secs(5);

/// A pooled connection.
pub type PooledConn = r2d2::PooledConnection<DbManager>;

/// A PostgreSQL connection is checked with a round trip before use unless a query on the
/// pool succeeded this recently and none has failed since [`SUSPECT_FOR`].
const TRUSTED_AFTER_SUCCESS: Duration = Duration::from_secs(2);
/// How long after a failed query every checkout is checked again.
const SUSPECT_FOR: Duration = Duration::from_secs(5);

/// Whether the pool's PostgreSQL connections can be handed out unchecked: a connection
/// breaks when the server restarts or drops it, and checking each one at checkout (`SELECT
/// 1`) cost every request a round trip. While queries keep succeeding, the server is
/// evidently there; a failure (or a quiet spell, after which a connection may have been
/// dropped) turns the checks back on, so a broken connection is found and replaced at its
/// next checkout, as before.
#[derive(Debug)]
struct PoolHealth {
    started: Instant,
    /// Milliseconds since `started` of the last query that succeeded (0: none yet).
    last_success_ms: AtomicU64,
    /// Milliseconds since `started` until which connections are checked (0: none).
    suspect_until_ms: AtomicU64,
}

impl PoolHealth {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            last_success_ms: AtomicU64::new(0),
            suspect_until_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn succeeded(&self) {
        self.last_success_ms
            .store(self.now_ms().max(1), Ordering::Relaxed);
    }

    fn failed(&self) {
        let until = self.now_ms().saturating_add(millis(SUSPECT_FOR));
        self.suspect_until_ms.fetch_max(until, Ordering::Relaxed);
    }

    /// True when a connection may be handed out without a round trip.
    fn trusted(&self) -> bool {
        let now = self.now_ms();
        let last = self.last_success_ms.load(Ordering::Relaxed);
        last != 0
            && now.saturating_sub(last) < millis(TRUSTED_AFTER_SUCCESS)
            && now >= self.suspect_until_ms.load(Ordering::Relaxed)
    }

    /// Notes what a use of a connection came to: an error a dropped connection gives (diesel
    /// reports a connection whose status went bad as `ClosedConnection`, and a failed send as
    /// `Unknown`) or no connection at all makes the pool suspect; a success shows the server
    /// is there. Other errors (a constraint, a missing row, the use case's own) say neither.
    fn record<T>(&self, outcome: &Result<T>) {
        use diesel::result::{DatabaseErrorKind, Error as DieselError};
        match outcome {
            Ok(_) => self.succeeded(),
            Err(Error::Database(DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::Unknown,
                _,
            )))
            | Err(Error::DatabaseUnavailable(_)) => self.failed(),
            Err(_) => {}
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Opens connections for the pool, building the variant from the target.
#[derive(Debug)]
pub struct DbManager {
    target: DatabaseTarget,
    health: Arc<PoolHealth>,
}

impl r2d2::ManageConnection for DbManager {
    type Connection = DbConn;
    type Error = ConnectionError;

    fn connect(&self) -> Result<DbConn, ConnectionError> {
        match &self.target {
            DatabaseTarget::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                // WAL lets readers run beside the writer; busy_timeout makes a second writer
                // wait instead of failing; foreign keys are off by default in SQLite.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
                )
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConn::Sqlite(conn))
            }
            DatabaseTarget::Postgres(url) => Ok(DbConn::Postgres(PgConnection::establish(url)?)),
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnectionError> {
        if self.health.trusted() {
            return Ok(());
        }
        let checked = conn
            .batch_execute("SELECT 1")
            .map_err(ConnectionError::CouldntSetupConfiguration);
        if checked.is_ok() {
            self.health.succeeded();
        }
        checked
    }

    /// A connection left inside a transaction (its rollback failed), or whose transaction
    /// state is in error, is not handed out again.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        let depth = match conn {
            DbConn::Postgres(c) => {
                <PgConnection as Connection>::TransactionManager::transaction_manager_status_mut(c)
                    .transaction_depth()
            }
            DbConn::Sqlite(c) => {
                <SqliteConnection as Connection>::TransactionManager::transaction_manager_status_mut(
                    c,
                )
                .transaction_depth()
            }
        };
        !matches!(depth, Ok(None))
    }
}

/// The connection pool and what it points at.
#[derive(Clone)]
pub struct Database {
    pool: r2d2::Pool<DbManager>,
    target: DatabaseTarget,
    /// SQLite's writers of this process, one at a time (see [`Database::write`]).
    sqlite_writer: std::sync::Arc<parking_lot::Mutex<()>>,
    health: Arc<PoolHealth>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Database({})", self.target)
    }
}

impl Database {
    /// Opens a pool of `pool_size` connections; fails at once when the database cannot be
    /// reached (creating the SQLite file and its folder when missing).
    pub fn connect(target: &DatabaseTarget, pool_size: u32) -> Result<Self> {
        if let DatabaseTarget::Sqlite(path) = target {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
            }
        }
        let health = Arc::new(PoolHealth::new());
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            // No connections opened in the background ahead of need: a process that exits
            // while r2d2 is still connecting crashes inside libpq's GSSAPI teardown.
            .min_idle(Some(0))
            // A PostgreSQL connection can break (a server restart) and is checked with a round
            // trip before use when the pool has reason to doubt it ([`PoolHealth`]); a SQLite
            // one is a file handle that does not, and checking it cost every request a
            // statement to parse.
            .test_on_check_out(matches!(target, DatabaseTarget::Postgres(_)))
            // A PostgreSQL connection idle this long is closed (checked every 30 s), so none
            // lies in the pool long enough for a firewall or proxy to drop it unnoticed. A
            // SQLite one stays: reopening it would only redo its settings.
            .idle_timeout(
                matches!(target, DatabaseTarget::Postgres(_)).then_some(Duration::from_secs(60)),
            )
            .connection_timeout(Duration::from_secs(5))
            .build(DbManager {
                target: target.clone(),
                health: health.clone(),
            })
            .map_err(|e| Error::DatabaseUnavailable(format!("{target}: {e}")))?;
        let database = Self {
            pool,
            target: target.clone(),
            sqlite_writer: std::sync::Arc::default(),
            health,
        };
        // Fail at start, not at the first request, when the database cannot be reached.
        database
            .ping()
            .map_err(|e| Error::DatabaseUnavailable(format!("{target}: {e}")))?;
        Ok(database)
    }

    /// What this pool points at.
    pub fn target(&self) -> &DatabaseTarget {
        &self.target
    }

    /// A connection from the pool (blocking up to 5 s).
    pub fn conn(&self) -> Result<PooledConn> {
        self.pool
            .get()
            .map_err(|e| Error::DatabaseUnavailable(e.to_string()))
    }

    /// Runs `f` in a transaction that may write, committed when `f` returns `Ok` and rolled
    /// back otherwise. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`): a
    /// transaction that starts as a reader and later writes fails at once with "database is
    /// locked" when another writer committed in between, whereas a writer that asks first
    /// waits its turn within `busy_timeout`. Keep `f` short: no password hashing, mail or
    /// network inside, since every other writer waits for it.
    pub fn write<T>(&self, f: impl FnOnce(&mut DbConn) -> Result<T>) -> Result<T> {
        // SQLite lets one writer in at a time; the others poll for the lock with growing
        // sleeps, and under a few dozen concurrent writers one of them can miss its turn
        // until `busy_timeout` runs out ("database is locked", a 503). Queueing this
        // process's writers on a lock first hands the database lock over without polling;
        // only other processes (the CLI) still wait through `busy_timeout`. The wait is
        // bounded by the same 5 seconds, and the lock is released fairly (to the writer that
        // waited longest), so none is passed over.
        let turn = match self.target {
            DatabaseTarget::Sqlite(_) => Some(
                self.sqlite_writer
                    .try_lock_for(SQLITE_WRITER_WAIT)
                    .ok_or_else(|| {
                        Error::DatabaseUnavailable("no turn to write within 5 seconds".into())
                    })?,
            ),
            DatabaseTarget::Postgres(_) => None,
        };
        let written = self
            .conn()
            .and_then(|mut conn| write_transaction(&mut conn, f));
        self.health.record(&written);
        if let Some(turn) = turn {
            parking_lot::MutexGuard::unlock_fair(turn);
        }
        written
    }

    /// Runs `f`, which only reads. On SQLite (WAL) it runs in one transaction: one
    /// consistent snapshot that never waits for a writer and never holds one up. On
    /// PostgreSQL it runs outside a transaction: at the default isolation (read committed)
    /// each statement sees what was committed before it began, in a transaction or not, so a
    /// transaction would add only the round trips of `BEGIN` and `COMMIT`.
    pub fn read<T>(&self, f: impl FnOnce(&mut DbConn) -> Result<T>) -> Result<T> {
        let read = self.conn().and_then(|mut conn| match &mut *conn {
            DbConn::Postgres(_) => f(&mut conn),
            DbConn::Sqlite(_) => conn.transaction(f),
        });
        self.health.record(&read);
        read
    }

    /// Round-trips a trivial query: for `/healthz`.
    pub fn ping(&self) -> Result<()> {
        let pinged = self
            .conn()
            .and_then(|mut conn| conn.batch_execute("SELECT 1").map_err(Error::Database));
        self.health.record(&pinged);
        pinged
    }

    /// Applies the pending embedded migrations of this backend and returns their versions.
    pub fn migrate(&self) -> Result<Vec<String>> {
        let mut conn = self.conn()?;
        let applied = match &mut *conn {
            DbConn::Sqlite(c) => c
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.to_string()).collect())
                .map_err(|e| Error::Migration(e.to_string())),
            DbConn::Postgres(c) => {
                c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
                let result = c
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|v| v.iter().map(|m| m.to_string()).collect())
                    .map_err(|e| Error::Migration(e.to_string()));
                c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
                result
            }
        }?;
        Ok(applied)
    }

    /// True when every embedded migration has been applied.
    pub fn is_migrated(&self) -> Result<bool> {
        let mut conn = self.conn()?;
        let pending = match &mut *conn {
            DbConn::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
            DbConn::Postgres(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
        }
        .map_err(|e| Error::Migration(e.to_string()))?;
        Ok(!pending)
    }
}

/// Runs `f` in a write transaction on `conn` (see [`Database::write`]), for callers that hold
/// a connection already.
pub fn write_transaction<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T>,
) -> Result<T> {
    let outermost = match conn {
        DbConn::Sqlite(c) => !in_transaction(c)?,
        DbConn::Postgres(_) => false,
    };
    match conn {
        // The inner connection's transaction manager is the one the MultiConnection delegates
        // to, so nested transactions in `f` see this one and use savepoints.
        DbConn::Sqlite(c) if outermost => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
        // Nested (a savepoint inside the outer transaction, which holds the lock already), or
        // PostgreSQL, whose row locks need no lock up front.
        _ => <DbConn as Connection>::TransactionManager::begin_transaction(conn)?,
    }
    match f(conn) {
        Ok(value) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            match <DbConn as Connection>::TransactionManager::rollback_transaction(conn) {
                Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
                Err(rollback) => Err(Error::Database(rollback)),
            }
        }
    }
}

fn in_transaction(conn: &mut SqliteConnection) -> diesel::QueryResult<bool> {
    Ok(
        <SqliteConnection as Connection>::TransactionManager::transaction_manager_status_mut(conn)
            .transaction_depth()?
            .is_some(),
    )
}

/// True when a diesel error is a unique-constraint violation (both backends report it so).
pub(crate) fn is_unique_violation(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_trusted_only_right_after_a_success_and_not_after_a_failure() {
        let health = PoolHealth::new();
        assert!(!health.trusted(), "nothing has succeeded yet");
        health.record::<()>(&Ok(()));
        assert!(health.trusted());
        // An error of the use case's own says nothing either way.
        health.record::<()>(&Err(Error::SessionNotFound));
        assert!(health.trusted());
        // A database error, as a dropped connection gives, turns the checks back on, and a
        // success right after does not end them.
        health.record::<()>(&Err(Error::DatabaseUnavailable("gone".into())));
        assert!(!health.trusted());
        health.record::<()>(&Ok(()));
        assert!(!health.trusted(), "still suspect for {SUSPECT_FOR:?}");
        // A quiet spell: the last success is too old to vouch for an idle connection.
        let long_ago = PoolHealth {
            started: Instant::now() - TRUSTED_AFTER_SUCCESS - Duration::from_millis(10),
            last_success_ms: AtomicU64::new(1),
            suspect_until_ms: AtomicU64::new(0),
        };
        assert!(!long_ago.trusted());
    }
}
