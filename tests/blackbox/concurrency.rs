//! Many requests at once, on both stacks: concurrent sign-ins of different people all
//! succeed, and the losers of every race for a single-use secret (an authorization code, a
//! refresh token, a TOTP code, a recovery code) get the spec's answer, never a 5xx. On
//! SQLite this holds because writers take the write lock up front and wait their turn, and
//! no password hash runs while a write transaction is open.

use std::sync::Arc;

use keystep_core::users::{self, NewUser};
use keystep_mfa::recovery;
use keystep_tests::browser::{hidden_value, Browser, World, PASSWORD, PKCE_VERIFIER};
use keystep_tests::Stack;
use serde_json::Value;
use tokio::task::JoinSet;

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// Signs `username` in through the hosted login and returns the authorization code.
async fn code_for(w: &World, browser: &Browser, username: &str) -> String {
    let callback = browser
        .sign_in(
            &w.server.url(""),
            &w.authorize_url("app", &[]),
            username,
            PASSWORD,
        )
        .await;
    callback
        .param("code")
        .unwrap_or_else(|| panic!("no code in {}", callback.location))
        .to_owned()
}

/// Counts answers by status, failing on any 5xx with its body.
async fn statuses(mut answers: JoinSet<(u16, String)>) -> Vec<(u16, String)> {
    let mut all = Vec::new();
    while let Some(answer) = answers.join_next().await {
        let (status, body) = answer.unwrap();
        assert!(status < 500, "a race answered {status}: {body}");
        all.push((status, body));
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_four_people_signing_in_at_once_all_succeed() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = Arc::new(World::new(stack));
        {
            let services = &w.server.services;
            let mut conn = services.db.conn().unwrap();
            for n in 0..24 {
                let username = format!("person{n:02}");
                users::create_user(
                    &mut conn,
                    &services.passwords,
                    services.clock.as_ref(),
                    &NewUser {
                        username: &username,
                        email: &format!("{username}@example.com"),
                        display_name: "",
                        password: PASSWORD,
                    },
                )
                .unwrap();
            }
        }
        let mut sign_ins = JoinSet::new();
        for n in 0..24 {
            let w = w.clone();
            sign_ins.spawn(async move {
                let browser = w.browser();
                let code = code_for(&w, &browser, &format!("person{n:02}")).await;
                let response = w.exchange(&code, Some(PKCE_VERIFIER)).await;
                let status = response.status().as_u16();
                (status, response.text().await.unwrap())
            });
        }
        let answers = statuses(sign_ins).await;
        assert_eq!(answers.len(), 24);
        for (status, body) in answers {
            assert_eq!(status, 200, "{name}: {body}");
            let tokens: Value = serde_json::from_str(&body).unwrap();
            assert!(tokens["id_token"].is_string(), "{name}: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_code_exchanged_fifty_times_at_once_is_redeemed_once() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = Arc::new(World::new(stack));
        let code = code_for(&w, &w.browser(), "ada").await;
        let mut exchanges = JoinSet::new();
        for _ in 0..50 {
            let (w, code) = (w.clone(), code.clone());
            exchanges.spawn(async move {
                let response = w.exchange(&code, Some(PKCE_VERIFIER)).await;
                (response.status().as_u16(), response.text().await.unwrap())
            });
        }
        let answers = statuses(exchanges).await;
        let won = answers.iter().filter(|(s, _)| *s == 200).count();
        assert_eq!(won, 1, "{name}: one exchange wins");
        for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
            assert_eq!(*status, 400, "{name}: {body}");
            let error: Value = serde_json::from_str(body).unwrap();
            assert_eq!(error["error"], "invalid_grant", "{name}: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_token_used_fifty_times_at_once_rotates_at_most_once() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = Arc::new(World::new(stack));
        let code = code_for(&w, &w.browser(), "ada").await;
        let tokens: Value = w
            .exchange(&code, Some(PKCE_VERIFIER))
            .await
            .json()
            .await
            .unwrap();
        let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
        let mut refreshes = JoinSet::new();
        for _ in 0..50 {
            let (w, token) = (w.clone(), refresh_token.clone());
            refreshes.spawn(async move {
                let response = w
                    .post_form(
                        "/oidc/token",
                        &[("grant_type", "refresh_token"), ("refresh_token", &token)],
                        true,
                    )
                    .await;
                (response.status().as_u16(), response.text().await.unwrap())
            });
        }
        let answers = statuses(refreshes).await;
        let won = answers.iter().filter(|(s, _)| *s == 200).count();
        assert!(won <= 1, "{name}: {won} refreshes won");
        for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
            assert_eq!(*status, 400, "{name}: {body}");
            let error: Value = serde_json::from_str(body).unwrap();
            assert_eq!(error["error"], "invalid_grant", "{name}: {body}");
        }
    }
}

/// Ten browsers past the password step, each on its second-factor page (`path` is
/// `/login/mfa` or `/login/recovery`); returns each browser with the form's hidden fields.
async fn ten_at_the_second_step(w: &World, path: &str) -> Vec<(Browser, String, String)> {
    let mut waiting = Vec::new();
    for _ in 0..10 {
        let browser = w.browser();
        let to_login = browser.authorize(&w.authorize_url("app", &[])).await;
        let page = browser.login_page(&to_login.location).await;
        let response = browser
            .submit_login(&w.server.url(""), &page, "ada", PASSWORD)
            .await;
        assert_eq!(response.status(), 303);
        let next = browser.authorize(&location(&response)).await;
        assert!(next.location.contains("/login/mfa?"), "{}", next.location);
        let url = next.location.replace("/login/mfa?", &format!("{path}?"));
        let html = browser.get(&url).await.text().await.unwrap();
        let csrf = hidden_value(&html, "csrf_token").unwrap();
        let interaction = hidden_value(&html, "interaction").unwrap_or_default();
        waiting.push((browser, csrf, interaction));
    }
    waiting
}

/// Posts `field=value` to `path` from every waiting browser at once.
fn submit_all(
    w: &World,
    waiting: Vec<(Browser, String, String)>,
    path: &str,
    field: &'static str,
    value: &str,
) -> JoinSet<(u16, String)> {
    let mut submissions = JoinSet::new();
    for (browser, csrf, interaction) in waiting {
        let url = w.server.url(path);
        let value = value.to_owned();
        submissions.spawn(async move {
            let response = browser
                .http
                .post(url)
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("interaction", interaction.as_str()),
                    (field, value.as_str()),
                ])
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        });
    }
    submissions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_totp_code_on_ten_sessions_at_once_is_accepted_at_most_once() {
    for stack in Stack::all() {
        let name = stack.name;
        // The losers' wrong-code answers must not lock the account meanwhile.
        let w = World::with(stack, |c| c.mfa.max_failures = 100);
        let secret = w.bind_totp();
        let waiting = ten_at_the_second_step(&w, "/login/mfa").await;
        let code = w.totp_now(&secret);
        let answers = statuses(submit_all(&w, waiting, "/login/mfa", "code", &code)).await;
        let won = answers.iter().filter(|(s, _)| *s == 303).count();
        assert!(won <= 1, "{name}: {won} sessions took one code");
        for (status, body) in answers.iter().filter(|(s, _)| *s != 303) {
            assert_eq!(*status, 401, "{name}: the ordinary wrong-code page: {body}");
            assert!(body.contains(r#"name="code""#), "{name}: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_recovery_code_on_ten_sessions_at_once_is_accepted_exactly_once() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::with(stack, |c| c.mfa.max_failures = 100);
        w.bind_totp();
        let codes = {
            let services = &w.server.services;
            let mut conn = services.db.conn().unwrap();
            recovery::regenerate(services, &mut conn, &w.user_id).unwrap()
        };
        let waiting = ten_at_the_second_step(&w, "/login/recovery").await;
        let answers = statuses(submit_all(
            &w,
            waiting,
            "/login/recovery",
            "recovery_code",
            &codes[0],
        ))
        .await;
        let won = answers.iter().filter(|(s, _)| *s == 200).count();
        assert_eq!(won, 1, "{name}: exactly one session spends the code");
        assert!(
            answers.iter().all(|(s, _)| *s == 200 || *s == 401),
            "{name}: {:?}",
            answers.iter().map(|(s, _)| s).collect::<Vec<_>>()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_passwords_are_counted_before_they_are_checked() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = Arc::new(World::with(stack, |c| {
            c.login.max_failures_per_account = 5;
        }));
        let mut guesses = JoinSet::new();
        for n in 0..20 {
            let w = w.clone();
            guesses.spawn(async move {
                let browser = w.browser();
                let page = browser.login_page(&w.server.url("/login")).await;
                let response = browser
                    .submit_login(&w.server.url(""), &page, "ada", &format!("wrong {n}"))
                    .await;
                (response.status().as_u16(), response.text().await.unwrap())
            });
        }
        let answers = statuses(guesses).await;
        let checked = answers.iter().filter(|(s, _)| *s == 401).count();
        assert!(
            checked <= 5,
            "{name}: {checked} guesses were checked, the limit is 5"
        );
        assert!(
            answers.iter().all(|(s, _)| *s == 401 || *s == 429),
            "{name}: {:?}",
            answers.iter().map(|(s, _)| s).collect::<Vec<_>>()
        );
        let browser = w.browser();
        let page = browser.login_page(&w.server.url("/login")).await;
        let right = browser
            .submit_login(&w.server.url(""), &page, "ada", PASSWORD)
            .await;
        assert_eq!(
            right.status(),
            429,
            "{name}: locked, the right password too"
        );
    }
}
