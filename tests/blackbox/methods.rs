//! Several second-factor methods per person over real HTTP: codes by mail turned on in /u
//! (the mailbox proven first, recovery codes with the first method), signing in with a mailed
//! code (`amr` says `email`), the preferred method offered first with the others one link
//! away, mailed codes single use, bound to their session, expiring, locking after the limit
//! and capped in how often they are sent, and removing one method or the last.

use std::time::Duration;

use keystep_mfa::factors;
use keystep_mfa::method::Method;
use keystep_tests::browser::{codes_in, element_text, hidden_value, Browser, World};
use keystep_tests::Stack;
use serde_json::json;

use crate::account::{form, location, password_for_u, sign_in_to_u, status_word};
use crate::mfa::{exchange_public, jwt_claims, password_step};

/// The marker of the mails that carry a code for a sign-in's second step.
const SIGN_IN_MAIL: &str = "finish signing in";

/// Gives ada codes by mail (and recovery codes), as binding them in /u would.
fn email_only(w: &World) -> Vec<String> {
    let services = &w.server.services;
    let mut conn = services.db.conn().unwrap();
    factors::add_stored(services, &mut conn, &w.user_id, Method::EmailCode, None).unwrap();
    keystep_mfa::recovery::regenerate(services, &mut conn, &w.user_id).unwrap()
}

fn status(w: &World) -> factors::Status {
    let mut conn = w.server.services.db.conn().unwrap();
    factors::status(&mut conn, &w.user_id).unwrap()
}

/// POSTs the second-factor form on the page at `page_url` with `fields` (besides the CSRF
/// token and the flow's hidden fields).
async fn post_step(
    w: &World,
    browser: &Browser,
    page_url: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let html = browser.get(page_url).await.text().await.unwrap();
    let csrf = hidden_value(&html, "csrf_token").unwrap_or_else(|| panic!("no form: {html}"));
    let interaction = hidden_value(&html, "interaction").unwrap_or_default();
    let next = hidden_value(&html, "next").unwrap_or_default();
    let mut all = vec![
        ("csrf_token", csrf.as_str()),
        ("interaction", interaction.as_str()),
        ("next", next.as_str()),
    ];
    all.extend_from_slice(fields);
    let action = w.server.url("/login/mfa");
    browser.http.post(action).form(&all).send().await.unwrap()
}

