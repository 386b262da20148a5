//! The `keystep` binary as operators use it: real processes, real databases (SQLite, and
//! PostgreSQL/Redis when configured). Every failure must print a clear line, exit with 1 and
//! write nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use keystep_tests::Stack;

/// Runs `keystep ARGS` against `stack` with `dir` as data_dir, feeding `stdin`.
fn keystep_args(stack: &Stack, dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut command = base_command(dir);
    command.args(args).envs(stack.env(&dir.join("data")));
    run(command, stdin)
}

/// [`keystep_args`] with the arguments as one line, split at white space outside double
/// quotes (`--name "The Shop"` is two arguments).
fn keystep(stack: &Stack, dir: &Path, line: &str, stdin: &str) -> Output {
    let args: Vec<&str> = line
        .split('"')
        .enumerate()
        .flat_map(|(i, part)| match i % 2 {
            0 => part.split_whitespace().collect::<Vec<_>>(),
            _ => vec![part],
        })
        .collect();
    keystep_args(stack, dir, &args, stdin)
}

mod common;

use common::run;

/// A command with no inherited KEYSTEP_ variables, run in `dir`.
fn base_command(dir: &Path) -> Command {
    common::keystep(dir)
}

/// Runs `test` once per configured stack, each with a fresh directory.
fn on_every_stack(test: impl Fn(&Stack, &Path)) {
    for stack in Stack::all() {
        let dir = tempfile::tempdir().unwrap();
        test(&stack, dir.path());
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
}

#[track_caller]
fn assert_fails_with(output: &Output, needle: &str) {
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
    assert!(
        stderr(output).contains(needle),
        "stderr lacks {needle:?}: {}",
        stderr(output)
    );
}

/// Each `(arguments, stdin, what stderr says)` exits with 1 and says so.
#[track_caller]
fn assert_each_fails(stack: &Stack, dir: &Path, cases: &[(&str, &str, &str)]) {
    for (line, stdin, needle) in cases {
        assert_fails_with(&keystep(stack, dir, line, stdin), needle);
    }
}

/// How many users (`what = "user"`) or clients (`"client"`) there are.
fn count(stack: &Stack, dir: &Path, what: &str) -> usize {
    let output = keystep(stack, dir, &format!("{what} list --json"), "");
    assert_ok(&output);
    serde_json::from_slice::<Vec<serde_json::Value>>(&output.stdout)
        .unwrap()
        .len()
}

/// `keystep user add ada` with a password from stdin; it must succeed.
fn add_ada(stack: &Stack, dir: &Path) {
    assert_ok(&keystep(
        stack,
        dir,
        "user add ada --email ada@example.com --password-stdin",
        "analytical engine\n",
    ));
}

#[test]
fn users_add_list_disable_passwd() {
    on_every_stack(|stack, dir| {
        let out = keystep(
            stack,
            dir,
            "user add ada --email ada@example.com --display-name \"Ada Lovelace\" --password-stdin",
            "analytical engine\n",
        );
        assert_ok(&out);
        assert!(
            stdout(&out).contains("created user ada"),
            "{}",
            stdout(&out)
        );
        assert!(
            !stdout(&out).contains("analytical"),
            "a given password is never echoed"
        );

        let out = keystep(
            stack,
            dir,
            "user add bob --email bob@example.com --json",
            "",
        );
        assert_ok(&out);
        let bob: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            bob["password"].as_str().unwrap().len() >= 20,
            "a generated password is shown once"
        );

        let out = keystep(stack, dir, "user list", "");
        assert_ok(&out);
        assert!(
            stdout(&out).contains("ada@example.com") && stdout(&out).contains("bob@example.com"),
            "{}: {}",
            stack.name,
            stdout(&out)
        );

        assert_ok(&keystep(stack, dir, "user disable BOB", ""));
        let out = keystep(stack, dir, "user list --json", "");
        let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        let disabled: Vec<_> = list
            .iter()
            .filter(|u| u["disabled"] == true)
            .map(|u| u["username"].clone())
            .collect();
        assert_eq!(disabled, vec![serde_json::json!("bob")], "{}", stack.name);

        let set = keystep(
            stack,
            dir,
            "user passwd ada --password-stdin",
            "difference engine\n",
        );
        assert_ok(&set);
        assert!(
            !stdout(&set).contains("shown once"),
            "a given password is not printed"
        );
        // Without --password-stdin a strong password is made and printed once, like `user add`.
        let generated = keystep(stack, dir, "user passwd ada", "");
        assert_ok(&generated);
        let line = stdout(&generated)
            .lines()
            .find_map(|l| l.strip_prefix("password (shown once): ").map(str::to_owned))
            .unwrap_or_else(|| panic!("no generated password: {}", stdout(&generated)));
        assert_eq!(line.len(), 24, "{line}");
        assert_ok(&keystep(stack, dir, "migrate", ""));
    });
}

