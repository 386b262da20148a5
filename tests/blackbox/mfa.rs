//! Second factors end to end: enrollment at sign-in (the test computes TOTP codes from the
//! secret shown on the page), sign-in with TOTP, replay, throttle and lock, recovery codes
//! (once, and under concurrency), step-up from an aal1 session, prompt=none, the global
//! policy, and the lost-device path through the operator.

use std::time::Duration;

use base64::Engine as _;
use keystep_core::config::{MfaLoginMode, MfaPolicyConfig};
use keystep_mfa::recovery;
use keystep_tests::browser::{
    codes_in, element_text, hidden_value, href_after, totp_code, Browser, Redirect, World,
    PASSWORD, REDIRECT_URI,
};
use keystep_tests::Stack;
use serde_json::Value;

pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn authorize_url(w: &World, client_id: &str, extra: &[(&str, &str)]) -> String {
    w.authorize_url(client_id, extra)
}

pub(crate) fn jwt_claims(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// Signs in with the password from `url`; returns where keystep sends the browser next.
pub(crate) async fn password_step(w: &World, browser: &Browser, url: &str) -> Redirect {
    let to_login = browser.authorize(url).await;
    assert!(
        to_login.location.contains("/login?interaction="),
        "{}",
        to_login.location
    );
    let page = browser.login_page(&to_login.location).await;
    let response = browser
        .submit_login(&w.server.url(""), &page, "ada", PASSWORD)
        .await;
    assert_eq!(response.status(), 303);
    browser.authorize(&location(&response)).await
}

async fn post(browser: &Browser, url: String, form: &[(&str, &str)]) -> reqwest::Response {
    browser.http.post(url).form(form).send().await.unwrap()
}

/// Submits a code on the second-factor page at `page_url`.
async fn submit_code(
    w: &World,
    browser: &Browser,
    page_url: &str,
    field: &str,
    code: &str,
) -> reqwest::Response {
    let html = browser.get(page_url).await.text().await.unwrap();
    let csrf = hidden_value(&html, "csrf_token").expect("csrf token");
    let interaction = hidden_value(&html, "interaction").unwrap_or_default();
    let action = if field == "recovery_code" {
        "/login/recovery"
    } else {
        "/login/mfa"
    };
    post(
        browser,
        w.server.url(action),
        &[
            ("csrf_token", &csrf),
            ("interaction", &interaction),
            (field, code),
        ],
    )
    .await
}

/// A browser signed in with the password and a TOTP code (a session at aal2), and the secret.
async fn signed_in_with_code(w: &World) -> (Browser, Vec<u8>) {
    let secret = w.bind_totp();
    let browser = w.browser();
    let next = password_step(w, &browser, &authorize_url(w, "app", &[])).await;
    let accepted = submit_code(w, &browser, &next.location, "code", &w.totp_now(&secret)).await;
    assert_eq!(accepted.status(), 303);
    browser.authorize(&location(&accepted)).await;
    (browser, secret)
}

/// Resumes the sign-in `interaction` and checks that it asks for the password again.
async fn asks_for_the_password_again(w: &World, browser: &Browser, interaction: &str, why: &str) {
    let resume = w
        .server
        .url(&format!("/oidc/auth/resume?interaction={interaction}"));
    let back = browser.authorize(&resume).await;
    assert!(
        back.location.contains("/login?interaction="),
        "{why}: the password is asked again: {}",
        back.location
    );
    assert!(back.param("code").is_none(), "{why}");
}

pub(crate) async fn exchange_public(w: &World, client: &str, code: &str) -> Value {
    let response = w
        .post_form(
            "/oidc/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", VERIFIER),
                ("client_id", client),
            ],
            false,
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_client_that_requires_mfa_leads_through_enrollment() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let browser = w.browser();
        let next = password_step(&w, &browser, &authorize_url(&w, "strict", &[])).await;
        assert!(
            next.location.contains("/login/enroll?interaction="),
            "{name}: {}",
            next.location
        );

        // The password alone binds nothing: the person proves their mailbox first.
        let mailbox = browser.get(&next.location).await.text().await.unwrap();
        assert!(mailbox.contains("Strict App"), "{name}");
        assert!(
            !mailbox.contains("totp-secret"),
            "{name}: no secret before the mailed code"
        );
        let sent = mailbox_step(&w, &browser, &mailbox, "send", "").await;
        assert_eq!(sent.status(), 200, "{name}");
        assert!(sent.text().await.unwrap().contains(r#"name="email_code""#));
        let skipped = mailbox_step(&w, &browser, &mailbox, "verify_email", "000000").await;
        assert_eq!(skipped.status(), 401, "{name}: a wrong mailed code");
        let code = w.server.mailed_code("set up two-step verification");
        let proven = mailbox_step(&w, &browser, &mailbox, "verify_email", &code).await;
        assert_eq!(proven.status(), 200, "{name}");

        let html = browser.get(&next.location).await.text().await.unwrap();
        assert!(html.contains("Strict App"));
        assert!(
            html.contains("src=\"data:image/svg+xml;base64,"),
            "a QR code"
        );
        let secret_text = element_text(&html, "totp-secret").expect("the secret as text");
        let uri = element_text(&html, "otpauth-uri").expect("the otpauth URI");
        assert!(
            uri.starts_with("otpauth://totp/")
                && uri.contains(&format!("secret={secret_text}"))
                && uri.contains("issuer=keystep"),
            "{uri}"
        );
        let secret =
            base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &secret_text).unwrap();
        assert_eq!(secret.len(), 20, "160-bit secret");
        // Reloading shows the same secret.
        let again = browser.get(&next.location).await.text().await.unwrap();
        assert_eq!(
            element_text(&again, "totp-secret"),
            Some(secret_text.clone())
        );

        let csrf = hidden_value(&html, "csrf_token").unwrap();
        let interaction = hidden_value(&html, "interaction").unwrap();
        let wrong = post(
            &browser,
            w.server.url("/login/enroll"),
            &[
                ("csrf_token", &csrf),
                ("interaction", &interaction),
                ("code", "000000"),
            ],
        )
        .await;
        assert_eq!(wrong.status(), 401);
        let code = w.totp_now(&secret);
        let done = post(
            &browser,
            w.server.url("/login/enroll"),
            &[
                ("csrf_token", &csrf),
                ("interaction", &interaction),
                ("code", &code),
            ],
        )
        .await;
        assert_eq!(done.status(), 200, "{name}");
        assert!(
            done.headers()
                .get_all("set-cookie")
                .iter()
                .any(|c| c.to_str().unwrap().starts_with("keystep_session=")),
            "session token replaced"
        );
        let page = done.text().await.unwrap();
        let codes = codes_in(&page, "recovery-codes");
        assert_eq!(codes.len(), 10, "{page}");
        assert!(codes
            .iter()
            .all(|c| c.len() == 14 && c.matches('-').count() == 2));
        assert!(
            page.contains("download=\"keystep-recovery-codes.txt\"")
                && page.contains("data:text/plain")
        );
        let continue_href = href_after(&page, "class=\"button\"").unwrap();

        assert!(
            continue_href.contains("/oidc/auth/resume?interaction="),
            "{continue_href}"
        );
        let callback = browser.authorize(&continue_href).await;
        let tokens = exchange_public(&w, "strict", callback.param("code").unwrap()).await;
        let id = jwt_claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["acr"], "aal2", "{name}");
        assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
        let access = jwt_claims(tokens["access_token"].as_str().unwrap());
        assert_eq!(access["acr"], "aal2");
        let bound = w
            .outbox()
            .into_iter()
            .find(|m| m.contains("A second step was added"))
            .expect("a mail says MFA was bound");
        assert!(
            bound.contains("Contact your administrator at once"),
            "{name}: and what to do if it was not them"
        );

        // The recovery codes work (once) on the next sign-in.
        let other = w.browser();
        let next = password_step(&w, &other, &authorize_url(&w, "strict", &[])).await;
        assert!(
            next.location.contains("/login/mfa?interaction="),
            "{}",
            next.location
        );
        let recovery_url = next.location.replace("/login/mfa?", "/login/recovery?");
        let used = submit_code(
            &w,
            &other,
            &recovery_url,
            "recovery_code",
            &codes[0].to_uppercase(),
        )
        .await;
        assert_eq!(used.status(), 200);
        assert!(used
            .text()
            .await
            .unwrap()
            .contains("9 recovery codes are left"));
    }
}

