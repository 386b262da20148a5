//! The user center /u over real HTTP: sign-in through the hosted login, binding (recent
//! password, mailed code, authenticator, recovery codes), replacing, removing, new recovery
//! codes, password change, sessions and the security log.

use std::time::Duration;

use keystep_core::config::MfaPolicyConfig;
use keystep_tests::browser::{
    codes_in, element_text, hidden_value, totp_code, Browser, World, PASSWORD, PKCE_VERIFIER,
    REDIRECT_URI,
};
use keystep_tests::Stack;

/// The Location of a redirect, as an absolute URL.
pub(crate) fn location(response: &reqwest::Response) -> String {
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let base = response.url().clone();
    base.join(&location).unwrap().to_string()
}

/// The overview's word for two-step verification: "On" or "Off".
pub(crate) fn status_word(overview: &str) -> String {
    element_text(overview, "mfa-status").expect("the overview says")
}

/// Signs ada in at /u and returns the overview's HTML.
pub(crate) async fn sign_in_to_u(w: &World, browser: &Browser) -> String {
    let response = password_for_u(w, browser).await;
    assert_eq!(response.status(), 303);
    assert!(location(&response).ends_with("/u"));
    let overview = browser.get(&w.server.url("/u")).await;
    assert_eq!(overview.status(), 200);
    overview.text().await.unwrap()
}

pub(crate) async fn form(
    browser: &Browser,
    w: &World,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let html = browser.get(&w.server.url(path)).await.text().await.unwrap();
    let csrf =
        hidden_value(&html, "csrf_token").unwrap_or_else(|| panic!("no form at {path}: {html}"));
    let mut all = vec![("csrf_token", csrf.as_str())];
    all.extend_from_slice(fields);
    browser
        .http
        .post(w.server.url(path))
        .form(&all)
        .send()
        .await
        .unwrap()
}