#[test]
fn user_errors_exit_1_and_write_nothing() {
    on_every_stack(|stack, dir| {
        add_ada(stack, dir);

        let dup = keystep(
            stack,
            dir,
            "user add ADA --email other@example.com --password-stdin",
            "another password\n",
        );
        assert_fails_with(&dup, "already exists");
        let empty = keystep(
            stack,
            dir,
            "user add carol --email carol@example.com --password-stdin",
            "\n",
        );
        assert_fails_with(&empty, "password: must not be empty");
        let bad_mail = keystep(
            stack,
            dir,
            "user add dave --email nope --password-stdin",
            "long enough pw\n",
        );
        assert_fails_with(&bad_mail, "email");
        assert_eq!(
            count(stack, dir, "user"),
            1,
            "{}: nothing written",
            stack.name
        );

        assert_each_fails(
            stack,
            dir,
            &[
                ("user disable nobody", "", "no user named"),
                (
                    "user passwd ada --password-stdin",
                    "\n",
                    "password: must not be empty",
                ),
                (
                    "user passwd nobody --password-stdin",
                    "long enough pw\n",
                    "no user named",
                ),
                ("user frobnicate", "", "unrecognized subcommand"),
            ],
        );
    });
}

#[test]
fn clients_add_list_remove() {
    on_every_stack(|stack, dir| {
        let out = keystep(stack, dir, "client add shop --redirect-uri https://shop.example.com/cb --post-logout-redirect-uri https://shop.example.com/ --mfa required --name \"The Shop\" --json", "");
        assert_ok(&out);
        let shop: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        // RFC 7591 §3.2.1 names, as a registration response would carry them.
        assert_eq!(shop["client_id"], "shop");
        assert_eq!(shop["client_name"], "The Shop");
        assert_eq!(
            shop["redirect_uris"],
            serde_json::json!(["https://shop.example.com/cb"])
        );
        assert_eq!(
            shop["post_logout_redirect_uris"],
            serde_json::json!(["https://shop.example.com/"])
        );
        assert_eq!(shop["token_endpoint_auth_method"], "client_secret_basic");
        assert_eq!(shop["id_token_signed_response_alg"], "RS256");
        assert!(shop["client_id_issued_at"].as_i64().unwrap() > 0);
        assert!(shop.get("id").is_none() && shop.get("display_name").is_none());
        assert_eq!(shop["mfa_policy"], "required");
        assert!(shop["client_secret"].as_str().unwrap().len() >= 40);
        assert!(shop.get("secret_hash").is_none());
        assert_eq!(shop["offline_access"], false);
        assert_eq!(shop["introspect"], false);

        // What a client may be given beyond signing people in.
        let out = keystep(stack, dir, "client add api --redirect-uri https://api.example/cb --scope orders:read --scope orders:write --offline-access --introspect --resource https://api.example/ --json", "");
        assert_ok(&out);
        let api: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(api["scope"], "orders:read orders:write");
        assert_eq!(api["offline_access"], true);
        assert_eq!(api["introspect"], true);
        assert_eq!(
            api["resources"],
            serde_json::json!(["https://api.example/"])
        );
        assert_ok(&keystep(stack, dir, "client remove api", ""));

        let out = keystep(
            stack,
            dir,
            "client add spa --public --redirect-uri http://127.0.0.1:5173/cb",
            "",
        );
        assert_ok(&out);
        assert!(stdout(&out).contains("public") && !stdout(&out).contains("client_secret"));

        let out = keystep(stack, dir, "client list", "");
        assert!(
            stdout(&out).contains("https://shop.example.com/cb") && stdout(&out).contains("spa"),
            "{}",
            stdout(&out)
        );
        let listed = keystep(stack, dir, "client list --json", "");
        assert!(
            !stdout(&listed).contains(shop["client_secret"].as_str().unwrap()),
            "the secret is shown only once"
        );
        let listed: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
        let spa = listed.iter().find(|c| c["client_id"] == "spa").unwrap();
        assert_eq!(spa["token_endpoint_auth_method"], "none");
        assert!(spa.get("client_secret").is_none());

        assert_ok(&keystep(stack, dir, "client remove spa", ""));
        assert_eq!(count(stack, dir, "client"), 1, "{}", stack.name);
    });
}