#[tokio::test]
async fn sign_in_with_totp_and_a_replayed_code_is_refused() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let secret = w.bind_totp();
        let browser = w.browser();
        // mfa.login = always: a person with TOTP is asked at every sign-in.
        let next = password_step(&w, &browser, &authorize_url(&w, "app", &[])).await;
        assert!(
            next.location.contains("/login/mfa?interaction="),
            "{name}: {}",
            next.location
        );
        let page = browser.get(&next.location).await.text().await.unwrap();
        assert!(
            page.contains(r#"name="code""#)
                && page.contains(r#"autocomplete="one-time-code""#)
                && page.contains(r#"inputmode="numeric""#)
        );
        assert!(page.contains("/login/recovery?") && page.contains("/login/lost?"));

        let code = w.totp_now(&secret);
        let accepted = submit_code(&w, &browser, &next.location, "code", &code).await;
        assert_eq!(accepted.status(), 303, "{name}");
        let callback = browser.authorize(&location(&accepted)).await;
        let tokens: Value = w
            .exchange(callback.param("code").unwrap(), Some(VERIFIER))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            jwt_claims(tokens["id_token"].as_str().unwrap())["acr"],
            "aal2"
        );

        // The same code again, from another browser, within its window: refused.
        let thief = w.browser();
        let next = password_step(&w, &thief, &authorize_url(&w, "app", &[])).await;
        let replay = submit_code(&w, &thief, &next.location, "code", &code).await;
        assert_eq!(replay.status(), 401, "{name}: replay refused");
        // The next step's code works.
        w.server.clock.advance(Duration::from_secs(30));
        let fresh = submit_code(&w, &thief, &next.location, "code", &w.totp_now(&secret)).await;
        assert_eq!(fresh.status(), 303, "{name}");
    }
}

