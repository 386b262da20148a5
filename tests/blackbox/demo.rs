//! `keystep demo`: the demo relying party at /demo signs in through keystep, shows the ID
//! token's acr, amr and auth_time, calls userinfo, refreshes and signs out.

use keystep_tests::browser::hidden_value;
use keystep_tests::{Stack, TestServer};

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_demo_walks_through_the_whole_flow() {
    for stack in Stack::all() {
        let name = stack.name;
        let (server, password) = TestServer::start_demo(stack);
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap();
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