#[test]
fn client_errors_exit_1_and_write_nothing() {
    on_every_stack(|stack, dir| {
        assert_ok(&keystep(
            stack,
            dir,
            "client add shop --redirect-uri https://shop.example.com/cb",
            "",
        ));

        assert_fails_with(
            &keystep(
                stack,
                dir,
                "client add shop --redirect-uri https://x.example/cb",
                "",
            ),
            "already exists",
        );
        assert_fails_with(
            &keystep(
                stack,
                dir,
                "client add new --redirect-uri \"not a uri\"",
                "",
            ),
            "redirect_uri",
        );
        assert_each_fails(
            stack,
            dir,
            &[
                ("client add new --redirect-uri https://ok.example/cb --redirect-uri https://ok.example/cb#frag", "", "fragment"),
                ("client add new --redirect-uri https://ok.example/cb --post-logout-redirect-uri javascript:alert(1)", "", "post_logout_redirect_uri"),
                ("client add new --redirect-uri https://ok.example/cb --mfa sometimes", "", "mfa"),
                ("client add new", "", "--redirect-uri"),
                ("client add new --redirect-uri https://ok.example/cb --scope openid", "", "scope"),
                ("client add new --public --redirect-uri https://ok.example/cb --introspect", "", "public"),
                ("client add new --redirect-uri https://ok.example/cb --resource https://api.example/#x", "", "resource"),
            ],
        );
        assert_eq!(
            count(stack, dir, "client"),
            1,
            "{}: nothing written",
            stack.name
        );

        assert_fails_with(
            &keystep(stack, dir, "client remove nobody", ""),
            "no client with id",
        );
    });
}

#[test]
fn configuration_errors_name_the_key_and_touch_nothing() {
    let stack = Stack::all().remove(0);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let data = dir.join("data");
    let cases: &[(&str, &str, &str)] = &[
        ("KEYSTEP_LISTEN", "not-an-address", "`listen`"),
        (
            "KEYSTEP_PASSWORD__ARGON2__MEMORY_KIB",
            "1",
            "`password.argon2`",
        ),
        (
            "KEYSTEP_PASSWORD__ARGON2__ITERATIONS",
            "many",
            "`password.argon2.iterations`",
        ),
        ("KEYSTEP_PUBLIC_URL", "ftp://example.com", "`public_url`"),
        ("KEYSTEP_DATABASE_URL", "mysql://x", "`database_url`"),
        ("KEYSTEP_LOG__FORMAT", "xml", "`log.format`"),
        ("KEYSTEP_MASTER_KEY", "too-short", "`master_key`"),
        ("KEYSTEP_SOMETHING_ELSE", "1", "`something_else`"),
    ];
    for (name, value, key) in cases {
        let mut command = base_command(dir);
        command
            .args(["user", "list"])
            .env("KEYSTEP_DATA_DIR", &data)
            .env(name, value);
        let out = run(command, "");
        assert_fails_with(&out, key);
        assert!(
            !data.exists(),
            "{name}: nothing may be created when the configuration is bad"
        );
    }

    std::fs::write(
        dir.join("bad.toml"),
        "[mail]\nfrom = \"keystep@example.com\"\nsmtpp = 1\n",
    )
    .unwrap();
    let mut command = base_command(dir);
    command.args(["--config", "bad.toml", "migrate"]);
    assert_fails_with(&run(command, ""), "`mail.smtpp`");

    let mut command = base_command(dir);
    command.args(["--config", "missing.toml", "migrate"]);
    assert_fails_with(&run(command, ""), "missing.toml");
    drop(stack);
}