/// Asks for a mailed code on the second-factor page at `page_url`; returns the page that
/// shows the code field, and the mailed code.
async fn mail_me_a_code(w: &World, browser: &Browser, page_url: &str) -> (String, String) {
    let sent = post_step(
        w,
        browser,
        page_url,
        &[("method", "email"), ("action", "send")],
    )
    .await;
    assert_eq!(sent.status(), 303, "{}", sent.text().await.unwrap());
    let shown = location(&sent);
    assert!(
        shown.contains("method=email") && shown.contains("sent=1"),
        "{shown}"
    );
    let page = browser.get(&shown).await.text().await.unwrap();
    assert!(
        page.contains(r#"name="code""#)
            && page.contains(r#"autocomplete="one-time-code""#)
            && page.contains(r#"inputmode="numeric""#),
        "{page}"
    );
    (shown, w.server.mailed_code(SIGN_IN_MAIL))
}

#[tokio::test]
async fn codes_by_mail_turn_on_in_u_and_sign_a_person_in_at_aal2() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let browser = w.browser();
        let overview = sign_in_to_u(&w, &browser).await;
        assert!(
            overview.contains(r#"data-add="email""#),
            "{name}: {overview}"
        );
        assert_eq!(
            browser.get(&w.server.url("/u/mfa/email")).await.status(),
            200
        );
        let sent = form(&browser, &w, "/u/mfa/email", &[("action", "send")]).await;
        let sent = sent.text().await.unwrap();
        assert!(sent.contains(r#"name="email_code""#), "{name}: {sent}");
        assert!(
            sent.contains("a•••@example.com"),
            "{name}: the address, masked"
        );
        let code = w.server.mailed_code("by mail, at this address");
        let wrong = form(&browser, &w, "/u/mfa/email", &[("email_code", "000000")]).await;
        assert_eq!(wrong.status(), 401, "{name}");
        assert_eq!(
            status(&w).email_bound_at,
            None,
            "{name}: not before the proof"
        );
        let codes = form(&browser, &w, "/u/mfa/email", &[("email_code", &code)]).await;
        assert_eq!(codes.status(), 200, "{name}");
        let codes = codes_in(&codes.text().await.unwrap(), "recovery-codes");
        assert_eq!(
            codes.len(),
            10,
            "{name}: the first method brings recovery codes"
        );
        let overview = browser.get(&w.server.url("/u")).await.text().await.unwrap();
        assert_eq!(status_word(&overview), "On", "{name}");
        assert!(overview.contains(r#"data-method="email""#), "{name}");
        assert!(w
            .outbox()
            .iter()
            .any(|m| m.contains("A second step was added") && m.contains("Codes by mail")));

        // An application's sign-in: the password, then a code by mail.
        let other = w.browser();
        let next = password_step(&w, &other, &w.authorize_url("spa", &[])).await;
        assert!(next.location.contains("/login/mfa?interaction="), "{name}");
        let page = other.get(&next.location).await.text().await.unwrap();
        assert!(
            page.contains(r#"id="send-code""#) && !page.contains(r#"name="code""#),
            "{name}: the code field comes once a code is mailed: {page}"
        );
        assert!(
            page.contains("/login/recovery?"),
            "{name}: recovery codes are offered"
        );
        let (shown, code) = mail_me_a_code(&w, &other, &next.location).await;
        let wrong = post_step(
            &w,
            &other,
            &shown,
            &[("method", "email"), ("code", "000000")],
        );
        assert_eq!(wrong.await.status(), 401, "{name}");

        // A code belongs to the sign-in it was mailed for.
        let third = w.browser();
        let elsewhere = password_step(&w, &third, &w.authorize_url("spa", &[])).await;
        let fields = [("method", "email"), ("code", code.as_str())];
        let refused = post_step(&w, &third, &elsewhere.location, &fields).await;
        assert_eq!(refused.status(), 401, "{name}: not in another browser");

        let accepted = post_step(&w, &other, &shown, &fields).await;
        assert_eq!(accepted.status(), 303, "{name}");
        let callback = other.authorize(&location(&accepted)).await;
        let tokens = exchange_public(&w, "spa", callback.param("code").unwrap()).await;
        let id = jwt_claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["acr"], "aal2", "{name}");
        assert_eq!(id["amr"], json!(["pwd", "email", "mfa"]), "{name}");

        // Single use: the user center's own sign-in takes a code, and the same code again in
        // the same session is refused.
        let again = w.browser();
        let second = second_step_for_u(&w, &again).await;
        let (shown, code) = mail_me_a_code(&w, &again, &second).await;
        let fields = [("method", "email"), ("code", code.as_str())];
        let accepted = post_step(&w, &again, &shown, &fields).await;
        assert_eq!(accepted.status(), 303, "{name}");
        let spent = post_step(&w, &again, &shown, &fields).await;
        assert_eq!(spent.status(), 401, "{name}: a spent code is refused");
    }
}

#[tokio::test]
async fn the_preferred_method_comes_first_and_another_is_one_link_away() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let secret = w.bind_totp();
        email_only(&w);
        let browser = w.browser();
        // No preference yet: the authenticator comes first, mailed codes one link away.
        let next = password_step(&w, &browser, &w.authorize_url("app", &[])).await;
        let page = browser.get(&next.location).await.text().await.unwrap();
        assert_eq!(
            hidden_value(&page, "method").as_deref(),
            Some("totp"),
            "{name}"
        );
        assert!(page.contains(r#"data-method="email""#), "{name}: {page}");
        let code = w.totp_now(&secret);
        let fields = [("method", "totp"), ("code", code.as_str())];
        let accepted = post_step(&w, &browser, &next.location, &fields).await;
        assert_eq!(accepted.status(), 303, "{name}");
        browser.authorize(&location(&accepted)).await;

        // The session is at aal2: /u lets it in, and mailed codes become the preferred.
        let overview = browser.get(&w.server.url("/u")).await;
        assert_eq!(overview.status(), 200, "{name}");
        let overview = overview.text().await.unwrap();
        assert!(
            overview.contains(r#"data-prefer="email""#),
            "{name}: {overview}"
        );
        let csrf = hidden_value(&overview, "csrf_token").unwrap();
        let preferred = browser
            .http
            .post(w.server.url("/u/mfa/preferred"))
            .form(&[("csrf_token", csrf.as_str()), ("method", "email")])
            .send()
            .await
            .unwrap();
        assert_eq!(preferred.status(), 303, "{name}");
        assert!(
            location(&preferred).ends_with("/u?done=preferred"),
            "{name}"
        );
        assert_eq!(status(&w).preferred, Some(Method::EmailCode), "{name}");
        assert!(w
            .outbox()
            .iter()
            .any(|m| m.contains("offers another second step first")));
        let overview = browser.get(&w.server.url("/u")).await.text().await.unwrap();
        assert!(
            element_text(&overview, "preferred-method").is_some()
                && overview.contains(r#"data-prefer="totp""#),
            "{name}: {overview}"
        );

        // The next sign-in offers mailed codes first; the authenticator is one link away.
        let other = w.browser();
        let next = password_step(&w, &other, &w.authorize_url("app", &[])).await;
        let page = other.get(&next.location).await.text().await.unwrap();
        assert!(page.contains(r#"id="send-code""#), "{name}: {page}");
        let to_totp = page
            .split(r#"data-method="totp""#)
            .next()
            .and_then(|before| before.rsplit("href=\"").next())
            .map(|href| {
                let href = href.split('"').next().unwrap();
                href.replace("&amp;", "&").replace("&#x3D;", "=")
            })
            .unwrap();
        assert!(to_totp.contains("method=totp"), "{name}: {to_totp}");
        let totp_page = other
            .get(&w.server.url(&to_totp))
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(hidden_value(&totp_page, "method").as_deref(), Some("totp"));
        w.server.clock.advance(Duration::from_secs(30));
        let code = w.totp_now(&secret);
        let fields = [("method", "totp"), ("code", code.as_str())];
        let accepted = post_step(&w, &other, &w.server.url(&to_totp), &fields).await;
        assert_eq!(accepted.status(), 303, "{name}");
        let callback = other.authorize(&location(&accepted)).await;
        let tokens = w.exchange(callback.param("code").unwrap(), Some(crate::mfa::VERIFIER));
        let tokens: serde_json::Value = tokens.await.json().await.unwrap();
        let id = jwt_claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]), "{name}");
    }
}

/// Signs ada in with her password for the user center; returns the second step's page URL.
async fn second_step_for_u(w: &World, browser: &Browser) -> String {
    let signed_in = password_for_u(w, browser).await;
    assert_eq!(signed_in.status(), 303);
    let to_u = browser.get(&location(&signed_in)).await;
    assert_eq!(to_u.status(), 303, "/u wants the second step");
    let second = location(&to_u);
    assert!(second.contains("/login/mfa?next=%2Fu"), "{second}");
    second
}

#[tokio::test]
async fn mailed_codes_expire_and_are_sent_a_few_at_a_time() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        email_only(&w);
        // Two sign-ins of ada's: two codes in one, one in the other.
        let (first, second) = (w.browser(), w.browser());
        let first_step = second_step_for_u(&w, &first).await;
        let second_step = second_step_for_u(&w, &second).await;
        mail_me_a_code(&w, &first, &first_step).await;
        let (first_shown, first_code) = mail_me_a_code(&w, &first, &first_step).await;
        let (second_shown, second_code) = mail_me_a_code(&w, &second, &second_step).await;
        // Three codes in ten minutes, then no more for a while.
        let fields = [("method", "email"), ("action", "send")];
        let capped = post_step(&w, &first, &first_step, &fields).await;
        assert_eq!(capped.status(), 429, "{name}");
        assert!(capped.headers().contains_key("retry-after"), "{name}");
        assert!(capped
            .text()
            .await
            .unwrap()
            .contains("We already sent you several codes"));

        // Nine minutes on, a code still works; eleven minutes on, one does not.
        w.server.clock.advance(Duration::from_secs(9 * 60));
        let fields = [("method", "email"), ("code", second_code.as_str())];
        let live = post_step(&w, &second, &second_shown, &fields).await;
        assert_eq!(live.status(), 303, "{name}: live for nine minutes");
        w.server.clock.advance(Duration::from_secs(2 * 60));
        let fields = [("method", "email"), ("code", first_code.as_str())];
        let expired = post_step(&w, &first, &first_shown, &fields).await;
        assert_eq!(expired.status(), 401, "{name}: expired after ten minutes");
    }
}

#[tokio::test]
async fn wrong_mailed_codes_lock_the_second_step() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        email_only(&w);
        let browser = w.browser();
        let second = second_step_for_u(&w, &browser).await;
        let (shown, code) = mail_me_a_code(&w, &browser, &second).await;
        let max = w.server.services.config.mfa.max_failures;
        let wrong = [("method", "email"), ("code", "000000")];
        for n in 1..=max {
            let status = post_step(&w, &browser, &shown, &wrong).await.status();
            let expected = if n < max { 401 } else { 429 };
            assert_eq!(status, expected, "{name}: wrong code {n} of {max}");
        }
        let right = [("method", "email"), ("code", code.as_str())];
        let locked = post_step(&w, &browser, &shown, &right).await;
        assert_eq!(
            locked.status(),
            429,
            "{name}: even the right code, while locked"
        );
        assert!(locked.headers().contains_key("retry-after"));
    }
}

#[tokio::test]
async fn removing_one_method_keeps_the_rest_and_removing_the_last_turns_two_step_off() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let secret = w.bind_totp();
        let recovery = email_only(&w);
        let browser = w.browser();
        let next = password_step(&w, &browser, &w.authorize_url("app", &[])).await;
        let code = w.totp_now(&secret);
        let fields = [("method", "totp"), ("code", code.as_str())];
        let accepted = post_step(&w, &browser, &next.location, &fields).await;
        browser.authorize(&location(&accepted)).await;

        // A code by mail proves less than the authenticator: its page offers none, and one
        // mailed for another removal does not remove it.
        let page = browser.get(&w.server.url("/u/mfa/remove/totp")).await;
        let page = page.text().await.unwrap();
        assert!(
            page.contains("Remove the authenticator app") && !page.contains(r#"id="mail-code""#),
            "{name}: {page}"
        );
        let email_page = "/u/mfa/remove/email";
        let page = browser.get(&w.server.url(email_page)).await;
        let page = page.text().await.unwrap();
        assert!(page.contains(r#"id="mail-code""#), "{name}: {page}");
        let sent = form(&browser, &w, email_page, &[("action", "send")]).await;
        assert_eq!(sent.status(), 200, "{name}");
        let mailed = w.server.mailed_code("confirm a change");
        let fields = [("code", mailed.as_str())];
        let refused = form(&browser, &w, "/u/mfa/remove/totp", &fields).await;
        assert_eq!(
            refused.status(),
            401,
            "{name}: a mailed code does not remove the app"
        );

        // Removing the authenticator, proven with a recovery code: mailed codes stay.
        let fields = [("code", recovery[0].as_str())];
        let removed = form(&browser, &w, "/u/mfa/remove/totp", &fields).await;
        assert_eq!(removed.status(), 303, "{name}");
        assert!(location(&removed).ends_with("/u?done=method_removed"));
        let left = status(&w);
        assert_eq!(left.methods(), [Method::EmailCode], "{name}");
        assert_eq!(left.recovery_codes_left, 9, "{name}: the codes stay");
        assert!(w
            .outbox()
            .iter()
            .any(|m| m.contains("A second step was removed")));
        // A stale page for the removed method changes nothing, and checks no code.
        assert_eq!(
            browser
                .get(&w.server.url("/u/mfa/remove/totp"))
                .await
                .status(),
            404,
            "{name}: no page for a method not held"
        );
        let csrf = hidden_value(&page, "csrf_token").unwrap();
        let stale = browser
            .http
            .post(w.server.url("/u/mfa/remove/totp"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("code", recovery[1].as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), 404, "{name}: not a turn-off");
        assert_eq!(status(&w).methods(), [Method::EmailCode], "{name}");

        // Removing the last, proven with the code mailed from its page: all of it goes.
        let fields = [("code", mailed.as_str())];
        let removed = form(&browser, &w, email_page, &fields).await;
        assert_eq!(removed.status(), 303, "{name}");
        assert!(location(&removed).ends_with("/u?done=removed"));
        assert_eq!(status(&w), factors::Status::NONE, "{name}: codes gone too");
        let overview = browser.get(&w.server.url("/u")).await.text().await.unwrap();
        assert_eq!(status_word(&overview), "Off", "{name}");
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
        for event in ["mfa_method_removed", "mfa_removed"] {
            assert!(log.contains(event), "{name}: {event} in the log");
        }
    }
}
