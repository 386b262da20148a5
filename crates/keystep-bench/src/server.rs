//! The keystep under test: a binary we are given, run with a temporary data directory on a
//! free loopback port, provisioned through its own CLI as an operator would, and watched
//! through `/proc` for its CPU time and resident memory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::BenchError;

/// Where the server keeps its state.
#[derive(Debug, Clone, Default)]
pub struct Backing {
    /// `postgres://…`; unset: SQLite in the data directory.
    pub database_url: Option<String>,
    /// `redis://…`; unset: the in-process store.
    pub redis_url: Option<String>,
}

/// A running keystep.
pub struct Server {
    binary: PathBuf,
    data_dir: tempfile::TempDir,
    backing: Backing,
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

/// A confidential client registered for the benchmark.
#[derive(Debug, Clone)]
pub struct Client {
    /// Its id.
    pub id: String,
    /// Its secret.
    pub secret: String,
}

/// A person registered through the CLI.
#[derive(Debug, Clone)]
pub struct Person {
    /// The name they sign in with.
    pub username: String,
    /// Their password.
    pub password: String,
    /// Their mail address.
    pub email: String,
}

fn free_port() -> Result<u16, BenchError> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl Server {
    /// The command `keystep ARGS` with this server's configuration and none of the caller's
    /// own `KEYSTEP_*` variables (an unknown one would stop keystep at start).
    fn command(
        binary: &Path,
        data_dir: &Path,
        backing: &Backing,
        base: &str,
        args: &[&str],
    ) -> Command {
        let mut command = Command::new(binary);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("KEYSTEP_") {
                command.env_remove(name);
            }
        }
        command
            .args(args)
            .env("KEYSTEP_DATA_DIR", data_dir)
            .env("KEYSTEP_PUBLIC_URL", base)
            .env("KEYSTEP_LISTEN", base.trim_start_matches("http://"))
            .env("KEYSTEP_LOG__LEVEL", "warn")
            // Every sign-in comes from 127.0.0.1: the per-address limit on pending sign-ins
            // (300 per 10 minutes) would end the sign-in case within seconds.
            .env("KEYSTEP_LOGIN__MAX_STARTED_PER_IP", "1000000");
        if let Some(url) = &backing.database_url {
            command.env("KEYSTEP_DATABASE_URL", url);
        }
        if let Some(url) = &backing.redis_url {
            // A prefix of its own: what one run leaves in Redis (codes, counters until they
            // expire) does not meet the next.
            let prefix = format!("keystep-bench-{}:", std::process::id());
            command
                .env("KEYSTEP_REDIS_URL", url)
                .env("KEYSTEP_REDIS_KEY_PREFIX", prefix);
        }
        command
    }

