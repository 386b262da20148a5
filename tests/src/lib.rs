//! The test harness shared by keystep's black-box and CLI tests: which backends a run covers,
//! throw-away databases, and servers started in-process on port 0.
//!
//! Without `KEYSTEP_TEST_DATABASE_URL` and `KEYSTEP_TEST_REDIS_URL` every test runs on SQLite
//! and the memory store only (and says once that it skipped the others); with them, each test
//! body runs again on a fresh PostgreSQL database and a private Redis key prefix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Once};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use keystep_core::clock::{Clock, ManualClock};
use keystep_core::config::{Argon2Config, Config, SecretString};
use keystep_core::ephemeral::{EphemeralStore, MemoryStore, RedisStore};
use keystep_core::Services;
use keystep_server::app::{RunningServer, Serve};

/// The PostgreSQL server tests may create databases on.
pub fn postgres_url() -> Option<String> {
    std::env::var("KEYSTEP_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// The Redis tests may use.
pub fn redis_url() -> Option<String> {
    std::env::var("KEYSTEP_TEST_REDIS_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

static SKIP_NOTICE: Once = Once::new();

/// Says once per test binary which backends were skipped. Written straight to stderr so the
/// test harness's output capture does not swallow it.
fn note_skipped() {
    SKIP_NOTICE.call_once(|| {
        let mut skipped = Vec::new();
        if postgres_url().is_none() {
            skipped.push("PostgreSQL (set KEYSTEP_TEST_DATABASE_URL)");
        }
        if redis_url().is_none() {
            skipped.push("Redis (set KEYSTEP_TEST_REDIS_URL)");
        }
        if !skipped.is_empty() {
            let _ = writeln!(
                std::io::stderr(),
                "keystep-tests: ran on SQLite and memory only; skipped {}",
                skipped.join(" and ")
            );
        }
    });
}

/// A database that exists for one test: a SQLite file in a temp dir, or a fresh PostgreSQL
/// database dropped when this value is dropped.
pub struct TestDatabase {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// The `database_url` to give keystep.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres_admin: Option<(String, String)>,
}

impl TestDatabase {
    /// A new SQLite file.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("keystep.db").display());
        Self {
            backend: "sqlite",
            url,
            _dir: Some(dir),
            postgres_admin: None,
        }
    }

    /// A new database on the PostgreSQL server at `admin_url`.
    pub fn postgres(admin_url: &str) -> Self {
        let name = format!("keystep_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(admin_url)
            .unwrap_or_else(|e| panic!("KEYSTEP_TEST_DATABASE_URL does not connect: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let mut url = url::Url::parse(admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        Self {
            backend: "postgres",
            url: url.to_string(),
            _dir: None,
            postgres_admin: Some((admin_url.to_owned(), name)),
        }
    }

    /// SQLite always, and PostgreSQL when configured.
    pub fn all() -> Vec<Self> {
        note_skipped();
        let mut all = vec![Self::sqlite()];
        if let Some(url) = postgres_url() {
            all.push(Self::postgres(&url));
        }
        all
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres_admin {
            if let Ok(mut admin) = PgConnection::establish(admin_url) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// An ephemeral store under test, with the clock that drives its expiry (memory) or `None`
/// when expiry is Redis's own (real time).
pub struct TestStore {
    /// `memory` or `redis`.
    pub backend: &'static str,
    /// The store.
    pub store: Arc<dyn EphemeralStore>,
    /// The injected clock of the memory store.
    pub clock: Option<Arc<ManualClock>>,
}

impl TestStore {
    /// The memory store always, and Redis (with a private key prefix) when configured.
    pub fn all() -> Vec<Self> {
        note_skipped();
        let clock = Arc::new(ManualClock::starting_now());
        let mut all = vec![Self {
            backend: "memory",
            store: Arc::new(MemoryStore::new(clock.clone())),
            clock: Some(clock),
        }];
        if let Some(url) = redis_url() {
            all.push(Self {
                backend: "redis",
                store: Arc::new(RedisStore::connect(&url, &unique_prefix(), 4).unwrap()),
                clock: None,
            });
        }
        all
    }
}

/// A Redis key prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("keystep-test:{}:", uuid::Uuid::new_v4().simple())
}

/// A complete backing for a server: SQLite + memory always; PostgreSQL + Redis when both are
/// configured.
pub struct Stack {
    /// `sqlite+memory` or `postgres+redis`.
    pub name: &'static str,
    /// The database.
    pub database: TestDatabase,
    /// Redis URL, when this stack uses Redis.
    pub redis_url: Option<String>,
}

impl Stack {
    /// Every stack this run covers.
    pub fn all() -> Vec<Self> {
        note_skipped();
        let mut all = vec![Self {
            name: "sqlite+memory",
            database: TestDatabase::sqlite(),
            redis_url: None,
        }];
        if let (Some(pg), Some(redis)) = (postgres_url(), redis_url()) {
            all.push(Self {
                name: "postgres+redis",
                database: TestDatabase::postgres(&pg),
                redis_url: Some(redis),
            });
        }
        all
    }

    /// A configuration on this stack with its data_dir in `data_dir`, and cheap argon2
    /// parameters so tests do not spend their time hashing.
    pub fn config(&self, data_dir: PathBuf) -> Config {
        Config {
            data_dir,
            database_url: Some(SecretString::new(self.database.url.clone())),
            database_pool_size: 4,
            redis_url: self.redis_url.clone().map(SecretString::new),
            redis_key_prefix: unique_prefix(),
            password: keystep_core::config::PasswordConfig {
                min_length: 8,
                argon2: cheap_argon2(),
                ..Default::default()
            },
            ..Config::default()
        }
    }

    /// The environment variables that point a `keystep` process at this stack.
    pub fn env(&self, data_dir: &std::path::Path) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "KEYSTEP_DATA_DIR".to_owned(),
                data_dir.display().to_string(),
            ),
            ("KEYSTEP_DATABASE_URL".to_owned(), self.database.url.clone()),
            (
                "KEYSTEP_PASSWORD__ARGON2__MEMORY_KIB".to_owned(),
                cheap_argon2().memory_kib.to_string(),
            ),
            (
                "KEYSTEP_PASSWORD__ARGON2__ITERATIONS".to_owned(),
                cheap_argon2().iterations.to_string(),
            ),
        ];
        if let Some(url) = &self.redis_url {
            env.push(("KEYSTEP_REDIS_URL".to_owned(), url.clone()));
            env.push(("KEYSTEP_REDIS_KEY_PREFIX".to_owned(), unique_prefix()));
        }
        env
    }
}

/// argon2id at its cheapest legal cost: tests check behaviour, not cost.
pub fn cheap_argon2() -> Argon2Config {
    Argon2Config {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    }
}

/// A keystep server on 127.0.0.1:0 over one stack, with a manual clock.
pub struct TestServer {
    /// The running server (first field: stopped before the database is dropped).
    pub server: RunningServer,
    /// The services the server runs on, for arranging state directly.
    pub services: Services,
    /// The clock the server reads.
    pub clock: Arc<ManualClock>,
    /// The server's data_dir.
    pub data_dir: tempfile::TempDir,
    /// Which stack.
    pub stack: Stack,
}

impl TestServer {
    /// Starts a server on `stack`; `configure` may adjust the configuration first.
    pub fn start(stack: Stack, configure: impl FnOnce(&mut Config)) -> Self {
        Self::start_inner(stack, configure, false).0
    }

    /// Starts a server as `keystep demo` does; returns it with the demo person's password.
    pub fn start_demo(stack: Stack) -> (Self, String) {
        Self::start_demo_with(stack, |_| {})
    }

    /// [`TestServer::start_demo`], adjusting the configuration first.
    pub fn start_demo_with(stack: Stack, configure: impl FnOnce(&mut Config)) -> (Self, String) {
        let (server, password) = Self::start_inner(stack, configure, true);
        (server, password.unwrap_or_default())
    }

    fn start_inner(
        stack: Stack,
        configure: impl FnOnce(&mut Config),
        demo: bool,
    ) -> (Self, Option<String>) {
        keystep_server::install_crypto_provider();
        let data_dir = tempfile::tempdir().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut config = stack.config(data_dir.path().join("data"));
        // The issuer and every redirect keystep makes use the real port.
        config.public_url = format!("http://{}", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        if demo {
            keystep_server::demo::configure(&mut config);
        }
        configure(&mut config);
        let clock = Arc::new(ManualClock::starting_now());
        let services =
            keystep_server::app::open_services(config, clock.clone() as Arc<dyn Clock>).unwrap();
        let (demo, password) = if demo {
            let setup = keystep_server::demo::prepare(&services).unwrap();
            let relying_party = keystep_server::demo::Demo::new(&services, &setup).unwrap();
            (
                Some(keystep_server::demo::data(relying_party)),
                Some(setup.password),
            )
        } else {
            (None, None)
        };
        let workers = if demo.is_some() { 2 } else { 1 };
        let server = RunningServer::start(
            services.clone(),
            Serve {
                listener,
                workers,
                demo,
            },
        )
        .unwrap();
        (
            Self {
                server,
                services,
                clock,
                data_dir,
                stack,
            },
            password,
        )
    }

    /// Another node behind the same load balancer: its own process state (services, pools,
    /// key cache, hashing pool) on this server's database, ephemeral store, master key,
    /// `public_url` and clock, on its own port. Only meaningful on a stack whose stores are
    /// shared between processes (PostgreSQL and Redis).
    pub fn another_node(&self) -> RunningServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let services =
            keystep_server::app::open_services((*self.services.config).clone(), self.clock.clone())
                .unwrap();
        RunningServer::start(
            services,
            Serve {
                listener,
                workers: 1,
                demo: None,
            },
        )
        .unwrap()
    }

    /// The mails written to the outbox, oldest first, decoded for reading.
    pub fn outbox(&self) -> Vec<String> {
        let dir = self.data_dir.path().join("data/outbox");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files
            .iter()
            .map(|p| mail::readable(&std::fs::read_to_string(p).unwrap()))
            .collect()
    }

    /// The confirmation code in the newest mail that contains `marker`.
    pub fn mailed_code(&self, marker: &str) -> String {
        let mail = self
            .outbox()
            .into_iter()
            .rev()
            .find(|m| m.contains(marker))
            .unwrap_or_else(|| panic!("no mail with {marker:?}"));
        mail.split("Your confirmation code is: ")
            .nth(1)
            .expect("a confirmation code")
            .chars()
            .take(6)
            .collect()
    }

    /// Runs an operator command as `keystep` would, in a process of its own: on services
    /// opened anew from this server's configuration (its own memory store, which the server
    /// cannot see), handing its ephemeral writes over when it is done. Returns once this
    /// server has applied them, which without Redis it does within about a second.
    pub async fn operate<T>(
        &self,
        command: impl FnOnce(&Services) -> Result<T, keystep_server::cli::CliError>,
    ) -> Result<T, keystep_server::cli::CliError> {
        let before = self.operator_writes_applied().await;
        let operator = keystep_server::app::Operator::open(
            (*self.services.config).clone(),
            self.clock.clone(),
        )?;
        let done = command(&operator.services);
        let relayed = u64::try_from(operator.finish()?).unwrap_or(u64::MAX);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.operator_writes_applied().await < before + relayed {
            assert!(
                std::time::Instant::now() < deadline,
                "the server applied the command's {relayed} writes within 10 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        done
    }

    /// `keystep_operator_writes_applied_total` from this server's `/metrics`.
    pub async fn operator_writes_applied(&self) -> u64 {
        let metrics = reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("keystep_operator_writes_applied_total "))
            .and_then(|n| n.parse().ok())
            .expect("the metric is exposed")
    }

    /// The absolute URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }
}

pub mod browser;
pub mod mail;