#[tokio::test]
async fn wrong_codes_lock_the_second_factor_for_the_window() {
    for stack in Stack::all() {
        let name = stack.name;
        let uses_redis = stack.redis_url.is_some();
        let w = World::with(stack, |c| {
            c.mfa.max_failures = 3;
            c.mfa.failure_window_seconds = 2;
        });
        let secret = w.bind_totp();
        let browser = w.browser();
        let next = password_step(&w, &browser, &authorize_url(&w, "app", &[])).await;
        assert_eq!(
            submit_code(&w, &browser, &next.location, "code", "000000")
                .await
                .status(),
            401
        );
        assert_eq!(
            submit_code(&w, &browser, &next.location, "code", "111111")
                .await
                .status(),
            401
        );
        let third = submit_code(&w, &browser, &next.location, "code", "222222").await;
        assert_eq!(third.status(), 429, "{name}: locked at the limit");
        assert!(third.text().await.unwrap().contains("locked until"));
        let right = submit_code(&w, &browser, &next.location, "code", &w.totp_now(&secret)).await;
        assert_eq!(
            right.status(),
            429,
            "{name}: a right code is refused while locked"
        );

        {
            let services = &w.server.services;
            let mut conn = services.db.conn().unwrap();
            let events: Vec<String> = keystep_core::audit::list_for_user(&mut conn, &w.user_id, 20)
                .unwrap()
                .into_iter()
                .map(|e| e.event)
                .collect();
            assert!(
                events.contains(&"second_factor_locked".to_owned()),
                "{events:?}"
            );
            assert_eq!(
                events
                    .iter()
                    .filter(|e| *e == "second_factor_failed")
                    .count(),
                3
            );
        }
        if uses_redis {
            std::thread::sleep(Duration::from_millis(2100));
        } else {
            w.server.clock.advance(Duration::from_secs(3));
        }
        w.server.clock.advance(Duration::from_secs(30));
        let after = submit_code(&w, &browser, &next.location, "code", &w.totp_now(&secret)).await;
        assert_eq!(after.status(), 303, "{name}: the lock ends with the window");
    }
}