    /// Runs a CLI command against this server's data; its standard output.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Result<String, BenchError> {
        let mut command = Self::command(
            &self.binary,
            self.data_dir.path(),
            &self.backing,
            &self.base,
            args,
        );
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        command.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = command.spawn()?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write;
            writeln!(pipe, "{text}")?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(BenchError::Setup(format!(
                "keystep {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts `binary serve` and waits until `/healthz` answers 200 (at most 60 s).
    pub async fn start(binary: &Path, backing: Backing) -> Result<Self, BenchError> {
        let data_dir = tempfile::tempdir()?;
        let base = format!("http://127.0.0.1:{}", free_port()?);
        let child = Self::command(binary, data_dir.path(), &backing, &base, &["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| BenchError::Setup(format!("cannot start {}: {e}", binary.display())))?;
        let mut server = Self {
            binary: binary.to_owned(),
            data_dir,
            backing,
            child,
            base,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait()? {
                return Err(BenchError::Setup(format!(
                    "keystep exited at start: {status}"
                )));
            }
            let healthy = http
                .get(format!("{}/healthz", server.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if healthy {
                return Ok(server);
            }
            if started.elapsed() > Duration::from_secs(60) {
                server.stop();
                return Err(BenchError::Setup(
                    "/healthz did not answer within 60 s".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Registers a person through `keystep user add … --password-stdin`.
    pub fn add_person(&self, username: &str) -> Result<Person, BenchError> {
        let person = Person {
            username: username.to_owned(),
            password: "bench correct horse battery".to_owned(),
            email: format!("{username}@bench.example"),
        };
        let args = [
            "user",
            "add",
            username,
            "--email",
            &person.email,
            "--password-stdin",
        ];
        self.cli(&args, Some(&person.password))?;
        Ok(person)
    }

    /// Registers `names` as [`Server::add_person`] does, `at_once` commands at a time.
    pub fn add_people(&self, names: &[String], at_once: usize) -> Result<Vec<Person>, BenchError> {
        let chunk = names.len().div_ceil(at_once.max(1)).max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> = names
                .chunks(chunk)
                .map(|names| {
                    scope.spawn(move || {
                        names
                            .iter()
                            .map(|name| self.add_person(name))
                            .collect::<Result<Vec<_>, _>>()
                    })
                })
                .collect();
            let mut people = Vec::with_capacity(names.len());
            for worker in workers {
                let added = worker
                    .join()
                    .map_err(|_| BenchError::Setup("a provisioning thread failed".into()))??;
                people.extend(added);
            }
            Ok(people)
        })
    }

    /// Where the server writes its mails (it has no SMTP relay): the people's mailboxes.
    pub fn outbox(&self) -> PathBuf {
        self.data_dir.path().join("outbox")
    }

    /// Registers a confidential client through `keystep client add … --json`.
    pub fn add_client(&self, id: &str, extra: &[&str]) -> Result<Client, BenchError> {
        let mut args = vec![
            "client",
            "add",
            id,
            "--redirect-uri",
            crate::flows::REDIRECT_URI,
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = self.cli(&args, None)?;
        let metadata: serde_json::Value = serde_json::from_str(&out)
            .map_err(|e| BenchError::Setup(format!("client add --json: {e}: {out}")))?;
        let secret = metadata["client_secret"]
            .as_str()
            .ok_or_else(|| BenchError::Setup(format!("client add printed no secret: {out}")))?;
        Ok(Client {
            id: id.to_owned(),
            secret: secret.to_owned(),
        })
    }

    /// The server's CPU time so far (user and system), from `/proc/PID/stat`.
    pub fn cpu_time(&self) -> Result<Duration, BenchError> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        cpu_time_of(&stat).ok_or_else(|| BenchError::Setup("unreadable /proc stat".into()))
    }

    /// The server's resident memory in bytes, from `/proc/PID/status`.
    pub fn resident_bytes(&self) -> Result<u64, BenchError> {
        self.status_kib("VmRSS:").map(|kib| kib * 1024)
    }

    /// The most resident memory the server has held since it started (`VmHWM`).
    pub fn peak_resident_bytes(&self) -> Result<u64, BenchError> {
        self.status_kib("VmHWM:").map(|kib| kib * 1024)
    }

    fn status_kib(&self, field: &str) -> Result<u64, BenchError> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .ok_or_else(|| BenchError::Setup(format!("no {field} in /proc status")))
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// User plus system CPU time, in clock ticks, from a `/proc/PID/stat` line (proc(5): fields 14
/// and 15). The command name, field 2, may hold spaces and parentheses, so the fields are
/// counted from its last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, after) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(field(11)? + field(12)?)
}

/// The CPU time a `/proc/…/stat` line counts.
pub fn cpu_time_of(stat: &str) -> Option<Duration> {
    let ticks = cpu_ticks(stat)?;
    Some(Duration::from_secs_f64(
        ticks as f64 / clock_ticks_per_second(),
    ))
}

/// `getconf CLK_TCK` (the unit of `/proc` CPU times), asked once; 100, Linux's, when it
/// cannot be read.
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::cpu_ticks;

    #[test]
    fn cpu_time_is_read_after_the_command_name() {
        let stat =
            "4242 (keystep (a) b) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 567 0 0 20 0 3 0";
        assert_eq!(cpu_ticks(stat), Some(1234 + 567));
        assert_eq!(cpu_ticks("garbage"), None);
        let own = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        assert!(cpu_ticks(&own).is_some(), "{own}");
    }
}