/// The README's first command (`demo`) and `serve`, as a newcomer runs them: with nothing
/// configured they create ./data with the SQLite file and the master key, answer /healthz,
/// and stop cleanly on SIGTERM. The demo also prints its password and serves /demo.
#[tokio::test]
async fn serve_and_demo_with_nothing_configured_then_stop_on_sigterm() {
    for command_name in ["demo", "serve"] {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = base_command(dir.path());
        // Only the address differs from the defaults, so parallel test runs do not collide.
        command
            .arg(command_name)
            .env("RUST_LOG", "info")
            .env("KEYSTEP_LISTEN", format!("127.0.0.1:{port}"))
            .env("KEYSTEP_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();

        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let response = loop {
            match reqwest::get(format!("{base}/healthz")).await {
                Ok(response) => break response,
                Err(_) if started.elapsed() < Duration::from_secs(30) => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => {
                    let _ = child.kill();
                    panic!("{command_name}: server did not come up: {e}");
                }
            }
        };
        assert_eq!(response.status(), 200);
        let data = dir.path().join("data");
        assert!(data.join("keystep.db").is_file());
        assert!(data.join("master.key").is_file());
        let demo = reqwest::get(format!("{base}/demo")).await.unwrap().status();
        assert_eq!(
            demo,
            if command_name == "demo" { 200 } else { 404 },
            "{command_name}"
        );

        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "exit after SIGTERM: {:?}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stderr).contains("keystep stopped"));
        if command_name == "demo" {
            let printed = String::from_utf8_lossy(&output.stdout);
            assert!(
                printed.contains("username: demo") && printed.contains("password: "),
                "{printed}"
            );
        }
    }
}

#[test]
fn config_file_from_keystep_config_and_test_variables_are_not_keys() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("custom.toml"),
        "data_dir = \"custom-data\"\n[password.argon2]\nmemory_kib = 64\niterations = 1\n",
    )
    .unwrap();
    let mut command = base_command(dir.path());
    command
        .args([
            "user",
            "add",
            "ada",
            "--email",
            "ada@example.com",
            "--password-stdin",
        ])
        .env("KEYSTEP_CONFIG", "custom.toml")
        .env("KEYSTEP_TEST_DATABASE_URL", "postgres://unused")
        .env("KEYSTEP_TEST_ANYTHING", "1");
    assert_ok(&run(command, "analytical engine\n"));
    assert!(dir.path().join("custom-data/keystep.db").is_file());
    assert!(!dir.path().join("data").exists());
}

#[test]
fn signing_keys_rotate_and_list() {
    on_every_stack(|stack, dir| {
        // A fresh store has no keys until a server starts or keys are rotated.
        let out = keystep(stack, dir, "keys rotate", "");
        assert_ok(&out);
        assert!(stdout(&out).contains("new signing keys"));
        assert!(
            stdout(&out).contains("they sign now"),
            "nothing to wait for"
        );
        // With keys signing, the new ones are published first and sign an hour later.
        let out = keystep(stack, dir, "keys rotate", "");
        assert_ok(&out);
        assert!(
            stdout(&out).contains("they sign in 3600 seconds"),
            "{}",
            stdout(&out)
        );
        let out = keystep(stack, dir, "keys list --json", "");
        let keys: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        let status = |s: &str| keys.iter().filter(|k| k["status"] == s).count();
        assert_eq!(status("next (published, not signing yet)"), 2, "{keys:?}");
        assert_eq!(status("active (until the next key signs)"), 2, "{keys:?}");
        // --now skips the wait: the keys of the second rotation are retired unused.
        let out = keystep(stack, dir, "keys rotate --now", "");
        assert_ok(&out);
        assert!(stdout(&out).contains("they sign now"), "{}", stdout(&out));
        let out = keystep(stack, dir, "keys list --json", "");
        assert_ok(&out);
        let keys: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            keys.len(),
            6,
            "{}: three generations of RS256 and ES256",
            stack.name
        );
        assert_eq!(keys.iter().filter(|k| k["status"] == "active").count(), 2);
        assert!(
            keys.iter().any(|k| k["alg"] == "ES256") && keys.iter().any(|k| k["alg"] == "RS256")
        );
        let out = keystep(stack, dir, "keys list", "");
        assert!(
            stdout(&out).contains("retired (still published)"),
            "{}",
            stdout(&out)
        );
        assert!(
            stderr(&out).is_empty(),
            "operator commands are quiet: {}",
            stderr(&out)
        );
    });
}

#[test]
fn client_id_token_algorithm() {
    let stack = Stack::all().remove(0);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let out = keystep(
        &stack,
        dir,
        "client add ec --public --redirect-uri https://ec.example/cb --id-token-alg ES256 --json",
        "",
    );
    assert_ok(&out);
    let client: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(client["id_token_signed_response_alg"], "ES256");
    assert_fails_with(
        &keystep(
            &stack,
            dir,
            "client add hs --redirect-uri https://ec.example/cb --id-token-alg HS256",
            "",
        ),
        "id_token_signed_response_alg",
    );
    assert_eq!(count(&stack, dir, "client"), 1);
}

