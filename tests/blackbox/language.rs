//! Pages and mails in the person's language over real HTTP: `ui_locales`, the language switch
//! (cookie, the account's saved choice, the pending sign-in), `Accept-Language`, the switch's
//! refusal to send anyone off-site, and mails that real clients render (MIME, both parts).

use keystep_tests::browser::{hidden_value, World, PASSWORD};
use keystep_tests::Stack;

fn location(response: &reqwest::Response) -> String {
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    response.url().join(&location).unwrap().to_string()
}

/// The `lang` attribute of a page.
fn page_lang(html: &str) -> &str {
    html.split("<html lang=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
}

/// GET `path` from a browser that prefers `accept_language`.
async fn in_language(w: &World, path: &str, accept_language: &str) -> reqwest::Response {
    w.http
        .get(w.server.url(path))
        .header("Accept-Language", accept_language)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_sign_in_pages_follow_ui_locales_then_accept_language() {
    for stack in Stack::all() {
        let w = World::new(stack);
        let name = w.server.stack.name;
        let browser = w.browser();
        let to_login = browser
            .authorize(&w.authorize_url("app", &[("ui_locales", "fr zh-CN")]))
            .await;
        let page = browser.login_page(&to_login.location).await;
        assert_eq!(page_lang(&page.html), "zh-CN", "{name}");
        assert!(page.html.contains("登录"), "{name}: Chinese words");
        assert!(
            page.html.contains(r#"aria-current="true">简体中文"#),
            "{name}: the switch marks the page's language"
        );

        // Without ui_locales, the browser's languages decide; English when none is known.
        let chinese = in_language(&w, "/login", "de;q=0.9, zh-CN;q=0.8").await;
        assert_eq!(page_lang(&chinese.text().await.unwrap()), "zh-CN", "{name}");
        let english = in_language(&w, "/login", "de, fr;q=0.5").await;
        assert_eq!(page_lang(&english.text().await.unwrap()), "en", "{name}");

        // Error pages speak the language too.
        let missing = in_language(&w, "/no/such/page", "zh-CN").await;
        assert_eq!(missing.status(), 404);
        assert_eq!(page_lang(&missing.text().await.unwrap()), "zh-CN");
    }
}

#[tokio::test]
async fn the_switch_remembers_the_choice_and_overrides_the_sign_ins_ui_locales() {
    for stack in Stack::all() {
        let w = World::new(stack);
        let name = w.server.stack.name;
        let browser = w.browser();
        let to_login = browser
            .authorize(&w.authorize_url("app", &[("ui_locales", "en")]))
            .await;
        let page = browser.login_page(&to_login.location).await;
        assert_eq!(page_lang(&page.html), "en");
        // Handlebars escapes `=` and `&` in attributes; a browser reads them back.
        let html = page.html.replace("&#x3D;", "=").replace("&amp;", "&");
        let switch = html
            .split("href=\"")
            .find(|h| h.starts_with("/language?lang=zh-CN"))
            .and_then(|h| h.split('"').next())
            .unwrap_or_else(|| panic!("{name}: no switch to Chinese: {}", page.html))
            .to_owned();
        let switched = browser.get(&w.server.url(&switch)).await;
        assert_eq!(switched.status(), 303, "{name}");
        assert_eq!(
            location(&switched),
            to_login.location,
            "{name}: back to the same page"
        );
        let again = browser.login_page(&to_login.location).await;
        assert_eq!(
            page_lang(&again.html),
            "zh-CN",
            "{name}: the choice wins over the request's ui_locales"
        );

        // Signing in then choosing English saves it on the account: a browser with no cookie
        // and a Chinese Accept-Language still gets English pages once signed in.
        let response = browser
            .submit_login(&w.server.url(""), &again, "ada", PASSWORD)
            .await;
        assert_eq!(response.status(), 303, "{name}");
        let saved = browser
            .get(&w.server.url("/language?lang=en&back=%2Fu"))
            .await;
        assert_eq!(location(&saved), w.server.url("/u"));
        let locale = w
            .server
            .services
            .db
            .read(|conn| keystep_core::users::find_by_id(conn, &w.user_id))
            .unwrap()
            .unwrap()
            .locale;
        assert_eq!(locale.as_deref(), Some("en"), "{name}");
    }
}

#[tokio::test]
async fn the_switch_never_sends_anyone_off_site_and_refuses_unknown_languages() {
    let w = World::new(Stack::all().remove(0));
    let browser = w.browser();
    for back in [
        "https%3A%2F%2Fevil.example%2F",
        "%2F%2Fevil.example",
        "%2F%5Cevil.example",
    ] {
        let response = browser
            .get(&w.server.url(&format!("/language?lang=en&back={back}")))
            .await;
        assert_eq!(response.status(), 303);
        assert_eq!(location(&response), w.server.url("/u"), "{back}");
    }
    let unknown = browser
        .get(&w.server.url("/language?lang=xx&back=%2Fu"))
        .await;
    assert_eq!(unknown.status(), 400);
}

#[tokio::test]
async fn mails_are_mime_with_both_parts_in_the_pages_language() {
    let w = World::new(Stack::all().remove(0));
    let browser = w.browser();
    // A second-factor sign-in's lost-device page mails a code, in the page's language.
    w.bind_totp();
    let to_login = browser
        .authorize(&w.authorize_url("app", &[("ui_locales", "zh-CN")]))
        .await;
    let page = browser.login_page(&to_login.location).await;
    let response = browser
        .submit_login(&w.server.url(""), &page, "ada", PASSWORD)
        .await;
    assert_eq!(response.status(), 303);
    let to_mfa = browser.authorize(&location(&response)).await;
    let interaction = to_mfa
        .location
        .split("interaction=")
        .nth(1)
        .unwrap()
        .to_owned();
    let lost = browser
        .get(
            &w.server
                .url(&format!("/login/lost?interaction={interaction}")),
        )
        .await
        .text()
        .await
        .unwrap();
    let sent = browser
        .http
        .post(w.server.url("/login/lost"))
        .form(&[
            (
                "csrf_token",
                hidden_value(&lost, "csrf_token").unwrap().as_str(),
            ),
            ("interaction", interaction.as_str()),
            ("action", "send"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let dir = w.server.data_dir.path().join("data/outbox");
    let raw = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .next()
        .expect("a mail");
    for header in [
        "MIME-Version: 1.0",
        "Content-Type: multipart/alternative",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Type: text/html; charset=utf-8",
        "\r\nDate: ",
        "\r\nMessage-ID: <",
    ] {
        assert!(raw.contains(header), "{header} in {raw}");
    }
    let readable = keystep_tests::mail::readable(&raw);
    assert!(readable.contains("您的验证码是："), "{readable}");
    assert!(readable.contains("Ada Lovelace，您好"), "{readable}");
}

/// The language links of a page, decoded as a browser reads them.
fn switch_links(html: &str) -> Vec<String> {
    html.replace("&#x3D;", "=")
        .replace("&amp;", "&")
        .split("href=\"")
        .filter(|h| h.starts_with("/language?"))
        .filter_map(|h| h.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn pages_shown_after_a_form_switch_back_to_their_own_page_or_not_at_all() {
    let w = World::new(Stack::all().remove(0));
    let browser = w.browser();
    let to_login = browser.authorize(&w.authorize_url("app", &[])).await;
    let page = browser.login_page(&to_login.location).await;
    // A refused password shows the form again: its switch keeps the sign-in.
    let refused = browser
        .submit_login(&w.server.url(""), &page, "ada", "not the password")
        .await;
    assert_eq!(refused.status(), 401);
    let links = switch_links(&refused.text().await.unwrap());
    let interaction = &page.interaction;
    assert!(
        links
            .iter()
            .all(|l| l.ends_with(&format!("back=%2Flogin%3Finteraction%3D{interaction}"))),
        "{links:?}"
    );
    assert!(!links.is_empty());
    // Signed in, ending the other sessions shows the sessions page: its switch goes there.
    let signed_in = browser
        .submit_login(&w.server.url(""), &page, "ada", PASSWORD)
        .await;
    assert_eq!(signed_in.status(), 303);
    // A second session elsewhere, so there is one to end.
    w.browser()
        .sign_in(
            &w.server.url(""),
            &w.authorize_url("app", &[]),
            "ada",
            PASSWORD,
        )
        .await;
    let sessions = browser
        .get(&w.server.url("/u/sessions"))
        .await
        .text()
        .await
        .unwrap();
    let ended = browser
        .http
        .post(w.server.url("/u/sessions/end"))
        .form(&[
            (
                "csrf_token",
                hidden_value(&sessions, "csrf_token").unwrap().as_str(),
            ),
            ("all_others", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 200);
    let links = switch_links(&ended.text().await.unwrap());
    assert!(
        !links.is_empty() && links.iter().all(|l| l.ends_with("back=%2Fu%2Fsessions")),
        "{links:?}"
    );
}
