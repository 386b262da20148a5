//! Faults while serving: the ephemeral store's Redis or the PostgreSQL server goes away and
//! comes back. keystep answers a clear 503 (a page, or the spec's JSON error) within its pool
//! timeout, never hangs or crashes, and serves again as soon as the dependency is back,
//! without a restart. The tests that stop a server start a private one on a free port, so
//! the shared ones are never disturbed; a machine without `redis-server` or PostgreSQL's
//! `initdb` skips them and says so. The test of dropped connections ends only the
//! connections to its own database on the shared PostgreSQL.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keystep_tests::browser::{World, PASSWORD, PKCE_VERIFIER};
use keystep_tests::{Stack, TestDatabase};

/// Pools wait 5 s for a connection; an answer must come well within twice that.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn found(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A redis-server of this test's own, keeping nothing on disk.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start() -> Option<Self> {
        if !found("redis-server") {
            eprintln!("faults: no redis-server on this machine; skipped");
            return None;
        }
        let mut redis = Self {
            port: free_port(),
            child: None,
        };
        redis.resume();
        Some(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for_port(self.port);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Signs ada in through the hosted login; returns the authorization code.
async fn code_for_ada(w: &World) -> String {
    let callback = w
        .browser()
        .sign_in(
            &w.server.url(""),
            &w.authorize_url("app", &[]),
            "ada",
            PASSWORD,
        )
        .await;
    callback.param("code").unwrap().to_owned()
}

/// Signs ada in and exchanges the code; returns the token response's status.
async fn sign_in_and_exchange(w: &World) -> u16 {
    let code = code_for_ada(w).await;
    w.exchange(&code, Some(PKCE_VERIFIER))
        .await
        .status()
        .as_u16()
}

/// What a request to a store that is down answers: a 503 page for a browser's request.
async fn authorize_while_down(w: &World) {
    let started = Instant::now();
    let response = w.browser().get(&w.authorize_url("app", &[])).await;
    assert!(
        started.elapsed() < ANSWER_WITHIN,
        "answered only after {:?}",
        started.elapsed()
    );
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let page = response.text().await.unwrap();
    assert!(page.contains("temporarily unavailable"), "{page}");
}

#[tokio::test]
async fn redis_stopped_while_serving_is_a_503_and_keystep_recovers_without_a_restart() {
    let Some(mut redis) = PrivateRedis::start() else {
        return;
    };
    let w = World::new(Stack {
        name: "sqlite+private-redis",
        database: TestDatabase::sqlite(),
        redis_url: Some(redis.url()),
    });
    assert_eq!(sign_in_and_exchange(&w).await, 200);
    // A code in hand when Redis goes: its exchange is the spec's JSON 503.
    let code = code_for_ada(&w).await;

    redis.stop();
    authorize_while_down(&w).await;
    let started = Instant::now();
    let exchange = w.exchange(&code, Some(PKCE_VERIFIER)).await;
    assert!(started.elapsed() < ANSWER_WITHIN);
    assert_eq!(exchange.status(), 503);
    let error: serde_json::Value = exchange.json().await.unwrap();
    assert_eq!(error["error"], "temporarily_unavailable");
    let health = w.browser().get(&w.server.url("/healthz")).await;
    assert_eq!(health.status(), 503, "/healthz tells the load balancer");

    redis.resume();
    assert_eq!(
        sign_in_and_exchange(&w).await,
        200,
        "serves again once Redis is back"
    );
    assert_eq!(
        w.browser().get(&w.server.url("/healthz")).await.status(),
        200
    );
}

/// A PostgreSQL cluster of this test's own, in a temp dir, run as the `postgres` user when
/// the test runs as root (PostgreSQL refuses to run as root).
struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|e| e.path().join("bin"))
            .find(|b| b.join("initdb").is_file());
        let Some(bin) = bin else {
            eprintln!("faults: no PostgreSQL initdb on this machine; skipped");
            return None;
        };
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let dir = tempfile::tempdir().unwrap();
        let pg = Self {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        if as_postgres {
            assert!(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(pg.dir.path())
                .status()
                .unwrap()
                .success());
        }
        let data = pg.data();
        pg.run(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        pg.ctl("start");
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        let output = command.args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{tool} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let data = self.data();
        let log = self.dir.path().join("log").display().to_string();
        let mut args = vec![action, "-D", &data, "-l", &log, "-w", "-o", &options];
        if action != "start" {
            args.extend(["-m", "fast"]);
        }
        self.run("pg_ctl", &args);
        if action != "stop" {
            wait_for_port(self.port);
        }
    }

    fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data();
        let program = self.bin.join("pg_ctl");
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        let _ = command
            .args(["stop", "-D", &data, "-m", "immediate"])
            .output();
    }
}

