//! What the process tests share: the `keystep` binary with a clean environment, running it with input, a free port,
//! waiting for a server to come up, and reading a form's hidden fields.

#![allow(dead_code)] // each test binary uses its own part of this

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `keystep` run in `dir`, with none of the caller's `KEYSTEP_*` variables.
pub fn keystep(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keystep"));
    for (key, _) in std::env::vars() {
        if key.starts_with("KEYSTEP_") {
            command.env_remove(key);
        }
    }
    command.current_dir(dir).env("RUST_LOG", "warn");
    command
}

/// Runs `command` to its end, feeding it `stdin`, with its output captured.
pub fn run(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A port nothing listens on (for a moment).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits up to 30 s for `{base}/healthz` to answer.
pub async fn wait_until_up(base: &str) {
    let started = Instant::now();
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{base} did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the hidden input `name` in `html`.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// The body of a GET of `url` by `browser`, as text.
pub async fn get_text(browser: &reqwest::Client, url: &str) -> String {
    browser.get(url).send().await.unwrap().text().await.unwrap()
}
