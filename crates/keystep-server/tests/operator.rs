//! Operator commands against a running `keystep serve`, each its own process as an operator
//! runs them, on SQLite with the in-process store (no Redis): the sessions `keystep user
//! passwd` ends reach the server through the database, so the person's live access tokens
//! stop working at introspection and userinfo within about a second, not when they expire.
//! (The person stays active, so only the ended session can refuse the token.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

use common::{cli, free_port, serve, REDIRECT_URI};

const PASSWORD: &str = "correct horse battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_setting_a_password_ends_the_live_access_tokens_on_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("keystep.db").display());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let add_ada = "user add ada --email ada@example.com --password-stdin";
    cli(dir.path(), port, &db, add_ada, PASSWORD);
    let add_app = format!("client add app --redirect-uri {REDIRECT_URI} --json");
    let client: Value = serde_json::from_str(&cli(dir.path(), port, &db, &add_app, "")).unwrap();
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    let mut server = serve(dir.path(), port, &db).await;

    let http = reqwest::Client::new();
    let browser = common::sign_in(&base, "ada", PASSWORD).await;
    let tokens = common::code_flow(&browser, &http, &base, &secret).await;
    let access = tokens["access_token"].as_str().unwrap();
    let active = || async {
        let introspected: Value = http
            .post(format!("{base}/oidc/token/introspection"))
            .basic_auth("app", Some(&secret))
            .form(&[("token", access)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        introspected["active"] == true
    };
    assert!(active().await, "live before");

    let passwd = "user passwd ada --password-stdin";
    cli(dir.path(), port, &db, passwd, "a new and longer passphrase");
    let started = Instant::now();
    while active().await {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the access token still introspects as active 5 s after the new password"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let userinfo = http
        .get(format!("{base}/oidc/me"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401, "userinfo refuses it too");
    let _ = server.kill();
    let _ = server.wait();
}