/// Binds an authenticator through /u; returns the secret and the recovery codes.
async fn bind_in_u(w: &World, browser: &Browser) -> (Vec<u8>, Vec<String>) {
    let page = browser.get(&w.server.url("/u/mfa/bind")).await;
    assert_eq!(page.status(), 200);
    let sent = form(browser, w, "/u/mfa/bind", &[("action", "send")])
        .await
        .text()
        .await
        .unwrap();
    assert!(sent.contains(r#"name="email_code""#), "{sent}");
    let code = w.server.mailed_code("set up two-step verification");
    let wrong = form(
        browser,
        w,
        "/u/mfa/bind",
        &[("action", "verify_email"), ("email_code", "000000")],
    )
    .await;
    assert_eq!(wrong.status(), 401);
    let enroll = form(
        browser,
        w,
        "/u/mfa/bind",
        &[("action", "verify_email"), ("email_code", &code)],
    )
    .await
    .text()
    .await
    .unwrap();
    let secret_text = element_text(&enroll, "totp-secret").expect("secret shown");
    let secret =
        base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &secret_text).unwrap();
    let totp = totp_code(
        &secret,
        keystep_core::clock::Clock::now(w.server.clock.as_ref()),
    );
    let codes_page = form(
        browser,
        w,
        "/u/mfa/bind",
        &[("action", "confirm"), ("code", &totp)],
    )
    .await
    .text()
    .await
    .unwrap();
    let codes = codes_in(&codes_page, "recovery-codes");
    assert_eq!(codes.len(), 10, "{codes_page}");
    (secret, codes)
}

#[tokio::test]
async fn bind_replace_regenerate_and_remove_mfa() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let browser = w.browser();
        let overview = sign_in_to_u(&w, &browser).await;
        assert_eq!(status_word(&overview), "Off", "{name}");

        let (secret, codes) = bind_in_u(&w, &browser).await;
        let overview = browser.get(&w.server.url("/u")).await.text().await.unwrap();
        assert_eq!(status_word(&overview), "On", "{name}");
        assert!(
            overview.contains("10 recovery codes left"),
            "{name}: {overview}"
        );
        assert!(w
            .outbox()
            .iter()
            .any(|m| m.contains("A second step was added")));

        // Replacing: the old authenticator works until the new one is confirmed.
        w.server.clock.advance(Duration::from_secs(30));
        let sent = form(&browser, &w, "/u/mfa/bind", &[("action", "send")])
            .await
            .text()
            .await
            .unwrap();
        assert!(
            sent.contains("keeps working until you finish"),
            "{name}: replacing is said"
        );
        let code = w.server.mailed_code("set up two-step verification");
        let enroll = form(
            &browser,
            &w,
            "/u/mfa/bind",
            &[("action", "verify_email"), ("email_code", &code)],
        )
        .await
        .text()
        .await
        .unwrap();
        let new_secret = base32::decode(
            base32::Alphabet::Rfc4648 { padding: false },
            &element_text(&enroll, "totp-secret").unwrap(),
        )
        .unwrap();
        assert_ne!(new_secret, secret);
        {
            let services = &w.server.services;
            let mut conn = services.db.conn().unwrap();
            assert_eq!(
                keystep_mfa::totp::verify(services, &mut conn, &w.user_id, &w.totp_now(&secret))
                    .unwrap(),
                keystep_mfa::totp::TotpCheck::Accepted,
                "{name}: old still works"
            );
        }
        w.server.clock.advance(Duration::from_secs(30));
        let replaced = form(
            &browser,
            &w,
            "/u/mfa/bind",
            &[("action", "confirm"), ("code", &w.totp_now(&new_secret))],
        )
        .await;
        assert_eq!(
            replaced.status(),
            303,
            "{name}: no new codes for a replacement"
        );
        assert!(location(&replaced).ends_with("/u?done=bound"));
        {
            let services = &w.server.services;
            let mut conn = services.db.conn().unwrap();
            w.server.clock.advance(Duration::from_secs(30));
            assert_eq!(
                keystep_mfa::totp::verify(services, &mut conn, &w.user_id, &w.totp_now(&secret))
                    .unwrap(),
                keystep_mfa::totp::TotpCheck::Wrong,
                "{name}: old stops"
            );
            assert!(
                matches!(
                    keystep_mfa::recovery::spend(services, &mut conn, &w.user_id, &codes[0])
                        .unwrap(),
                    keystep_mfa::recovery::RecoveryCheck::Accepted { remaining: 9 }
                ),
                "{name}: the recovery codes survive a replacement"
            );
        }

        // New recovery codes need a current code.
        w.server.clock.advance(Duration::from_secs(30));
        assert_eq!(
            form(&browser, &w, "/u/recovery-codes", &[("code", "000000")])
                .await
                .status(),
            401
        );
        let regenerated = form(
            &browser,
            &w,
            "/u/recovery-codes",
            &[("code", &w.totp_now(&new_secret))],
        )
        .await
        .text()
        .await
        .unwrap();
        assert_eq!(codes_in(&regenerated, "recovery-codes").len(), 10, "{name}");

        // Removing needs a current code (or a recovery code).
        assert_eq!(
            form(&browser, &w, "/u/mfa/remove", &[("code", "123456")])
                .await
                .status(),
            401
        );
        let fresh_codes = codes_in(&regenerated, "recovery-codes");
        let removed = form(&browser, &w, "/u/mfa/remove", &[("code", &fresh_codes[0])]).await;
        assert_eq!(removed.status(), 303, "{name}");
        let overview = browser
            .get(&w.server.url("/u?done=removed"))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            status_word(&overview) == "Off" && overview.contains("Two-step verification is off."),
            "{name}"
        );
        assert!(w
            .outbox()
            .iter()
            .any(|m| m.contains("Two-step verification is off")));

        let log = browser
            .get(&w.server.url("/u/log"))
            .await
            .text()
            .await
            .unwrap();
        let first_mfa_removed = log.find("mfa_removed").unwrap();
        let first_enrolled = log.find("mfa_enrolled").unwrap();
        assert!(first_mfa_removed < first_enrolled, "{name}: newest first");
        assert!(log.contains("signed_in") && log.contains("recovery_codes_regenerated"));
    }
}

