//! End-to-end tests in a real browser: Debian's Chromium driven through chromedriver
//! (WebDriver, with fantoccini). A person signs in from the demo relying party, binds MFA in
//! /u with a code computed from the shown secret, signs out through /oidc/session/end, signs in
//! again with TOTP, uses a recovery code, removes MFA, and ends a session; another turns on
//! codes by mail (codes read from the outbox) and signs in with one. Every page passes
//! axe-core with no serious or critical violation, and screenshots are saved to
//! `target/screenshots/` (the good ones are in docs/).
//!
//! They need `chromium` and `chromedriver` (Debian packages) and axe-core (`KEYSTEP_AXE_JS`,
//! the path of `axe.min.js`; `.ci/run` installs all three). Without them the tests say so
//! and skip, unless `KEYSTEP_BROWSER_TESTS=1` demands them (CI sets it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use keystep_core::clock::Clock;
use keystep_tests::browser::totp_code;
use keystep_tests::{Stack, TestServer};
use serde_json::json;

struct Driver {
    process: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn required() -> bool {
    std::env::var("KEYSTEP_BROWSER_TESTS").is_ok_and(|v| v == "1")
}

fn axe_source() -> Option<String> {
    let path = std::env::var("KEYSTEP_AXE_JS").ok()?;
    std::fs::read_to_string(path).ok()
}

/// Starts chromedriver, or explains why the test cannot run.
fn start_driver() -> Option<Driver> {
    let missing = ["/usr/bin/chromium", "/usr/bin/chromedriver"]
        .iter()
        .find(|p| !std::path::Path::new(p).exists())
        .copied();
    let axe = axe_source();
    if missing.is_some() || axe.is_none() {
        let why = match missing {
            Some(path) => format!("{path} is missing (apt-get install chromium chromium-driver)"),
            None => "KEYSTEP_AXE_JS does not name axe.min.js (npm install axe-core)".to_owned(),
        };
        assert!(!required(), "browser tests required but {why}");
        let _ = writeln!(std::io::stderr(), "keystep browser tests skipped: {why}");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let process = Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(Driver { process, port })
}

async fn browser(driver: &Driver, width: u32) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
"--disable-sync", format!("--window-size={width},1000"),
            ],
            // Headless Chromium will not make a window narrower than 500 px; device metrics
            // give the page a real 320 px (or 390 px) viewport.
            "mobileEmulation": {"deviceMetrics": {"width": width, "height": 800, "pixelRatio": 1}},
        }),
    );
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap()
}

fn screenshots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

/// Runs axe-core on the current page; fails on serious or critical violations.
async fn check_accessibility(client: &Client, page: &str) {
    let axe = axe_source().unwrap();
    client.execute(&axe, vec![]).await.unwrap();
    let script = r#"
        const done = arguments[arguments.length - 1];
        axe.run(document, { resultTypes: ['violations'] }).then(r => done(
            r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => v.id + ': ' + v.help + ' (' + v.nodes.map(n => n.target.join(' ')).join(', ') + ')')
        ));
    "#;
    let violations = client.execute_async(script, vec![]).await.unwrap();
    assert_eq!(violations, json!([]), "{page}: accessibility violations");
}