#[tokio::test]
async fn recovery_codes_are_accepted_once_even_under_concurrency() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        w.bind_totp();
        let codes = {
            let services = &w.server.services;
            let mut conn = services.db.conn().unwrap();
            recovery::regenerate(services, &mut conn, &w.user_id).unwrap()
        };
        // Ten threads, each with its own connection, race for one code.
        let winners = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..10)
                .map(|_| {
                    let services = w.server.services.clone();
                    let code = codes[0].clone();
                    let user = w.user_id.clone();
                    scope.spawn(move || {
                        let mut conn = services.db.conn().unwrap();
                        diesel::Connection::transaction(&mut *conn, |conn| {
                            recovery::spend(&services, conn, &user, &code)
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|r| matches!(r, Ok(recovery::RecoveryCheck::Accepted { .. })))
                .count()
        });
        assert_eq!(winners, 1, "{name}: exactly one concurrent use wins");

        // Through the pages: a code works once.
        let browser = w.browser();
        let next = password_step(&w, &browser, &authorize_url(&w, "app", &[])).await;
        let recovery_url = next.location.replace("/login/mfa?", "/login/recovery?");
        let used = submit_code(&w, &browser, &recovery_url, "recovery_code", &codes[1]).await;
        assert_eq!(used.status(), 200, "{name}");
        let page = used.text().await.unwrap();
        assert!(page.contains("8 recovery codes are left"), "{page}");
        let again_browser = w.browser();
        let next = password_step(&w, &again_browser, &authorize_url(&w, "app", &[])).await;
        let again = submit_code(
            &w,
            &again_browser,
            &next.location.replace("/login/mfa?", "/login/recovery?"),
            "recovery_code",
            &codes[1],
        )
        .await;
        assert_eq!(again.status(), 401, "{name}: a used code is refused");
    }
}

#[tokio::test]
async fn step_up_from_an_aal1_session_asks_only_for_the_code() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::with(stack, |c| c.mfa.login = MfaLoginMode::OnDemand);
        let secret = w.bind_totp();
        let browser = w.browser();
        // on_demand: the first sign-in needs only the password.
        let callback = password_step(&w, &browser, &authorize_url(&w, "app", &[])).await;
        let first: Value = w
            .exchange(callback.param("code").unwrap(), Some(VERIFIER))
            .await
            .json()
            .await
            .unwrap();
        let first = jwt_claims(first["id_token"].as_str().unwrap());
        assert_eq!(first["acr"], "aal1", "{name}");

        // prompt=none cannot step up.
        let none = browser
            .authorize(&authorize_url(
                &w,
                "app",
                &[("acr_values", "aal2"), ("prompt", "none")],
            ))
            .await;
        assert_eq!(none.param("error"), Some("interaction_required"), "{name}");

        w.server.clock.advance(Duration::from_secs(60));
        let step_up = browser
            .authorize(&authorize_url(&w, "app", &[("acr_values", "aal2")]))
            .await;
        assert!(
            step_up.location.contains("/login/mfa?interaction="),
            "{name}: only the code, not the password: {}",
            step_up.location
        );
        let accepted = submit_code(
            &w,
            &browser,
            &step_up.location,
            "code",
            &w.totp_now(&secret),
        )
        .await;
        assert_eq!(accepted.status(), 303);
        let callback = browser.authorize(&location(&accepted)).await;
        let second: Value = w
            .exchange(callback.param("code").unwrap(), Some(VERIFIER))
            .await
            .json()
            .await
            .unwrap();
        let second = jwt_claims(second["id_token"].as_str().unwrap());
        assert_eq!(second["acr"], "aal2");
        assert!(
            second["auth_time"].as_i64().unwrap() >= first["auth_time"].as_i64().unwrap() + 60,
            "auth_time moves with the step-up"
        );
        assert_eq!(second["sid"], first["sid"], "same SSO session");

        // Now at aal2, prompt=none with acr_values=aal2 succeeds.
        let none = browser
            .authorize(&authorize_url(
                &w,
                "app",
                &[("acr_values", "aal2"), ("prompt", "none")],
            ))
            .await;
        assert!(none.param("code").is_some(), "{name}");
    }
}

#[tokio::test]
async fn the_global_policy_requires_everyone_to_enroll() {
    let w = World::with(Stack::all().remove(0), |c| {
        c.mfa.policy = MfaPolicyConfig::Required
    });
    let browser = w.browser();
    let next = password_step(&w, &browser, &authorize_url(&w, "app", &[])).await;
    assert!(
        next.location.contains("/login/enroll?interaction="),
        "{}",
        next.location
    );
    let none = w
        .browser()
        .authorize(&authorize_url(&w, "app", &[("prompt", "none")]))
        .await;
    assert_eq!(none.param("error"), Some("login_required"));
}

