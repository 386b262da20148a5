//! `keystep demo`: the demo relying party at /demo signs in through keystep, shows the ID
//! token's acr, amr and auth_time, calls userinfo, refreshes and signs out.

use keystep_tests::browser::{hidden_value, href_after};
use keystep_tests::{Stack, TestServer};

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// A browser: cookies kept, redirects not followed.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_demo_walks_through_the_whole_flow() {
    for stack in Stack::all() {
        let name = stack.name;
        let (server, password) = TestServer::start_demo(stack);
        let browser = browser();
        let get = |url: String| {
            let browser = browser.clone();
            async move { browser.get(url).send().await.unwrap() }
        };
        let home = get(server.url("/demo")).await.text().await.unwrap();
        assert!(
            home.contains("/demo/login"),
            "{name}: a sign-in button: {home}"
        );

        let to_keystep = location(&get(server.url("/demo/login")).await);
        assert!(
            to_keystep.starts_with(&server.url("/oidc/auth?")),
            "{to_keystep}"
        );
        assert!(to_keystep.contains("code_challenge_method=S256"));
        let to_login = location(&get(to_keystep).await);
        let login_page = get(to_login.clone()).await.text().await.unwrap();
        assert!(login_page.contains("keystep demo application"));
        let form = [
            (
                "csrf_token",
                hidden_value(&login_page, "csrf_token").unwrap(),
            ),
            (
                "interaction",
                hidden_value(&login_page, "interaction").unwrap(),
            ),
            ("username", "demo".to_owned()),
            ("password", password.clone()),
        ];
        let resume = location(
            &browser
                .post(server.url("/login"))
                .form(&form)
                .send()
                .await
                .unwrap(),
        );
        let callback = location(&get(resume).await);
        assert!(
            callback.starts_with(&server.url("/demo/callback?")),
            "{callback}"
        );
        let back = get(callback).await;
        assert_eq!(location(&back), "/demo", "{name}");

        let page = get(server.url("/demo")).await.text().await.unwrap();
        assert!(
            page.contains(r#"<code id="acr">aal1</code>"#),
            "{name}: {page}"
        );
        assert!(page.contains(r#"<code id="amr">pwd</code>"#));
        assert!(page.contains("Demo Person"));

        browser
            .post(server.url("/demo/userinfo"))
            .send()
            .await
            .unwrap();
        let page = get(server.url("/demo")).await.text().await.unwrap();
        assert!(
            page.contains(r#"id="userinfo""#) && page.contains("demo@example.com"),
            "{name}: userinfo shown"
        );

        browser
            .post(server.url("/demo/refresh"))
            .send()
            .await
            .unwrap();
        let page = get(server.url("/demo")).await.text().await.unwrap();
        assert!(page.contains("Tokens refreshed"), "{name}: {page}");

        let end = location(&get(server.url("/demo/logout")).await);
        assert!(
            end.starts_with(&server.url("/oidc/session/end?id_token_hint=")),
            "{end}"
        );
        let after = location(&get(end).await);
        assert_eq!(after, server.url("/demo"));
        let page = get(after).await.text().await.unwrap();
        assert!(page.contains("/demo/login"), "{name}: signed out");
    }
}

/// The demo's protected API answers RFC 9470's challenge until the token is aal2; the
/// "Step up" button leads through enrollment (the demo person has no second factor yet).
#[tokio::test]
async fn the_demo_api_asks_for_step_up_until_aal2() {
    for stack in Stack::all() {
        let (server, password) = TestServer::start_demo(stack);
        let browser = browser();
        let get = |url: String| {
            let browser = browser.clone();
            async move { browser.get(url).send().await.unwrap() }
        };
        let post_form = |url: String, form: Vec<(&'static str, String)>| {
            let browser = browser.clone();
            async move { browser.post(url).form(&form).send().await.unwrap() }
        };
        // Sign in at aal1.
        let to_keystep = location(&get(server.url("/demo/login")).await);
        let login_page = get(location(&get(to_keystep).await))
            .await
            .text()
            .await
            .unwrap();
        let form = vec![
            (
                "csrf_token",
                hidden_value(&login_page, "csrf_token").unwrap(),
            ),
            (
                "interaction",
                hidden_value(&login_page, "interaction").unwrap(),
            ),
            ("username", "demo".to_owned()),
            ("password", password.clone()),
        ];
        let resume = location(&post_form(server.url("/login"), form).await);
        get(location(&get(resume).await)).await;

        // The API refuses aal1 with a step-up challenge.
        browser
            .post(server.url("/demo/call-api"))
            .send()
            .await
            .unwrap();
        let page = get(server.url("/demo"))
            .await
            .text()
            .await
            .unwrap()
            .replace("&#x3D;", "=")
            .replace("&quot;", "\"");
        assert!(
            page.contains("HTTP 401")
                && page.contains("insufficient_user_authentication")
                && page.contains("acr_values=\"aal2\""),
            "{page}"
        );
        let step_up = href_after(&page, "id=\"step-up\"").unwrap();
        assert!(
            step_up.contains("acr_values=aal2") && step_up.contains("max_age=600"),
            "{step_up}"
        );

        // Step up: keystep asks only for the missing second factor — here, to bind one.
        let to_keystep = location(&get(server.url(&step_up)).await);
        let to_enroll = location(&get(to_keystep).await);
        assert!(
            to_enroll.contains("/login/enroll?interaction="),
            "{to_enroll}"
        );
        // The demo person proves their mailbox first (the demo's mail goes to the outbox).
        let mailbox = get(to_enroll.clone()).await.text().await.unwrap();
        let mailbox_form = |action: &str, email_code: String| {
            vec![
                ("csrf_token", hidden_value(&mailbox, "csrf_token").unwrap()),
                (
                    "interaction",
                    hidden_value(&mailbox, "interaction").unwrap(),
                ),
                ("action", action.to_owned()),
                ("email_code", email_code),
            ]
        };
        post_form(
            server.url("/login/enroll"),
            mailbox_form("send", String::new()),
        )
        .await;
        let code = server.mailed_code("set up two-step verification");
        let proven = post_form(
            server.url("/login/enroll"),
            mailbox_form("verify_email", code),
        )
        .await;
        assert_eq!(proven.status(), 200);
        let html = get(to_enroll).await.text().await.unwrap();
        let secret = base32::decode(
            base32::Alphabet::Rfc4648 { padding: false },
            &keystep_tests::browser::element_text(&html, "totp-secret").unwrap(),
        )
        .unwrap();
        let code = keystep_tests::browser::totp_code(
            &secret,
            keystep_core::clock::Clock::now(server.clock.as_ref()),
        );
        let form = vec![
            ("csrf_token", hidden_value(&html, "csrf_token").unwrap()),
            ("interaction", hidden_value(&html, "interaction").unwrap()),
            ("code", code),
        ];
        let codes_page = post_form(server.url("/login/enroll"), form)
            .await
            .text()
            .await
            .unwrap();
        let resume = href_after(&codes_page, "class=\"button\"").unwrap();
        get(location(&get(resume).await)).await;

        let page = get(server.url("/demo")).await.text().await.unwrap();
        assert!(page.contains(r#"<code id="acr">aal2</code>"#), "{page}");
        browser
            .post(server.url("/demo/call-api"))
            .send()
            .await
            .unwrap();
        let page = get(server.url("/demo")).await.text().await.unwrap();
        assert!(
            page.contains("HTTP 200") && page.contains("Quarterly numbers"),
            "{page}"
        );
    }
}