#[tokio::test]
async fn binding_needs_a_recent_password() {
    for stack in Stack::all() {
        let w = World::new(stack);
        let browser = w.browser();
        sign_in_to_u(&w, &browser).await;
        w.server.clock.advance(Duration::from_secs(6 * 60));
        let response = browser.get(&w.server.url("/u/mfa/bind")).await;
        assert_eq!(response.status(), 303);
        assert!(location(&response).contains("/u/reauth?next=%2Fu%2Fmfa%2Fbind"));
        let wrong = form(
            &browser,
            &w,
            "/u/reauth?next=%2Fu%2Fmfa%2Fbind",
            &[("next", "/u/mfa/bind"), ("password", "nope")],
        )
        .await;
        assert_eq!(wrong.status(), 401);
        let right = form(
            &browser,
            &w,
            "/u/reauth?next=%2Fu%2Fmfa%2Fbind",
            &[("next", "/u/mfa/bind"), ("password", PASSWORD)],
        )
        .await;
        assert_eq!(right.status(), 303);
        assert!(location(&right).ends_with("/u/mfa/bind"));
        assert_eq!(
            browser.get(&w.server.url("/u/mfa/bind")).await.status(),
            200
        );
        // An outside `next` is never followed.
        let evil = form(
            &browser,
            &w,
            "/u/reauth",
            &[("next", "https://evil.example/"), ("password", PASSWORD)],
        )
        .await;
        assert!(location(&evil).ends_with("/u"));
    }
}

