//! The `keystep` process killed with SIGKILL in the middle of a stream of refreshes, on
//! SQLite and (when `KEYSTEP_TEST_DATABASE_URL` is set) PostgreSQL: after a restart, every refresh token the server had answered 200
//! with (and that no request was presenting when it died) is accepted, once. What was
//! committed survives the crash.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

const PASSWORD: &str = "correct horse battery";
/// Independent refresh-token families; fewer requests than these are in flight at a time,
/// so most families hold a token nobody is presenting when the process dies.
const FAMILIES: usize = 16;
const STREAMS: usize = 4;

mod common;

use common::{cli, free_port, serve, REDIRECT_URI};

struct Rp {
    base: String,
    secret: String,
    http: reqwest::Client,
}

impl Rp {
    async fn refresh(&self, token: &str) -> Result<(u16, Value), reqwest::Error> {
        let response = self
            .http
            .post(format!("{}/oidc/token", self.base))
            .basic_auth("app", Some(&self.secret))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }
}

/// Signs ada in once, then runs the code flow `FAMILIES` times on that session; returns one
/// refresh token per family.
async fn families(rp: &Rp) -> Vec<String> {
    let browser = common::sign_in(&rp.base, "ada", PASSWORD).await;
    let mut tokens = Vec::new();
    for _ in 0..FAMILIES {
        let tokens_response = common::code_flow(&browser, &rp.http, &rp.base, &rp.secret).await;
        tokens.push(
            tokens_response["refresh_token"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    tokens
}

#[derive(Default)]
struct Ledger {
    /// Each family's newest token that the server answered 200 with.
    latest: HashMap<usize, String>,
    /// Families whose token is being presented right now.
    in_flight: HashMap<usize, bool>,
    /// Refreshes answered 200 before the kill.
    rotations: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_tokens_answered_before_a_sigkill_are_accepted_after_the_restart() {
    for database in keystep_tests::TestDatabase::all() {
        killed_and_restarted(&database.url).await;
    }
}

async fn killed_and_restarted(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let add_ada = "user add ada --email ada@example.com --password-stdin";
    cli(dir.path(), port, db, add_ada, PASSWORD);
    let add_app = format!("client add app --redirect-uri {REDIRECT_URI} --json");
    let client: Value = serde_json::from_str(&cli(dir.path(), port, db, &add_app, "")).unwrap();
    let rp = Arc::new(Rp {
        base: format!("http://127.0.0.1:{port}"),
        secret: client["client_secret"].as_str().unwrap().to_owned(),
        http: reqwest::Client::new(),
    });
    let mut server = serve(dir.path(), port, db).await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let first_tokens = families(&rp).await;
    {
        let mut ledger = ledger.lock().unwrap();
        for (family, token) in first_tokens.into_iter().enumerate() {
            ledger.latest.insert(family, token);
        }
    }

    // Streams refresh families round robin until the process dies under them.
    let mut streams = Vec::new();
    for stream in 0..STREAMS {
        let (rp, ledger) = (rp.clone(), ledger.clone());
        streams.push(tokio::spawn(async move {
            let mut family = stream;
            loop {
                let token = {
                    let mut ledger = ledger.lock().unwrap();
                    ledger.in_flight.insert(family, true);
                    ledger.latest[&family].clone()
                };
                match rp.refresh(&token).await {
                    Ok((200, body)) => {
                        let mut ledger = ledger.lock().unwrap();
                        let rotated = body["refresh_token"].as_str().unwrap().to_owned();
                        ledger.latest.insert(family, rotated);
                        ledger.in_flight.insert(family, false);
                        ledger.rotations += 1;
                    }
                    Ok((status, body)) => panic!("refresh answered {status}: {body}"),
                    // The process died under this request: its family's fate is unknown.
                    Err(_) => return,
                }
                family = (family + STREAMS) % FAMILIES;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(Command::new("kill")
        .args(["-KILL", &server.id().to_string()])
        .status()
        .unwrap()
        .success());
    let _ = server.wait();
    for stream in streams {
        stream.await.unwrap();
    }

    let ledger = Arc::try_unwrap(ledger).ok().unwrap().into_inner().unwrap();
    assert!(
        ledger.rotations > FAMILIES,
        "the stream was running when the process died ({} refreshes)",
        ledger.rotations
    );
    eprintln!("{} refreshes answered before SIGKILL", ledger.rotations);
    let settled: Vec<_> = (0..FAMILIES)
        .filter(|f| !ledger.in_flight.get(f).copied().unwrap_or(false))
        .collect();
    assert!(
        settled.len() >= FAMILIES - STREAMS,
        "at most one family per stream was in flight"
    );
    let mut server = serve(dir.path(), port, db).await;
    for family in settled {
        let token = &ledger.latest[&family];
        let (status, body) = rp.refresh(token).await.unwrap();
        assert_eq!(status, 200, "family {family}: {body}");
        let (again, _) = rp.refresh(token).await.unwrap();
        assert_eq!(again, 400, "family {family}: accepted once");
    }
    let _ = server.kill();
    let _ = server.wait();
}