#[tokio::test]
async fn lost_both_factors_files_a_request_the_operator_approves() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        w.bind_totp();
        let browser = w.browser();
        let next = password_step(&w, &browser, &authorize_url(&w, "app", &[])).await;
        let lost_url = next.location.replace("/login/mfa?", "/login/lost?");
        let html = browser.get(&lost_url).await.text().await.unwrap();
        let csrf = hidden_value(&html, "csrf_token").unwrap();
        let interaction = hidden_value(&html, "interaction").unwrap();
        let sent = post(
            &browser,
            w.server.url("/login/lost"),
            &[
                ("csrf_token", &csrf),
                ("interaction", &interaction),
                ("action", "send"),
            ],
        )
        .await;
        let sent = sent.text().await.unwrap();
        assert!(sent.contains(r#"name="email_code""#), "{name}");
        let code = w.server.mailed_code("confirmation code");

        let wrong = post(
            &browser,
            w.server.url("/login/lost"),
            &[
                ("csrf_token", &csrf),
                ("interaction", &interaction),
                ("action", "confirm"),
                ("email_code", "000000"),
            ],
        )
        .await;
        assert_eq!(wrong.status(), 401);
        let filed = post(
            &browser,
            w.server.url("/login/lost"),
            &[
                ("csrf_token", &csrf),
                ("interaction", &interaction),
                ("action", "confirm"),
                ("email_code", &code),
            ],
        )
        .await;
        assert_eq!(filed.status(), 200, "{name}");
        assert!(filed.text().await.unwrap().contains("was filed"));

        // The operator's commands list and approve it, apart from the server.
        let mut out = Vec::new();
        w.server
            .operate(|services| {
                keystep_server::commands::mfa_requests(services, &mut out, false, true)
            })
            .await
            .unwrap();
        let listed: Vec<Value> = serde_json::from_slice(&out).unwrap();
        assert_eq!(listed.len(), 1, "{name}");
        assert_eq!(listed[0]["username"], "ada");
        let id = listed[0]["id"].as_str().unwrap().to_owned();
        w.server
            .operate(|services| {
                keystep_server::commands::mfa_decide(services, &mut Vec::new(), &id, true)
            })
            .await
            .unwrap();
        let again = w
            .server
            .operate(|services| {
                keystep_server::commands::mfa_decide(services, &mut Vec::new(), &id, false)
            })
            .await;
        assert!(again.is_err(), "decided once");
        let services = &w.server.services;
        let mut conn = services.db.conn().unwrap();
        assert!(
            !keystep_mfa::factors::status(&mut conn, &w.user_id)
                .unwrap()
                .has_second_factor(),
            "{name}: factors removed"
        );
        assert!(
            w.outbox().iter().any(|m| m.contains("was removed")),
            "the person is told"
        );
        // Their sessions ended: prompt=none needs a new sign-in.
        let none = browser
            .authorize(&authorize_url(&w, "app", &[("prompt", "none")]))
            .await;
        assert_eq!(none.param("error"), Some("login_required"));
    }
}

#[tokio::test]
async fn totp_and_recovery_codes_are_stored_sealed_and_hashed() {
    let w = World::new(Stack::all().remove(0));
    let secret = w.bind_totp();
    let services = &w.server.services;
    let mut conn = services.db.conn().unwrap();
    let codes = recovery::regenerate(services, &mut conn, &w.user_id).unwrap();
    let binding = keystep_mfa::totp::find(&mut conn, &w.user_id)
        .unwrap()
        .unwrap();
    let secret_b32 = base32::encode(base32::Alphabet::Rfc4648 { padding: false }, &secret);
    assert!(binding.secret.starts_with("v1.") && !binding.secret.contains(&secret_b32));
    use diesel::prelude::*;
    let hashes: Vec<String> = keystep_core::schema::recovery_codes::table
        .select(keystep_core::schema::recovery_codes::code_hash)
        .load(&mut *conn)
        .unwrap();
    assert_eq!(hashes.len(), 10);
    for code in &codes {
        assert!(!hashes
            .iter()
            .any(|h| h.contains(code.as_str()) || h.contains(&code.replace('-', ""))));
    }
    assert_eq!(totp_code(&secret, 0).len(), 6);
}

#[tokio::test]
async fn prompt_login_and_max_age_ask_for_the_whole_sign_in_again() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let (browser, secret) = signed_in_with_code(&w).await;

        for extra in [("prompt", "login"), ("max_age", "0")] {
            w.server.clock.advance(Duration::from_secs(30));
            // The password first, then the code again: an earlier second factor does not count.
            let next = password_step(&w, &browser, &authorize_url(&w, "app", &[extra])).await;
            assert!(
                next.location.contains("/login/mfa?interaction="),
                "{name} {extra:?}: {}",
                next.location
            );
            let accepted =
                submit_code(&w, &browser, &next.location, "code", &w.totp_now(&secret)).await;
            assert_eq!(accepted.status(), 303, "{name} {extra:?}");
            let callback = browser.authorize(&location(&accepted)).await;
            let tokens: Value = w
                .exchange(callback.param("code").unwrap(), Some(VERIFIER))
                .await
                .json()
                .await
                .unwrap();
            let id = jwt_claims(tokens["id_token"].as_str().unwrap());
            assert_eq!(id["acr"], "aal2", "{name} {extra:?}");
        }
    }
}