/// Opens `/u`, which sends the browser to sign in, and posts the password there.
pub(crate) async fn password_for_u(w: &World, browser: &Browser) -> reqwest::Response {
    let first = browser.get(&w.server.url("/u")).await;
    let page = browser.login_page(&location(&first)).await;
    browser
        .http
        .post(w.server.url("/login"))
        .form(&[
            ("csrf_token", page.csrf_token.as_str()),
            ("next", "/u"),
            ("username", "ada"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
}

/// Signs ada in at /u when she has an authenticator: password, then the code.
async fn sign_in_to_u_with_code(w: &World, browser: &Browser, secret: &[u8]) {
    let response = password_for_u(w, browser).await;
    let to_u = browser.get(&location(&response)).await;
    assert_eq!(to_u.status(), 303);
    let mfa = location(&to_u);
    assert!(
        mfa.contains("/login/mfa?next=%2Fu"),
        "the user center asks for the code too: {mfa}"
    );
    let html = browser.get(&mfa.clone()).await.text().await.unwrap();
    let csrf = hidden_value(&html, "csrf_token").unwrap();
    let verified = browser
        .http
        .post(w.server.url("/login/mfa"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("next", "/u"),
            ("code", &w.totp_now(secret)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 303);
    assert!(location(&verified).ends_with("/u"));
    assert_eq!(browser.get(&w.server.url("/u")).await.status(), 200);
}

#[tokio::test]
async fn with_mfa_bound_the_user_center_asks_for_the_code() {
    let w = World::new(Stack::all().remove(0));
    let secret = w.bind_totp();
    sign_in_to_u_with_code(&w, &w.browser(), &secret).await;
}

#[tokio::test]
async fn removal_warns_when_mfa_is_mandatory() {
    let w = World::with(Stack::all().remove(0), |c| {
        c.mfa.policy = MfaPolicyConfig::Required
    });
    let secret = w.bind_totp();
    let browser = w.browser();
    sign_in_to_u_with_code(&w, &browser, &secret).await;
    let page = browser
        .get(&w.server.url("/u/mfa/remove"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("you will be asked to set it up again"),
        "{page}"
    );
    let optional = World::new(Stack::all().remove(0));
    let secret = optional.bind_totp();
    let browser = optional.browser();
    sign_in_to_u_with_code(&optional, &browser, &secret).await;
    let page = browser
        .get(&optional.server.url("/u/mfa/remove"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("you will be asked to set it up again"));
}

#[tokio::test]
async fn password_change_keeps_what_was_typed_and_can_end_other_sessions() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let browser = w.browser();
        let other = w.browser();
        sign_in_to_u(&w, &browser).await;
        sign_in_to_u(&w, &other).await;

        let mismatch = form(
            &browser,
            &w,
            "/u/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a new passphrase"),
                ("confirm_password", "another one"),
                ("end_others", "1"),
            ],
        )
        .await;
        assert_eq!(mismatch.status(), 400);
        let html = mismatch.text().await.unwrap();
        assert!(
            html.contains("do not match") && html.contains("checked"),
            "{name}: the checkbox stays"
        );
        assert!(!html.contains("a new passphrase"), "secrets are not echoed");
        let wrong = form(
            &browser,
            &w,
            "/u/password",
            &[
                ("current_password", "nope"),
                ("new_password", "a new passphrase"),
                ("confirm_password", "a new passphrase"),
            ],
        )
        .await;
        assert_eq!(wrong.status(), 401);
        assert!(
            w.outbox().is_empty(),
            "{name}: a refused change mails nothing"
        );
        let done = form(
            &browser,
            &w,
            "/u/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a new passphrase"),
                ("confirm_password", "a new passphrase"),
                ("end_others", "1"),
            ],
        )
        .await;
        assert_eq!(done.status(), 200, "{name}");
        assert!(done
            .text()
            .await
            .unwrap()
            .contains("other sessions were signed out"));
        let mails = w.outbox();
        assert_eq!(mails.len(), 1, "{name}: the owner is told");
        assert!(
            mails[0].contains("Subject: The password of your keystep account was changed")
                && mails[0].contains("If this was not you"),
            "{name}: {}",
            mails[0]
        );
        assert_eq!(
            browser.get(&w.server.url("/u")).await.status(),
            200,
            "this session stays"
        );
        assert_eq!(
            other.get(&w.server.url("/u")).await.status(),
            303,
            "{name}: the other one is gone"
        );

        let forged = browser
            .http
            .post(w.server.url("/u/password"))
            .form(&[
                ("current_password", "a new passphrase"),
                ("new_password", "x"),
                ("confirm_password", "x"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 400, "CSRF");
    }
}

#[tokio::test]
async fn sessions_are_listed_and_can_be_ended() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let browser = w.browser();
        let other = w.browser();
        sign_in_to_u(&w, &browser).await;
        sign_in_to_u(&w, &other).await;
        let html = browser
            .get(&w.server.url("/u/sessions"))
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(html.matches("class=\"session\"").count(), 2, "{name}");
        assert!(
            html.contains("This browser") && html.contains("aal1") && html.contains("127.0.0.1")
        );
        let other_id = html
            .split("name=\"session_id\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        let csrf = hidden_value(&html, "csrf_token").unwrap();
        let response = browser
            .http
            .post(w.server.url("/u/sessions/end"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("session_id", other_id.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("The session was signed out."));
        assert_eq!(
            other.get(&w.server.url("/u")).await.status(),
            303,
            "{name}: ended"
        );
        assert_eq!(browser.get(&w.server.url("/u")).await.status(), 200);
        let log = browser
            .get(&w.server.url("/u/log"))
            .await
            .text()
            .await
            .unwrap();
        assert!(log.contains("session_ended"));
    }
}

#[tokio::test]
async fn with_a_second_factor_every_user_center_page_asks_for_it_even_on_demand() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::with(stack, |c| {
            c.mfa.login = keystep_core::config::MfaLoginMode::OnDemand
        });
        let secret = w.bind_totp();
        let browser = w.browser();
        // on_demand: the password alone signs in ...
        let signed_in = password_for_u(&w, &browser).await;
        assert_eq!(signed_in.status(), 303, "{name}");
        // ... but no page of the user center opens on it: each asks for the code first.
        for (path, next) in [
            ("/u", "%2Fu"),
            ("/u/sessions", "%2Fu%2Fsessions"),
            ("/u/log", "%2Fu%2Flog"),
            ("/u/password", "%2Fu%2Fpassword"),
            ("/u/mfa/bind", "%2Fu%2Fmfa%2Fbind"),
        ] {
            let response = browser.get(&w.server.url(path)).await;
            assert_eq!(response.status(), 303, "{name} {path}");
            assert!(
                location(&response).contains(&format!("/login/mfa?next={next}")),
                "{name} {path}: {}",
                location(&response)
            );
        }
        // Nor does a well-formed form (its CSRF token right): the password stays, no mail goes.
        let html = browser
            .get(&w.server.url("/login/mfa?next=%2Fu"))
            .await
            .text()
            .await
            .unwrap();
        let csrf = hidden_value(&html, "csrf_token").unwrap();
        for (path, fields) in [
            (
                "/u/password",
                vec![
                    ("current_password", PASSWORD),
                    ("new_password", "a stolen new password"),
                    ("confirm_password", "a stolen new password"),
                    ("end_others", "1"),
                ],
            ),
            ("/u/mfa/bind", vec![("action", "send")]),
        ] {
            let mut form = vec![("csrf_token", csrf.as_str())];
            form.extend(fields);
            let refused = browser
                .http
                .post(w.server.url(path))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(refused.status(), 303, "{name} {path}");
            assert!(
                location(&refused).contains("/login/mfa?next="),
                "{name} {path}"
            );
        }
        assert!(w.outbox().is_empty(), "{name}: no mail was sent");
        // With the code, the user center opens.
        let verified = browser
            .http
            .post(w.server.url("/login/mfa"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("next", "/u/mfa/bind"),
                ("code", &w.totp_now(&secret)),
            ])
            .send()
            .await
            .unwrap();
        assert!(location(&verified).ends_with("/u/mfa/bind"), "{name}");
        let overview = browser.get(&w.server.url("/u")).await;
        assert_eq!(overview.status(), 200, "{name}");
        // The password is still the owner's.
        let other = w.browser();
        let login = other.login_page(&w.server.url("/login")).await;
        let old_password = other
            .submit_login(&w.server.url(""), &login, "ada", PASSWORD)
            .await;
        // Without an application or a next page, a right password shows "You are signed in".
        assert_eq!(
            old_password.status(),
            200,
            "{name}: the password did not change"
        );
    }
}

/// Asks for `scope` as `client_id` in `browser` (signed in) and exchanges the code with
/// `secret`; the token response.
async fn grant(
    w: &World,
    browser: &Browser,
    client_id: &str,
    secret: &str,
    scope: &str,
) -> serde_json::Value {
    let callback = browser
        .authorize(&w.authorize_url(client_id, &[("scope", scope)]))
        .await;
    let code = callback
        .param("code")
        .unwrap_or_else(|| panic!("no code: {}", callback.location));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", PKCE_VERIFIER),
    ];
    let response = w.post_as(client_id, secret, "/oidc/token", &form).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Whether a refresh token still works (it is rotated if so).
async fn refreshes(w: &World, client_id: &str, secret: &str, token: &serde_json::Value) -> bool {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token.as_str().unwrap()),
    ];
    let response = w.post_as(client_id, secret, "/oidc/token", &form).await;
    response.status() == 200
}

