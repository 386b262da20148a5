//! What the process tests share: the `keystep` binary with a clean environment, running it
//! with input, a free port, a server on it, waiting for it to come up, reading a form's
//! hidden fields, and a person signing in and an application taking them through the code
//! flow.

#![allow(dead_code)] // each test binary uses its own part of this

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
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

/// The redirect URI the tests register for their application.
pub const REDIRECT_URI: &str = "https://rp.example/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// `keystep` in `dir` on `database_url`, listening on `port`, with cheap argon2.
pub fn keystep_on(dir: &Path, port: u16, database_url: &str) -> Command {
    let mut command = keystep(dir);
    command
        .env("KEYSTEP_DATABASE_URL", database_url)
        .env("KEYSTEP_LISTEN", format!("127.0.0.1:{port}"))
        .env("KEYSTEP_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("KEYSTEP_PASSWORD__ARGON2__MEMORY_KIB", "64")
        .env("KEYSTEP_PASSWORD__ARGON2__ITERATIONS", "1");
    command
}

/// [`keystep_on`] with the arguments of `line` (split at white space); it must succeed.
/// Returns its standard output.
pub fn cli(dir: &Path, port: u16, db: &str, line: &str, stdin: &str) -> String {
    let args: Vec<&str> = line.split_whitespace().collect();
    let mut command = keystep_on(dir, port, db);
    command.args(&args);
    let output = run(command, stdin);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `keystep serve` as [`keystep_on`] configures it, once it answers.
pub async fn serve(dir: &Path, port: u16, db: &str) -> Child {
    let child = keystep_on(dir, port, db)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_up(&format!("http://127.0.0.1:{port}")).await;
    child
}

/// The `Location` of a redirect.
pub fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

fn authorize_url(base: &str) -> String {
    format!(
        "{base}/oidc/auth?client_id=app&redirect_uri={}&response_type=code&scope=openid&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256",
        url::form_urlencoded::byte_serialize(REDIRECT_URI.as_bytes()).collect::<String>()
    )
}

/// A browser signed in at `base` as `username` (through the client `app`).
pub async fn sign_in(base: &str, username: &str, password: &str) -> reqwest::Client {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let to_login = browser.get(authorize_url(base)).send().await.unwrap();
    let page = get_text(&browser, &location(&to_login)).await;
    let signed_in = browser
        .post(format!("{base}/login"))
        .form(&[
            ("csrf_token", hidden(&page, "csrf_token").as_str()),
            ("interaction", hidden(&page, "interaction").as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303, "signed in");
    browser
}

/// The token response of one code flow of the client `app` (secret `secret`, posted with
/// `http`) on the session of the signed-in `browser`.
pub async fn code_flow(
    browser: &reqwest::Client,
    http: &reqwest::Client,
    base: &str,
    secret: &str,
) -> serde_json::Value {
    // The session answers at once: authorize redirects straight to the callback.
    let callback = browser.get(authorize_url(base)).send().await.unwrap();
    let callback = url::Url::parse(&location(&callback)).unwrap();
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code from the SSO session");
    let response = http
        .post(format!("{base}/oidc/token"))
        .basic_auth("app", Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "tokens for the code");
    response.json().await.unwrap()
}