#[test]
fn mfa_reset_and_requests() {
    on_every_stack(|stack, dir| {
        add_ada(stack, dir);
        let out = keystep(stack, dir, "mfa requests", "");
        assert_ok(&out);
        assert!(stdout(&out).contains("no pending reset requests"));

        // Arrange what the pages would have done: an authenticator, codes by mail preferred,
        // recovery codes and a request.
        let services = keystep_core::Services::open(
            stack.config(dir.join("data")),
            std::sync::Arc::new(keystep_core::clock::SystemClock),
        )
        .unwrap();
        let request_id = {
            let mut conn = services.db.conn().unwrap();
            let user = keystep_core::users::find_by_username(&mut conn, "ada")
                .unwrap()
                .unwrap();
            keystep_mfa::totp::bind(
                &services,
                &mut conn,
                &user.id,
                &keystep_mfa::totp::new_secret(),
                0,
            )
            .unwrap();
            let email = keystep_mfa::method::Method::EmailCode;
            keystep_mfa::factors::add_stored(&services, &mut conn, &user.id, email, None).unwrap();
            keystep_mfa::factors::set_preferred(&services, &mut conn, &user.id, email).unwrap();
            keystep_mfa::recovery::regenerate(&services, &mut conn, &user.id).unwrap();
            keystep_mfa::reset::file(&services, &mut conn, &user.id, Some("192.0.2.7"), None)
                .unwrap()
                .id
        };
        let out = keystep(stack, dir, "mfa requests --json", "");
        assert_ok(&out);
        let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(listed.len(), 1, "{}", stack.name);
        assert_eq!(listed[0]["id"], request_id.as_str());
        assert_eq!(listed[0]["username"], "ada");

        assert_fails_with(
            &keystep(stack, dir, "mfa requests approve nope", ""),
            "no reset request",
        );
        let out = keystep_args(stack, dir, &["mfa", "requests", "approve", &request_id], "");
        assert_ok(&out);
        assert!(stdout(&out).contains("approved"));
        assert_fails_with(
            &keystep_args(stack, dir, &["mfa", "requests", "deny", &request_id], ""),
            "already approved",
        );
        {
            let mut conn = services.db.conn().unwrap();
            let user = keystep_core::users::find_by_username(&mut conn, "ada")
                .unwrap()
                .unwrap();
            assert_eq!(
                keystep_mfa::factors::status(&mut conn, &user.id).unwrap(),
                keystep_mfa::factors::Status::NONE,
                "{}: every method and the recovery codes are gone",
                stack.name
            );
            // The status hides a preference for a method not held: look at the table.
            use diesel::prelude::*;
            use keystep_core::schema::second_factor_preferences as preferences;
            let left: i64 = preferences::table
                .filter(preferences::user_id.eq(&user.id))
                .count()
                .get_result(&mut *conn)
                .unwrap();
            assert_eq!(left, 0, "{}: the preference is gone", stack.name);
        }

        assert_ok(&keystep(stack, dir, "mfa reset ada", ""));
        assert_fails_with(
            &keystep(stack, dir, "mfa reset nobody", ""),
            "no user named",
        );
        let outbox = std::fs::read_dir(dir.join("data/outbox")).unwrap().count();
        assert!(outbox >= 2, "the person is mailed at approval and at reset");
    });
}