#[tokio::test]
async fn postgres_restarted_while_serving_is_a_503_and_keystep_recovers_without_a_restart() {
    let Some(pg) = PrivatePostgres::start() else {
        return;
    };
    let w = World::new(Stack {
        name: "private-postgres+memory",
        database: TestDatabase::postgres(&pg.admin_url()),
        redis_url: None,
    });
    assert_eq!(sign_in_and_exchange(&w).await, 200);

    // On the login page when the database goes: the sign-in is refused with a 503 page.
    let browser = w.browser();
    let to_login = browser.authorize(&w.authorize_url("app", &[])).await;
    let page = browser.login_page(&to_login.location).await;
    pg.ctl("stop");
    let started = Instant::now();
    let refused = browser
        .submit_login(&w.server.url(""), &page, "ada", PASSWORD)
        .await;
    assert!(
        started.elapsed() < ANSWER_WITHIN,
        "answered only after {:?}",
        started.elapsed()
    );
    assert_eq!(refused.status(), 503);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("temporarily unavailable"));
    let health = w.browser().get(&w.server.url("/healthz")).await;
    assert_eq!(health.status(), 503);
    let token = w
        .post_form(
            "/oidc/token",
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
            true,
        )
        .await;
    assert_eq!(
        token.status(),
        503,
        "the token endpoint: the spec's JSON 503"
    );
    let error: serde_json::Value = token.json().await.unwrap();
    assert_eq!(error["error"], "temporarily_unavailable");

    pg.ctl("start");
    assert_eq!(
        sign_in_and_exchange(&w).await,
        200,
        "serves again once PostgreSQL is back"
    );
}

/// The Status of `/healthz`, which runs a query on a pooled connection.
async fn health(w: &World) -> u16 {
    w.browser()
        .get(&w.server.url("/healthz"))
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn postgres_connections_dropped_by_the_server_cost_at_most_one_failed_request() {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    let Some(admin_url) = keystep_tests::postgres_url() else {
        return;
    };
    let database = TestDatabase::postgres(&admin_url);
    let name = url::Url::parse(&database.url).unwrap().path()[1..].to_owned();
    let w = World::new(Stack {
        name: "postgres+memory",
        database,
        redis_url: None,
    });
    // Queries have just succeeded, so the pool hands its connections out without a check.
    assert_eq!(sign_in_and_exchange(&w).await, 200);
    assert_eq!(health(&w).await, 200);

    // The server drops every connection of keystep's (as a restart or an administrator does),
    // and has ended them when the call returns (the timeout makes it wait, PostgreSQL 14+).
    let mut admin = PgConnection::establish(&admin_url).unwrap();
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ))
    .execute(&mut admin)
    .unwrap();

    // The first request may meet a dropped connection (a 503, never a hang or a 500); it
    // makes the pool check its connections again, so every request after it is served.
    let first = health(&w).await;
    assert!(first == 200 || first == 503, "{first}");
    for n in 0..5 {
        assert_eq!(health(&w).await, 200, "request {n} after the first");
    }
    assert_eq!(sign_in_and_exchange(&w).await, 200);
}