#[tokio::test]
async fn offline_access_is_for_registered_clients_listed_in_u_and_revoked_with_everything() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let plain = w.add_client(keystep_core::clients::NewClient {
            id: "plain".into(),
            display_name: "Plain App".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            ..Default::default()
        });
        let app = w.client_secret.clone();
        let browser = w.browser();
        sign_in_to_u(&w, &browser).await;

        // A client not registered for it does not get offline_access: its refresh token
        // ends with the session.
        let tokens = grant(&w, &browser, "plain", &plain, "openid offline_access").await;
        assert_eq!(tokens["scope"], "openid", "{name}");

        // One that is gets it, and the person sees the application in /u.
        let offline = grant(&w, &browser, "app", &app, "openid offline_access").await;
        assert_eq!(offline["scope"], "openid offline_access", "{name}");
        let html = browser
            .get(&w.server.url("/u/sessions"))
            .await
            .text()
            .await
            .unwrap();
        let listed = html
            .split("id=\"offline-apps\"")
            .nth(1)
            .and_then(|rest| rest.split("</ul>").next())
            .unwrap_or_default();
        assert!(listed.contains("The App"), "{name}: {html}");
        assert!(!listed.contains("Plain App"), "{name}: {listed}");

        // Revoked there: the refresh token and its access token stop working.
        let csrf = hidden_value(&html, "csrf_token").unwrap();
        let response = browser
            .http
            .post(w.server.url("/u/sessions/offline/revoke"))
            .form(&[("csrf_token", csrf.as_str()), ("client_id", "app")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{name}");
        let html = response.text().await.unwrap();
        assert!(html.contains("id=\"offline-none\""), "{name}: {html}");
        assert!(
            !refreshes(&w, "app", &app, &offline["refresh_token"]).await,
            "{name}"
        );
        let introspected = w
            .post_form(
                "/oidc/token/introspection",
                &[("token", offline["access_token"].as_str().unwrap())],
                true,
            )
            .await
            .json::<serde_json::Value>()
            .await
            .unwrap();
        assert_eq!(introspected["active"], false, "{name}");

        // "Sign out all other sessions" ends offline access too.
        let offline = grant(&w, &browser, "app", &app, "openid offline_access").await;
        let ended = browser
            .http
            .post(w.server.url("/u/sessions/end"))
            .form(&[("csrf_token", csrf.as_str()), ("all_others", "1")])
            .send()
            .await
            .unwrap();
        assert_eq!(ended.status(), 200, "{name}");
        assert!(
            !refreshes(&w, "app", &app, &offline["refresh_token"]).await,
            "{name}"
        );

        // So does a password change, whether or not other sessions are signed out.
        let offline = grant(&w, &browser, "app", &app, "openid offline_access").await;
        let changed = form(
            &browser,
            &w,
            "/u/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a new passphrase"),
                ("confirm_password", "a new passphrase"),
            ],
        )
        .await;
        assert_eq!(changed.status(), 200, "{name}");
        assert!(
            !refreshes(&w, "app", &app, &offline["refresh_token"]).await,
            "{name}"
        );
        let log = browser
            .get(&w.server.url("/u/log"))
            .await
            .text()
            .await
            .unwrap();
        assert!(log.contains("Offline access revoked"), "{name}");
    }
}