#[tokio::test]
async fn binding_at_sign_in_happens_only_when_the_sign_in_asks_for_it() {
    let w = World::new(Stack::all().remove(0));
    let browser = w.browser();
    // A sign-in for a client that needs nothing more than the password.
    let callback = password_step(&w, &browser, &authorize_url(&w, "app", &[])).await;
    assert!(callback.param("code").is_some());
    let not_asked = browser.get(&w.server.url("/login/enroll?next=%2Fu")).await;
    assert_eq!(
        not_asked.status(),
        403,
        "no enrollment page when nothing demands one"
    );
    // Nor through an interaction that was not sent there.
    let to_login = browser
        .authorize(&authorize_url(&w, "app", &[("prompt", "login")]))
        .await;
    let interaction = to_login
        .location
        .split("interaction=")
        .nth(1)
        .unwrap()
        .to_owned();
    let forged = browser
        .get(
            &w.server
                .url(&format!("/login/enroll?interaction={interaction}")),
        )
        .await;
    assert_eq!(forged.status(), 403);
}

#[tokio::test]
async fn a_second_factor_alone_does_not_answer_prompt_login() {
    for stack in Stack::all() {
        let w = World::new(stack);
        let (browser, secret) = signed_in_with_code(&w).await;

        // prompt=login: skip the password page and go straight to the code page.
        w.server.clock.advance(Duration::from_secs(30));
        let to_login = browser
            .authorize(&authorize_url(&w, "app", &[("prompt", "login")]))
            .await;
        assert!(to_login.location.contains("/login?interaction="));
        let skipped = to_login.location.replace("/login?", "/login/mfa?");
        let page = browser.get(&skipped).await;
        assert_eq!(page.status(), 403, "the code page is not this step");
        let interaction = skipped.split("interaction=").nth(1).unwrap();
        let form = browser
            .get(&w.server.url("/login"))
            .await
            .text()
            .await
            .unwrap();
        let csrf = hidden_value(&form, "csrf_token").unwrap();
        let refused = post(
            &browser,
            w.server.url("/login/mfa"),
            &[
                ("csrf_token", &csrf),
                ("interaction", interaction),
                ("code", &w.totp_now(&secret)),
            ],
        )
        .await;
        assert_eq!(refused.status(), 403, "a code out of order is refused");
        asks_for_the_password_again(&w, &browser, interaction, "prompt=login").await;
    }
}

#[tokio::test]
async fn max_age_is_not_renewed_by_a_second_factor_alone() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let (browser, secret) = signed_in_with_code(&w).await;

        // Two minutes on, someone with the cookie and a code (but not the password) asks
        // for a sign-in no older than a minute.
        w.server.clock.advance(Duration::from_secs(120));
        let to_login = browser
            .authorize(&authorize_url(&w, "app", &[("max_age", "60")]))
            .await;
        assert!(
            to_login.location.contains("/login?interaction="),
            "{name}: {}",
            to_login.location
        );
        let interaction = to_login.location.split("interaction=").nth(1).unwrap();
        // A code entered through the user center's own step-up moves auth_time ...
        let step_up = submit_code(
            &w,
            &browser,
            &w.server.url("/login/mfa?next=%2Fu"),
            "code",
            &w.totp_now(&secret),
        )
        .await;
        assert_eq!(step_up.status(), 303, "{name}");
        // ... but not the last password, which max_age counts from.
        asks_for_the_password_again(&w, &browser, interaction, name).await;
    }
}

#[tokio::test]
async fn an_essential_aal1_is_met_by_an_aal2_sign_in() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let (browser, _) = signed_in_with_code(&w).await;

        // The levels are ordered: aal2 satisfies a demand for aal1, and the ID token names
        // the requested value while amr still says how the person signed in.
        let claims = r#"{"id_token":{"acr":{"essential":true,"values":["aal1"]}}}"#;
        let answer = browser
            .authorize(&authorize_url(&w, "app", &[("claims", claims)]))
            .await;
        let code = answer
            .param("code")
            .unwrap_or_else(|| panic!("{name}: {}", answer.location));
        let tokens: Value = w.exchange(code, Some(VERIFIER)).await.json().await.unwrap();
        let id = jwt_claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["acr"], "aal1", "{name}");
        assert_eq!(
            id["amr"],
            serde_json::json!(["pwd", "otp", "mfa"]),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_sealed_secret_copied_into_another_persons_row_does_not_open_there() {
    use diesel::prelude::*;
    use keystep_core::schema::totp_bindings;
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let grace = w.add_person("grace");
        let ada_secret = w.bind_totp();
        let services = &w.server.services;
        let grace_secret = keystep_mfa::totp::new_secret();
        let set_ada_row = |sealed: String, sealed_for_owner: bool| {
            let mut conn = services.db.conn().unwrap();
            diesel::update(totp_bindings::table.find(&w.user_id))
                .set((
                    totp_bindings::secret.eq(sealed),
                    totp_bindings::sealed_for_owner.eq(sealed_for_owner),
                ))
                .execute(&mut *conn)
                .unwrap();
        };
        {
            let mut conn = services.db.conn().unwrap();
            keystep_mfa::totp::bind(services, &mut conn, &grace, &grace_secret, 0).unwrap();
            // Someone who can write the database copies their own sealed secret (grace's)
            // into ada's row, to sign in as ada with grace's authenticator.
            let copied = keystep_mfa::totp::find(&mut conn, &grace).unwrap().unwrap();
            drop(conn);
            set_ada_row(copied.secret, true);
        }
        let browser = w.browser();
        let next = password_step(&w, &browser, &authorize_url(&w, "app", &[])).await;
        let code = w.totp_now(&grace_secret);
        let refused = submit_code(&w, &browser, &next.location, "code", &code).await;
        assert_eq!(refused.status(), 401, "{name}: grace's code is not ada's");

        // A secret sealed before the owner was part of the sealing (an upgraded deployment)
        // is sealed again for its owner when the services open, and works; the upgrade left
        // such rows unmarked.
        let legacy = services
            .secret_box
            .seal(keystep_mfa::totp::SEAL_PURPOSE, &ada_secret)
            .unwrap();
        set_ada_row(legacy, false);
        assert_eq!(
            keystep_mfa::totp::reseal_for_owners(services).unwrap(),
            1,
            "{name}"
        );
        assert_eq!(
            keystep_mfa::totp::reseal_for_owners(services).unwrap(),
            0,
            "{name}"
        );
        let code = w.totp_now(&ada_secret);
        let accepted = submit_code(&w, &browser, &next.location, "code", &code).await;
        assert_eq!(accepted.status(), 303, "{name}");
    }
}