#[test]
fn user_show_lists_the_methods_without_secrets() {
    on_every_stack(|stack, dir| {
        add_ada(stack, dir);
        let out = keystep(stack, dir, "user show ada", "");
        assert_ok(&out);
        assert!(
            stdout(&out).contains("two-step:        off"),
            "{}",
            stdout(&out)
        );
        assert_fails_with(
            &keystep(stack, dir, "user show nobody", ""),
            "no user named",
        );

        let services = keystep_core::Services::open(
            stack.config(dir.join("data")),
            std::sync::Arc::new(keystep_core::clock::SystemClock),
        )
        .unwrap();
        let secret = keystep_mfa::totp::new_secret();
        {
            let mut conn = services.db.conn().unwrap();
            let user = keystep_core::users::find_by_username(&mut conn, "ada")
                .unwrap()
                .unwrap();
            keystep_mfa::totp::bind(&services, &mut conn, &user.id, &secret, 0).unwrap();
            let email = keystep_mfa::method::Method::EmailCode;
            keystep_mfa::factors::add_stored(&services, &mut conn, &user.id, email, None).unwrap();
            keystep_mfa::factors::set_preferred(&services, &mut conn, &user.id, email).unwrap();
            keystep_mfa::recovery::regenerate(&services, &mut conn, &user.id).unwrap();
        }
        let out = keystep(stack, dir, "user show ada", "");
        assert_ok(&out);
        let text = stdout(&out);
        assert!(text.contains("two-step:        on"), "{text}");
        let line = |method: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("  method:        {method} since ")))
                .unwrap_or_else(|| panic!("no {method} line: {text}"))
                .to_owned()
        };
        assert!(line("email").ends_with(" UTC (preferred)"), "{text}");
        assert!(line("totp").ends_with(" UTC"), "{text}");
        assert!(text.contains("recovery codes:  10 left"));
        let base32 = keystep_mfa::totp::secret_text(&secret);
        assert!(!text.contains(&base32), "no secret");

        let out = keystep(stack, dir, "user show ada --json", "");
        assert_ok(&out);
        let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(shown["two_step"], true);
        assert_eq!(shown["methods"][0]["method"], "email");
        assert_eq!(shown["methods"][0]["preferred"], true);
        assert_eq!(shown["methods"][1]["method"], "totp");
        assert_eq!(shown["methods"][1]["preferred"], false);
        assert_eq!(shown["recovery_codes_left"], 10);
    });
}

/// A one-request HTTP server on a free port that answers `status` and hands back the request
/// line, the headers and the body it got.
fn sms_receiver(status: u16) -> (String, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut request = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length: ") {
                length = n.trim().parse().unwrap();
            }
            request.push_str(&line);
            if line.trim().is_empty() {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        request.push_str(&String::from_utf8(body).unwrap());
        let answer =
            format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        reader.get_mut().write_all(answer.as_bytes()).unwrap();
        request
    });
    (url, handle)
}

#[test]
fn sms_test_sends_through_the_outbox_or_the_gateway_and_says_when_it_fails() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::all().remove(0);
    let sms_test = |extra: &[(&str, &str)], number: &str| {
        let mut command = base_command(dir.path());
        command
            .args(["sms", "test", number])
            .envs(stack.env(&dir.path().join("data")))
            .envs(extra.iter().copied());
        run(command, "")
    };
    let out = sms_test(&[], "+49 151 1234 5678");
    assert_ok(&out);
    assert!(stdout(&out).contains("+49•••••••••78"), "{}", stdout(&out));
    let outbox: Vec<_> = std::fs::read_dir(dir.path().join("data/outbox"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert_eq!(outbox.len(), 1);
    assert!(
        outbox[0].starts_with("To: +4915112345678\n\n"),
        "{}",
        outbox[0]
    );
    assert_fails_with(&sms_test(&[], "0151 1234"), "not an international number");

    let secret = dir.path().join("sms-token");
    std::fs::write(&secret, "t0ken\n").unwrap();
    let secret = secret.display().to_string();
    let (url, received) = sms_receiver(202);
    let gateway = [
        ("KEYSTEP_SMS__HTTP__URL", url.as_str()),
        ("KEYSTEP_SMS__HTTP__BODY", "to={to}&text={text}"),
        ("KEYSTEP_SMS__HTTP__SECRET_FILE", secret.as_str()),
        ("KEYSTEP_SMS__HTTP__HEADERS__X-API-KEY", "{secret}"),
    ];
    let out = sms_test(&gateway, "+4915112345678");
    assert_ok(&out);
    assert!(stdout(&out).contains("through sms.http"));
    let request = received.join().unwrap();
    assert!(request.starts_with("POST / HTTP/1.1"), "{request}");
    assert!(
        request.to_ascii_lowercase().contains("x-api-key: t0ken"),
        "{request}"
    );
    assert!(request.ends_with("to=%2B4915112345678&text=keystep%3A+this+test+message+shows+that+text+messages+reach+you."), "{request}");

    let (url, received) = sms_receiver(503);
    let mut refused = gateway;
    refused[0].1 = url.as_str();
    assert_fails_with(&sms_test(&refused, "+4915112345678"), "503");
    received.join().unwrap();
    assert_fails_with(&sms_test(&refused[1..], "+4915112345678"), "url");
}