async fn fill(client: &Client, name: &str, value: &str) {
    let field = client
        .find(Locator::Css(&format!("[name='{name}']")))
        .await
        .unwrap_or_else(|e| panic!("field {name}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

/// Clicks `target` and waits until the next page has loaded (the old document is gone).
async fn click_and_wait(client: &Client, target: fantoccini::elements::Element) {
    let old = client.find(Locator::Css("html")).await.unwrap();
    target.click().await.unwrap();
    let started = Instant::now();
    while old.tag_name().await.is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the click did not navigate"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while client
        .execute("return document.readyState", vec![])
        .await
        .ok()
        != Some(json!("complete"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the page did not finish loading"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn submit(client: &Client) {
    let button = client
        .find(Locator::Css("form button[type='submit']"))
        .await
        .unwrap();
    click_and_wait(client, button).await;
}

async fn follow(client: &Client, link_text: &str) {
    let link = match client.find(Locator::LinkText(link_text)).await {
        Ok(link) => link,
        Err(e) => panic!(
            "link {link_text:?} at {}: {e}\n{}",
            path(client).await,
            text(client).await
        ),
    };
    click_and_wait(client, link).await;
}

/// The overview's word for two-step verification: "On" or "Off".
async fn mfa_status(client: &Client) -> String {
    client
        .find(Locator::Id("mfa-status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn text(client: &Client) -> String {
    client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn path(client: &Client) -> String {
    let url = client.current_url().await.unwrap();
    format!(
        "{}{}",
        url.path(),
        url.query().map(|q| format!("?{q}")).unwrap_or_default()
    )
}

async fn sign_in_from_demo(client: &Client, server: &TestServer, password: &str) {
    client.goto(&server.url("/demo")).await.unwrap();
    follow(client, "Sign in with keystep").await;
    assert!(
        path(client).await.starts_with("/login?interaction="),
        "{}",
        path(client).await
    );
    fill(client, "username", "demo").await;
    fill(client, "password", password).await;
    submit(client).await;
}

#[tokio::test]
async fn a_person_binds_uses_and_removes_mfa_in_a_real_browser() {
    let Some(driver) = start_driver() else { return };
    let (server, password) = TestServer::start_demo(Stack::all().remove(0));
    let client = browser(&driver, 1280).await;

    // Sign in from the demo relying party.
    client.goto(&server.url("/demo")).await.unwrap();
    check_accessibility(&client, "demo").await;
    follow(&client, "Sign in with keystep").await;
    screenshot(&client, "login").await;
    check_accessibility(&client, "login").await;
    fill(&client, "username", "demo").await;
    fill(&client, "password", &password).await;
    submit(&client).await;
    assert_eq!(path(&client).await, "/demo", "{}", text(&client).await);
    assert!(text(&client).await.contains("aal1"));
    screenshot(&client, "demo-signed-in").await;

    // The user center: bind MFA.
    client.goto(&server.url("/u")).await.unwrap();
    assert_eq!(path(&client).await, "/u");
    assert_eq!(mfa_status(&client).await, "Off");
    screenshot(&client, "u-overview").await;
    check_accessibility(&client, "u overview").await;
    follow(&client, "Add an authenticator app").await;
    check_accessibility(&client, "u bind (mail)").await;
    submit(&client).await;
    fill(
        &client,
        "email_code",
        &server.mailed_code("set up two-step verification"),
    )
    .await;
    submit(&client).await;
    screenshot(&client, "enroll").await;
    check_accessibility(&client, "enroll").await;
    let secret_text = client
        .find(Locator::Id("totp-secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = base32::decode(
        base32::Alphabet::Rfc4648 { padding: false },
        secret_text.trim(),
    )
    .unwrap();
    fill(&client, "code", &totp_code(&secret, server.clock.now())).await;
    submit(&client).await;
    let codes: Vec<String> = {
        let list = client
            .find_all(Locator::Css("#recovery-codes code"))
            .await
            .unwrap();
        let mut codes = Vec::new();
        for code in list {
            codes.push(code.text().await.unwrap());
        }
        codes
    };
    assert_eq!(codes.len(), 10);
    screenshot(&client, "recovery-codes").await;
    check_accessibility(&client, "recovery codes").await;
    follow(&client, "I have saved them").await;
    assert_eq!(mfa_status(&client).await, "On");
    screenshot(&client, "u-bound").await;

    // Sign out through RP-initiated logout (with confirmation).
    client.goto(&server.url("/oidc/session/end")).await.unwrap();
    check_accessibility(&client, "logout confirmation").await;
    submit(&client).await;
    assert!(text(&client).await.contains("You are signed out"));
    // The demo application forgets its own tokens through its Sign out button, which goes
    // through /oidc/session/end with an id_token_hint and comes straight back.
    client.goto(&server.url("/demo")).await.unwrap();
    follow(&client, "Sign out").await;
    assert_eq!(path(&client).await, "/demo");

    // Sign in again: password, then TOTP.
    server.clock.advance(Duration::from_secs(30));
    sign_in_from_demo(&client, &server, &password).await;
    assert!(
        path(&client).await.starts_with("/login/mfa?interaction="),
        "{}",
        path(&client).await
    );
    screenshot(&client, "second-factor").await;
    check_accessibility(&client, "second factor").await;
    fill(&client, "code", &totp_code(&secret, server.clock.now())).await;
    submit(&client).await;
    assert_eq!(path(&client).await, "/demo");
    assert!(text(&client).await.contains("aal2"));

    // Sign out and in again with a recovery code.
    follow(&client, "Sign out").await;
    sign_in_from_demo(&client, &server, &password).await;
    follow(&client, "A recovery code").await;
    check_accessibility(&client, "recovery code").await;
    fill(&client, "recovery_code", &codes[0]).await;
    submit(&client).await;
    assert!(text(&client).await.contains("9 recovery codes are left"));
    follow(&client, "Continue to the application").await;
    assert_eq!(path(&client).await, "/demo");

    // Sessions: a second sign-in elsewhere shows up and can be ended.
    let elsewhere = browser(&driver, 390).await;
    elsewhere.goto(&server.url("/u")).await.unwrap();
    fill(&elsewhere, "username", "demo").await;
    fill(&elsewhere, "password", &password).await;
    submit(&elsewhere).await;
    server.clock.advance(Duration::from_secs(30));
    fill(&elsewhere, "code", &totp_code(&secret, server.clock.now())).await;
    submit(&elsewhere).await;
    assert_eq!(path(&elsewhere).await, "/u");
    screenshot(&elsewhere, "u-overview-mobile").await;
    client.goto(&server.url("/u/sessions")).await.unwrap();
    screenshot(&client, "u-sessions").await;
    check_accessibility(&client, "sessions").await;
    assert_eq!(
        client
            .find_all(Locator::Css("li.session"))
            .await
            .unwrap()
            .len(),
        2
    );
    let end = client
        .find(Locator::Css("li.session form button"))
        .await
        .unwrap();
    click_and_wait(&client, end).await;
    assert!(text(&client).await.contains("The session was signed out."));
    elsewhere.goto(&server.url("/u")).await.unwrap();
    assert!(
        path(&elsewhere).await.starts_with("/login"),
        "the ended session is gone"
    );
    elsewhere.close().await.unwrap();

    // Remove MFA with a current code.
    client.goto(&server.url("/u/mfa/remove")).await.unwrap();
    check_accessibility(&client, "remove").await;
    server.clock.advance(Duration::from_secs(30));
    fill(&client, "code", &totp_code(&secret, server.clock.now())).await;
    submit(&client).await;
    assert_eq!(path(&client).await, "/u?done=removed");
    assert_eq!(mfa_status(&client).await, "Off");

    client.goto(&server.url("/u/log")).await.unwrap();
    screenshot(&client, "u-log").await;
    check_accessibility(&client, "security log").await;
    let log = text(&client).await;
    assert!(
        log.contains("Two-step verification turned off")
            && log.contains("Recovery code used")
            && log.contains("Second step added · Authenticator app"),
        "{log}"
    );
    // The event's code stays on its row for operators.
    for event in ["mfa_removed", "recovery_code_used", "mfa_enrolled"] {
        client
            .find(Locator::Css(&format!("td[data-event='{event}']")))
            .await
            .unwrap_or_else(|e| panic!("{event} in the log: {e}"));
    }
    client.close().await.unwrap();
}

/// The `lang` of the page shown.
async fn page_lang(client: &Client) -> String {
    client
        .execute("return document.documentElement.lang", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Sign-in, step-up and the user center, once in English and once in Simplified Chinese
/// chosen with the language switch; every page passes axe-core in both, and the screenshots
/// of both go to `target/screenshots/` (`en-…`, `zh-CN-…`).
#[tokio::test]
async fn a_person_turns_on_codes_by_mail_and_signs_in_with_one() {
    let Some(driver) = start_driver() else { return };
    let (server, password) = TestServer::start_demo(Stack::all().remove(0));
    let client = browser(&driver, 1280).await;
    client.goto(&server.url("/u")).await.unwrap();
    fill(&client, "username", "demo").await;
    fill(&client, "password", &password).await;
    submit(&client).await;
    assert_eq!(path(&client).await, "/u");

    // Turn codes by mail on: the mailbox first, with a code from the outbox.
    follow(&client, "Get codes by mail").await;
    check_accessibility(&client, "u codes by mail").await;
    submit(&client).await;
    fill(
        &client,
        "email_code",
        &server.mailed_code("by mail, at this address"),
    )
    .await;
    screenshot(&client, "u-email-method").await;
    check_accessibility(&client, "u codes by mail (code)").await;
    submit(&client).await;
    let codes = client
        .find_all(Locator::Css("#recovery-codes code"))
        .await
        .unwrap();
    assert_eq!(codes.len(), 10, "the first method brings recovery codes");
    follow(&client, "I have saved them").await;
    assert_eq!(mfa_status(&client).await, "On");
    assert!(text(&client).await.contains("Codes by mail"));
    screenshot(&client, "u-methods").await;
    check_accessibility(&client, "u overview with a method").await;

    // Sign in from the demo application: the password, then a mailed code.
    client.goto(&server.url("/oidc/session/end")).await.unwrap();
    submit(&client).await;
    sign_in_from_demo(&client, &server, &password).await;
    assert!(
        path(&client).await.starts_with("/login/mfa?interaction="),
        "{}",
        path(&client).await
    );
    check_accessibility(&client, "second factor by mail").await;
    submit(&client).await;
    assert!(
        path(&client).await.contains("sent=1"),
        "{}",
        path(&client).await
    );
    screenshot(&client, "second-factor-email").await;
    check_accessibility(&client, "second factor by mail (sent)").await;
    fill(&client, "code", &server.mailed_code("finish signing in")).await;
    submit(&client).await;
    assert_eq!(path(&client).await, "/demo");
    assert!(text(&client).await.contains("aal2"));
}

#[tokio::test]
async fn sign_in_step_up_and_the_user_center_in_english_and_chinese() {
    let Some(driver) = start_driver() else { return };
    for lang in ["en", "zh-CN"] {
        // Asked for only on demand, so the demo's "Step up" is a real step-up from aal1.
        let (server, password) = TestServer::start_demo_with(Stack::all().remove(0), |c| {
            c.mfa.login = keystep_core::config::MfaLoginMode::OnDemand;
        });
        let secret = keystep_mfa::totp::new_secret();
        {
            let services = &server.services;
            let mut conn = services.db.conn().unwrap();
            let demo = keystep_core::users::find_by_username(&mut conn, "demo")
                .unwrap()
                .unwrap();
            keystep_mfa::totp::bind(services, &mut conn, &demo.id, &secret, 0).unwrap();
        }
        let client = browser(&driver, 1280).await;
        client.goto(&server.url("/demo/login")).await.unwrap();
        assert!(path(&client).await.starts_with("/login?interaction="));
        if lang != "en" {
            let switch = client
                .find(Locator::Css(&format!("footer a[hreflang='{lang}']")))
                .await
                .unwrap();
            click_and_wait(&client, switch).await;
            assert!(
                path(&client).await.starts_with("/login?interaction="),
                "the switch comes back to the same sign-in"
            );
        }
        assert_eq!(page_lang(&client).await, lang);
        screenshot(&client, &format!("{lang}-login")).await;
        check_accessibility(&client, &format!("{lang} login")).await;
        fill(&client, "username", "demo").await;
        fill(&client, "password", &password).await;
        submit(&client).await;
        assert_eq!(path(&client).await, "/demo", "{}", text(&client).await);

        // Step-up: the application asks for aal2; only the second factor is asked.
        client
            .goto(&server.url("/demo/login?acr_values=aal2"))
            .await
            .unwrap();
        assert!(
            path(&client).await.starts_with("/login/mfa?interaction="),
            "{}",
            path(&client).await
        );
        assert_eq!(page_lang(&client).await, lang, "the choice holds");
        client
            .find(Locator::Id("back-to-app"))
            .await
            .expect("a way back to the application");
        screenshot(&client, &format!("{lang}-step-up")).await;
        check_accessibility(&client, &format!("{lang} step-up")).await;
        server.clock.advance(Duration::from_secs(30));
        fill(&client, "code", &totp_code(&secret, server.clock.now())).await;
        submit(&client).await;
        assert_eq!(path(&client).await, "/demo");
        let acr = client.find(Locator::Id("acr")).await.unwrap();
        assert_eq!(acr.text().await.unwrap(), "aal2");

        // The user center follows the choice too: the switch was used before signing in, so
        // its cookie carries it.
        for (page, name) in [
            ("/u", "u-overview"),
            ("/u/sessions", "u-sessions"),
            ("/u/password", "u-password"),
            ("/u/log", "u-log"),
            ("/u/mfa/remove", "u-remove"),
        ] {
            client.goto(&server.url(page)).await.unwrap();
            assert_eq!(path(&client).await, page, "{lang}");
            assert_eq!(page_lang(&client).await, lang, "{lang} {page}");
            screenshot(&client, &format!("{lang}-{name}")).await;
            check_accessibility(&client, &format!("{lang} {page}")).await;
        }
        let body = text(&client).await;
        if lang == "zh-CN" {
            assert!(body.contains("关闭两步验证"), "{body}");
        } else {
            assert!(body.contains("Turn off two-step verification"), "{body}");
        }
        client.close().await.unwrap();
    }
}

#[tokio::test]
async fn the_login_page_fits_a_320_pixel_screen() {
    let Some(driver) = start_driver() else { return };
    let (server, _) = TestServer::start_demo(Stack::all().remove(0));
    let client = browser(&driver, 320).await;
    client.goto(&server.url("/demo/login")).await.unwrap();
    let overflow = client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "no horizontal scrolling at 320 px: {overflow}"
    );
    screenshot(&client, "login-320").await;
    check_accessibility(&client, "login at 320 px").await;
    client.close().await.unwrap();
}