#[tokio::test]
async fn wrong_codes_from_one_address_are_limited_below_the_persons_own_limit() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::with(stack, |c| {
            c.mfa.max_failures = 5;
            c.mfa.max_failures_per_ip = 3;
        });
        let secret = w.bind_totp();
        // Three wrong codes from this address, each from a sign-in of its own.
        for wrong in ["000000", "111111", "222222"] {
            let browser = w.browser();
            let next = password_step(&w, &browser, &authorize_url(&w, "app", &[])).await;
            let refused = submit_code(&w, &browser, &next.location, "code", wrong).await;
            assert_eq!(refused.status(), 401, "{name}");
        }
        // The person's own limit (5) is not reached, but this address's is: even the right
        // code is refused from here for the rest of the window.
        let browser = w.browser();
        let next = password_step(&w, &browser, &authorize_url(&w, "app", &[])).await;
        let right = w.totp_now(&secret);
        let locked = submit_code(&w, &browser, &next.location, "code", &right).await;
        assert_eq!(
            locked.status(),
            429,
            "{name}: {}",
            locked.text().await.unwrap()
        );
    }
}

#[tokio::test]
async fn a_request_alone_leads_to_binding_only_when_enroll_on_request_allows_it() {
    for (stack, same) in Stack::all().into_iter().zip(Stack::all()) {
        let name = stack.name;
        let strict = World::new(stack);
        // Anyone can add acr_values=aal2 to a URL; with the password alone, that must not
        // lead to binding the holder's own app to an account that has no second factor.
        let browser = strict.browser();
        password_step(&strict, &browser, &authorize_url(&strict, "app", &[])).await;
        let claims = r#"{"id_token":{"acr":{"essential":true,"values":["aal2"]}}}"#;
        for extra in [("acr_values", "aal2"), ("claims", claims)] {
            let answer = browser
                .authorize(&authorize_url(&strict, "app", &[extra]))
                .await;
            assert_eq!(
                answer.param("error"),
                Some("unmet_authentication_requirements"),
                "{name}: {extra:?}"
            );
        }
        let forged = browser
            .get(&strict.server.url("/login/enroll?next=%2Fu"))
            .await;
        assert_eq!(forged.status(), 403, "{name}");

        let allowing = World::with(same, |c| c.mfa.enroll_on_request = true);
        let browser = allowing.browser();
        let url = authorize_url(&allowing, "app", &[("acr_values", "aal2")]);
        let next = password_step(&allowing, &browser, &url).await;
        assert!(
            next.location.contains("/login/enroll?interaction="),
            "{name}: {}",
            next.location
        );
    }
}

/// Posts the mailbox step of binding at sign-in (`action` send or verify_email) from the
/// mailbox page `page`.
async fn mailbox_step(
    w: &World,
    browser: &Browser,
    page: &str,
    action: &str,
    email_code: &str,
) -> reqwest::Response {
    let csrf = hidden_value(page, "csrf_token").unwrap();
    let interaction = hidden_value(page, "interaction").unwrap();
    let form = [
        ("csrf_token", csrf.as_str()),
        ("interaction", interaction.as_str()),
        ("action", action),
        ("email_code", email_code),
    ];
    post(browser, w.server.url("/login/enroll"), &form).await
}

