//! `keystep-bench --keystep PATH`: the load benchmark. It builds nothing: it runs the keystep
//! binary it is given (a release build, for figures worth quoting) on a free loopback port
//! with a temporary data directory — SQLite and the memory store, or PostgreSQL and Redis
//! when `--database-url` and `--redis-url` are given — provisions a person and clients
//! through the CLI, and drives each case for a fixed time after a warm-up. Every answer is checked; the exit
//! status is 1 when any request failed, never because of speed.

mod cases;
mod flows;
mod load;
mod reference;
mod report;
mod server;
mod totp;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use crate::cases::{Case, Context};
use crate::report::{Report, Row};
use crate::server::{Backing, Server};

/// Why the benchmark could not run.
#[derive(Debug)]
pub enum BenchError {
    /// Starting or provisioning the server.
    Setup(String),
    /// The operating system.
    Io(std::io::Error),
    /// A SIGINT or SIGTERM ended the run.
    Stopped,
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Setup(message) => f.write_str(message),
            Self::Io(e) => write!(f, "{e}"),
            Self::Stopped => f.write_str("stopped by a signal; the server was stopped too"),
        }
    }
}

impl From<std::io::Error> for BenchError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// The benchmark's command line.
#[derive(Debug, Parser)]
#[command(
    name = "keystep-bench",
    about = "Load benchmark for a keystep binary, on loopback"
)]
struct Args {
    /// The keystep binary to run (for example target/release/keystep).
    #[arg(long)]
    keystep: PathBuf,
    /// Seconds each case is measured.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds each case runs first, unmeasured.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Only these cases (repeat): discovery, jwks, client_credentials, introspection,
    /// userinfo, refresh, sso, password_sign_in, totp_sign_in.
    #[arg(long = "case", value_name = "CASE")]
    cases: Vec<String>,
    /// People bound to an authenticator for totp_sign_in. Each can sign in with a new code
    /// about once per 30-second time step; when all have, connections wait for the next.
    #[arg(long, default_value_t = 300)]
    totp_people: usize,
    /// PostgreSQL for the server (else SQLite in its temporary data directory).
    #[arg(long, env = "KEYSTEP_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// Redis for the server (else its in-process store).
    #[arg(long, env = "KEYSTEP_BENCH_REDIS_URL")]
    redis_url: Option<String>,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Stopped by a signal, the run is dropped where it stands, and the server with it (its
    // drop stops the child): no keystep is left running on the port.
    let outcome = tokio::select! {
        outcome = run(&args) => outcome,
        signal = stop_signal() => Err(signal),
    };
    match outcome {
        Ok(report) => {
            print!("{}", report::table(&report.cases));
            if let Some(line) = report::comparison(&report) {
                print!("{line}");
            }
            let mut failed = false;
            if report.cases.iter().any(|r| r.errors > 0) {
                eprintln!("keystep-bench: some requests failed (see above)");
                failed = true;
            }
            for row in report.cases.iter().filter(|r| r.requests == 0) {
                eprintln!(
                    "keystep-bench: {} answered no request in the measured time{}",
                    row.case,
                    if row.case == Case::TotpSignIn.name() {
                        " (every code was used: raise --totp-people or --seconds)"
                    } else {
                        ""
                    }
                );
                failed = true;
            }
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("keystep-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves at the first SIGINT or SIGTERM, as the error the run ends with.
async fn stop_signal() -> BenchError {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers the run goes on as it would have without this.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    BenchError::Stopped
}

async fn run(args: &Args) -> Result<Report, BenchError> {
    let cases = if args.cases.is_empty() {
        Case::ALL.to_vec()
    } else {
        args.cases
            .iter()
            .map(|name| {
                Case::parse(name).ok_or_else(|| BenchError::Setup(format!("no case {name:?}")))
            })
            .collect::<Result<_, _>>()?
    };
    let backing = Backing {
        database_url: args.database_url.clone(),
        redis_url: args.redis_url.clone(),
    };
    let server = Server::start(&args.keystep, backing).await?;
    let client = server.add_client("bench-api", &["--scope", "bench:read", "--introspect"])?;
    let rp = server.add_client("bench-rp", &[])?;
    let people = (0..args.connections)
        .map(|n| server.add_person(&format!("bench-person-{n}")))
        .collect::<Result<Vec<_>, _>>()?;
    let setup = |e: String| BenchError::Setup(e);
    let build = |builder: reqwest::ClientBuilder| {
        builder
            .pool_max_idle_per_host(args.connections)
            // A hung server fails the request (an error in the report), not the whole run.
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| setup(e.to_string()))
    };
    let mut ctx = Context {
        http: build(reqwest::Client::builder())?,
        browser: build(reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()))?,
        base: server.base.clone(),
        issuer: format!("{}/oidc", server.base),
        client,
        access_token: String::new(),
        rp,
        people,
        session: flows::Jar::default(),
        user_access_token: String::new(),
        refresh_tokens: Vec::new(),
        totp_people: totp::TotpPeople::default(),
    };
    let tokens = cases::json_of(cases::client_credentials(&ctx))
        .await
        .map_err(|e| setup(format!("a first token: {e}")))?;
    ctx.access_token = string_at(&tokens, "access_token")?;
    let first = ctx
        .people
        .first()
        .ok_or_else(|| setup("no connections".into()))?;
    let (tokens, session) = flows::password_sign_in(&ctx, first)
        .await
        .map_err(|e| setup(format!("a first sign-in: {e}")))?;
    ctx.user_access_token = string_at(&tokens, "access_token")?;
    ctx.session = session;
    // A refresh-token family per connection, from single sign-on on that session.
    for _ in 0..args.connections {
        let tokens = flows::single_sign_on(&ctx, &ctx.session)
            .await
            .map_err(|e| setup(format!("tokens to refresh: {e}")))?;
        ctx.refresh_tokens
            .push(std::sync::Mutex::new(string_at(&tokens, "refresh_token")?));
    }
    let ctx = Arc::new(ctx);
    if cases.contains(&Case::TotpSignIn) {
        bind_authenticators(&server, &ctx, args.totp_people).await?;
    }

    let mut rows = Vec::new();
    for case in cases {
        let request = {
            let ctx = Arc::clone(&ctx);
            move |connection, deadline| case.run(Arc::clone(&ctx), connection, deadline)
        };
        if args.warmup > 0 {
            load::drive(
                args.connections,
                Duration::from_secs(args.warmup),
                request.clone(),
            )
            .await;
        }
        let cpu_before = server.cpu_time()?;
        let sample =
            load::drive(args.connections, Duration::from_secs(args.seconds), request).await;
        let cpu = server.cpu_time()?.saturating_sub(cpu_before);
        for e in &sample.first_errors {
            eprintln!("{}: {e}", case.name());
        }
        if sample.waited > Duration::from_millis(500) {
            eprintln!(
                "{}: connections waited {:.1} s in all for a person with an unused code \
                 (not counted as latency; --totp-people sets how many there are)",
                case.name(),
                sample.waited.as_secs_f64()
            );
        }
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        rows.push(Row {
            case: case.name().to_owned(),
            requests: sample.ok,
            errors: sample.errors,
            per_second: sample.ok as f64 / sample.elapsed.as_secs_f64(),
            per_server_cpu_second: if cpu.is_zero() {
                0.0
            } else {
                sample.ok as f64 / cpu.as_secs_f64()
            },
            p50_ms: sample.latency_ms(0.5),
            p99_ms: sample.latency_ms(0.99),
            rss_mib: mib(server.resident_bytes()?),
            peak_rss_mib: mib(server.peak_resident_bytes()?),
        });
    }
    let signed_in = rows.iter().any(|r| r.case.ends_with("_sign_in"));
    let libargon2 = if signed_in {
        // On a thread of its own, whose CPU time is the measure, while the server idles.
        let measured = tokio::task::spawn_blocking(|| reference::measure(Duration::from_secs(3)))
            .await
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        measured
            .map_err(|e| eprintln!("keystep-bench: no libargon2 comparison: {e}"))
            .ok()
    } else {
        None
    };
    let report = Report {
        cases: rows,
        libargon2,
    };
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).map_err(std::io::Error::other)?;
        std::fs::write(path, json)?;
    }
    Ok(report)
}

/// `count` people, registered through the CLI, each signed in to /u where they bind an
/// authenticator with the code mailed to them, as a person would.
async fn bind_authenticators(
    server: &Server,
    ctx: &Arc<Context>,
    count: usize,
) -> Result<(), BenchError> {
    let setup = |e: String| BenchError::Setup(format!("binding authenticators: {e}"));
    let names: Vec<String> = (0..count).map(|n| format!("bench-totp-{n}")).collect();
    let people = server.add_people(&names, 4)?;
    let mailbox = Arc::new(totp::Mailbox::new(server.outbox()));
    for group in people.chunks(16) {
        let mut binds = tokio::task::JoinSet::new();
        for person in group.iter().cloned() {
            let (ctx, mailbox) = (Arc::clone(ctx), Arc::clone(&mailbox));
            binds.spawn(async move {
                let mut jar = flows::sign_in_to_u(&ctx, &person).await?;
                let (secret, step) =
                    flows::bind_totp(&ctx, &mut jar, &mailbox, &person.email).await?;
                ctx.totp_people.add(totp::TotpPerson {
                    person,
                    secret,
                    last_step: step,
                });
                Ok::<_, String>(())
            });
        }
        while let Some(bound) = binds.join_next().await {
            bound.map_err(|e| setup(e.to_string()))?.map_err(setup)?;
        }
    }
    Ok(())
}

/// The string at `key` of a token response set up for the cases.
fn string_at(tokens: &serde_json::Value, key: &str) -> Result<String, BenchError> {
    tokens[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| BenchError::Setup(format!("no {key} in {tokens}")))
}