#[tokio::test]
async fn an_operators_reset_new_password_or_disable_ends_offline_access_and_live_tokens() {
    use keystep_server::commands;
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let app = w.client_secret.clone();
        type Action =
            fn(&keystep_core::Services, &mut Vec<u8>) -> Result<(), keystep_server::cli::CliError>;
        let actions: [(&str, Action); 3] = [
            ("mfa reset", |s, out| commands::mfa_reset(s, out, "ada")),
            ("user passwd", |s, out| {
                commands::user_passwd(s, out, "ada", Some(PASSWORD.to_owned()))
            }),
            ("user disable", |s, out| {
                commands::user_disable(s, out, "ada")
            }),
        ];
        for (what, action) in actions {
            let browser = w.browser();
            sign_in_to_u(&w, &browser).await;
            let offline = grant(&w, &browser, "app", &app, "openid offline_access").await;
            let online = grant(&w, &browser, "app", &app, "openid").await;
            // The command runs apart from the server, as `keystep` does: without Redis, what
            // it ends reaches the server's memory through the database.
            w.server
                .operate(|services| action(services, &mut Vec::new()))
                .await
                .unwrap();
            for tokens in [&offline, &online] {
                assert!(
                    !refreshes(&w, "app", &app, &tokens["refresh_token"]).await,
                    "{name} {what}: the refresh token ends"
                );
                let access = tokens["access_token"].as_str().unwrap();
                let introspected = w
                    .post_form("/oidc/token/introspection", &[("token", access)], true)
                    .await
                    .json::<serde_json::Value>()
                    .await
                    .unwrap();
                assert_eq!(
                    introspected["active"], false,
                    "{name} {what}: the access token ends"
                );
                assert_eq!(
                    w.userinfo_status(access).await,
                    401,
                    "{name} {what}: userinfo refuses it"
                );
            }
        }
    }
}