/// Enters `n` wrong codes at the code page `at`, each refused as wrong.
async fn wrong_codes(w: &World, browser: &Browser, at: &str, n: usize) {
    for _ in 0..n {
        let refused = submit_code(w, browser, at, "code", "000000").await;
        assert_eq!(refused.status(), 401);
    }
}

#[tokio::test]
async fn a_days_worth_of_wrong_codes_locks_the_second_factor_and_mails_the_person() {
    for stack in Stack::all() {
        let name = stack.name;
        // The short window never fills here; only the day's count does.
        let w = World::with(stack, |c| {
            c.mfa.max_failures = 100;
            c.mfa.max_failures_per_ip = 1000;
            c.mfa.max_failures_per_day = 4;
        });
        let secret = w.bind_totp();
        // A right code forgets the day's wrong ones.
        let browser = w.browser();
        let next = password_step(&w, &browser, &authorize_url(&w, "app", &[])).await;
        wrong_codes(&w, &browser, &next.location, 3).await;
        let right = submit_code(&w, &browser, &next.location, "code", &w.totp_now(&secret)).await;
        assert_eq!(right.status(), 303, "{name}");

        let browser = w.browser();
        let next = password_step(&w, &browser, &authorize_url(&w, "app", &[])).await;
        wrong_codes(&w, &browser, &next.location, 3).await;
        let fourth = submit_code(&w, &browser, &next.location, "code", "000000").await;
        assert_eq!(
            fourth.status(),
            429,
            "{name}: the day's last wrong code locks"
        );
        let mail = w
            .outbox()
            .into_iter()
            .find(|m| m.contains("locked for today"))
            .unwrap_or_else(|| panic!("{name}: the person is mailed"));
        assert!(mail.contains("Contact your administrator"), "{name}");
        w.server.clock.advance(Duration::from_secs(30));
        let right = submit_code(&w, &browser, &next.location, "code", &w.totp_now(&secret)).await;
        assert_eq!(right.status(), 429, "{name}: not even the right code");
        let day_locks = |w: &World| {
            w.outbox()
                .iter()
                .filter(|m| m.contains("locked for today"))
                .count()
        };
        assert_eq!(day_locks(&w), 1, "{name}: the lock is mailed once");

        // An operator's reset lifts the lock with the factors; the person binds anew. The
        // command runs apart from the server, as `keystep mfa reset` does.
        w.server
            .operate(|services| {
                keystep_server::commands::mfa_reset(services, &mut Vec::new(), "ada")
            })
            .await
            .unwrap();
        let secret = w.bind_totp();
        let browser = w.browser();
        let next = password_step(&w, &browser, &authorize_url(&w, "app", &[])).await;
        let right = submit_code(&w, &browser, &next.location, "code", &w.totp_now(&secret)).await;
        assert_eq!(right.status(), 303, "{name}: unlocked");
    }
}

#[tokio::test]
async fn a_days_worth_of_wrong_mailed_codes_locks_them_and_mails_the_person() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::with(stack, |c| c.mfa.max_failures_per_day = 3);
        let browser = w.browser();
        let next = password_step(&w, &browser, &authorize_url(&w, "strict", &[])).await;
        let mailbox = browser.get(&next.location).await.text().await.unwrap();
        let post_mailbox = |action: &'static str, email_code: &'static str| {
            let (w, browser, mailbox) = (&w, &browser, &mailbox);
            async move {
                mailbox_step(w, browser, mailbox, action, email_code)
                    .await
                    .status()
            }
        };
        assert_eq!(post_mailbox("send", "").await, 200, "{name}");
        assert_eq!(post_mailbox("verify_email", "000000").await, 401, "{name}");
        assert_eq!(post_mailbox("verify_email", "111111").await, 401, "{name}");
        // The day's third wrong code locks mailed codes for the person, before the flow's own
        // limit of five.
        assert_eq!(post_mailbox("verify_email", "222222").await, 429, "{name}");
        let locked: Vec<_> = w
            .outbox()
            .into_iter()
            .filter(|m| m.contains("locked for today"))
            .collect();
        assert_eq!(locked.len(), 1, "{name}: the person is mailed once");
        let code = w.server.mailed_code("set up two-step verification");
        let right = mailbox_step(&w, &browser, &mailbox, "verify_email", &code).await;
        assert_eq!(right.status(), 429, "{name}: not even the right code");
    }
}
