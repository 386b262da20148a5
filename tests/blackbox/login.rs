//! The hosted login: one message for wrong username or password, throttling shared through
//! the ephemeral store, CSRF, disabled accounts, and a new session token at every sign-in.

use std::time::Duration;

use keystep_core::users;
use keystep_server::app::{RunningServer, Serve};
use keystep_tests::browser::{World, PASSWORD, REDIRECT_URI};
use keystep_tests::Stack;

fn authorize_url(w: &World) -> String {
    format!(
        "{}?client_id=app&redirect_uri={}&response_type=code&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        w.server.url("/oidc/auth"),
        url::form_urlencoded::byte_serialize(REDIRECT_URI.as_bytes()).collect::<String>()
    )
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("keystep_session="))
}

#[tokio::test]
async fn the_login_page_names_the_client_and_helps_password_managers() {
    let w = World::new(Stack::all().remove(0));
    let browser = w.browser();
    let to_login = browser
        .authorize(&format!("{}&login_hint=ada", authorize_url(&w)))
        .await;
    let page = browser.login_page(&to_login.location).await;
    assert!(page.html.contains("The App"), "client display name");
    assert!(
        page.html.contains(r#"name="username""#)
            && page.html.contains(r#"autocomplete="username""#)
    );
    assert!(
        page.html.contains(r#"name="password""#)
            && page.html.contains(r#"autocomplete="current-password""#)
    );
    assert!(
        page.html.contains(r#"value="ada""#),
        "login_hint prefills the username"
    );
    assert!(page.html.contains(r#"<meta name="viewport""#));

    let unknown = browser.get(&w.server.url("/login?interaction=nope")).await;
    assert_eq!(unknown.status(), 400);
    let direct = browser.get(&w.server.url("/login")).await;
    assert_eq!(
        direct.status(),
        200,
        "the login works without an application too"
    );
}

#[tokio::test]
async fn wrong_username_and_wrong_password_look_the_same() {
    for stack in Stack::all() {
        let w = World::new(stack);
        let browser = w.browser();
        let base = w.server.url("");
        let to_login = browser.authorize(&authorize_url(&w)).await;
        let page = browser.login_page(&to_login.location).await;
        let wrong_password = browser
            .submit_login(&base, &page, "ada", "not the password")
            .await;
        assert_eq!(wrong_password.status(), 401);
        let wrong_password = wrong_password.text().await.unwrap();
        let unknown_user = browser
            .submit_login(&base, &page, "nobody", "not the password")
            .await;
        assert_eq!(unknown_user.status(), 401);
        let unknown_user = unknown_user.text().await.unwrap();
        let message = "The username or password is not right.";
        assert!(wrong_password.contains(message) && unknown_user.contains(message));
        assert!(
            unknown_user.contains(r#"value="nobody""#),
            "the username is kept"
        );
        assert!(
            !wrong_password.contains("not the password"),
            "the password is never echoed"
        );
    }
}

#[tokio::test]
async fn failures_lock_the_account_for_the_window_on_every_node() {
    for stack in Stack::all() {
        let name = stack.name;
        let uses_redis = stack.redis_url.is_some();
        let w = World::with(stack, |c| {
            c.login.max_failures_per_account = 3;
            c.login.failure_window_seconds = 2;
        });
        let browser = w.browser();
        let base = w.server.url("");
        let page = browser
            .login_page(&browser.authorize(&authorize_url(&w)).await.location)
            .await;
        for _ in 0..3 {
            assert_eq!(
                browser
                    .submit_login(&base, &page, "ada", "wrong")
                    .await
                    .status(),
                401
            );
        }
        let locked = browser.submit_login(&base, &page, "ADA", PASSWORD).await;
        assert_eq!(
            locked.status(),
            429,
            "{name}: even the right password waits out the lock"
        );
        assert!(locked.text().await.unwrap().contains("try again after"));

        if uses_redis {
            // A second node on the same Redis sees the same lock.
            let services = keystep_core::Services::open(
                (*w.server.services.config).clone(),
                w.server.clock.clone(),
            )
            .unwrap();
            let serve = Serve {
                listener: std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
                workers: 1,
                demo: None,
            };
            let other = RunningServer::start(services, serve).unwrap();
            let other_browser = w.browser();
            let other_base = other.url();
            let login = other_browser
                .login_page(&format!("{other_base}/login"))
                .await;
            assert_eq!(
                other_browser
                    .submit_login(&other_base, &login, "ada", PASSWORD)
                    .await
                    .status(),
                429,
                "{name}: lock shared"
            );
            std::thread::sleep(Duration::from_millis(2100));
        } else {
            w.server.clock.advance(Duration::from_secs(3));
        }
        let after = browser.submit_login(&base, &page, "ada", PASSWORD).await;
        assert_eq!(after.status(), 303, "{name}: the lock ends with the window");
    }
}

#[tokio::test]
async fn failures_from_one_address_are_limited_too() {
    for stack in Stack::all() {
        let w = World::with(stack, |c| c.login.max_failures_per_ip = 3);
        let browser = w.browser();
        let base = w.server.url("");
        let page = browser.login_page(&w.server.url("/login")).await;
        for name in ["a1", "a2", "a3"] {
            assert_eq!(
                browser
                    .submit_login(&base, &page, name, "wrong")
                    .await
                    .status(),
                401
            );
        }
        assert_eq!(
            browser
                .submit_login(&base, &page, "ada", PASSWORD)
                .await
                .status(),
            429
        );
    }
}

#[tokio::test]
async fn disabled_accounts_cannot_sign_in() {
    let w = World::new(Stack::all().remove(0));
    {
        let services = &w.server.services;
        let mut conn = services.db.conn().unwrap();
        users::set_disabled(&mut conn, services.clock.as_ref(), "ada", true).unwrap();
    }
    let browser = w.browser();
    let page = browser
        .login_page(&browser.authorize(&authorize_url(&w)).await.location)
        .await;
    let response = browser
        .submit_login(&w.server.url(""), &page, "ada", PASSWORD)
        .await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("disabled"));
}

#[tokio::test]
async fn the_form_needs_its_csrf_token() {
    for stack in Stack::all() {
        let w = World::new(stack);
        let browser = w.browser();
        let mut page = browser
            .login_page(&browser.authorize(&authorize_url(&w)).await.location)
            .await;
        page.csrf_token = "forged".into();
        let response = browser
            .submit_login(&w.server.url(""), &page, "ada", PASSWORD)
            .await;
        assert_eq!(response.status(), 400);
        assert!(
            session_cookie(&response).is_none(),
            "no session from a forged form"
        );
        // The refusal says so and opens the form again in the same sign-in.
        let refusal = response
            .text()
            .await
            .unwrap()
            .replace("&#x3D;", "=")
            .replace("&amp;", "&");
        assert!(refusal.contains("This form expired"), "{refusal}");
        assert!(
            refusal.contains(&format!(
                r#"href="{}""#,
                w.server
                    .url(&format!("/login?interaction={}", page.interaction))
            )),
            "{refusal}"
        );
        // A browser with no CSRF cookie at all is refused as well.
        let fresh = w.browser();
        let response = fresh
            .submit_login(&w.server.url(""), &page, "ada", PASSWORD)
            .await;
        assert_eq!(response.status(), 400);
    }
}

#[tokio::test]
async fn every_sign_in_replaces_the_session_token() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let browser = w.browser();
        let base = w.server.url("");
        let page = browser
            .login_page(&browser.authorize(&authorize_url(&w)).await.location)
            .await;
        let first = browser.submit_login(&base, &page, "ada", PASSWORD).await;
        let first_cookie = session_cookie(&first).expect("session cookie");
        assert!(
            first_cookie.contains("HttpOnly")
                && first_cookie.contains("SameSite=Lax")
                && first_cookie.contains("Path=/"),
            "{first_cookie}"
        );
        assert!(
            !first_cookie.contains("Secure"),
            "plain http: no Secure flag"
        );

        let again = browser
            .authorize(&format!("{}&prompt=login", authorize_url(&w)))
            .await;
        let page = browser.login_page(&again.location).await;
        let second = browser.submit_login(&base, &page, "ada", PASSWORD).await;
        let second_cookie = session_cookie(&second).expect("new session cookie");
        assert_ne!(first_cookie, second_cookie, "{name}");

        // The old token is worthless now.
        let old_value = first_cookie
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("keystep_session=")
            .to_owned();
        let thief = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = thief
            .get(format!("{}&prompt=none", authorize_url(&w)))
            .header("cookie", format!("keystep_session={old_value}"))
            .send()
            .await
            .unwrap();
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.contains("error=login_required"),
            "{name}: {location}"
        );
    }
}

/// The link a page offers back to the application, decoded as a browser reads it.
fn back_to_app(html: &str) -> String {
    let html = html.replace("&#x3D;", "=").replace("&amp;", "&");
    html.split(r#"id="back-to-app" href=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no way back to the application: {html}"))
        .to_owned()
}

#[tokio::test]
async fn every_sign_in_step_goes_back_to_the_application_with_access_denied() {
    for stack in Stack::all() {
        let w = World::new(stack);
        let name = w.server.stack.name;
        w.bind_totp();
        let browser = w.browser();
        // At the password page.
        let to_login = browser.authorize(&authorize_url(&w)).await;
        let page = browser.login_page(&to_login.location).await;
        let back = browser
            .authorize(&w.server.url(&back_to_app(&page.html)))
            .await;
        assert!(
            back.location.starts_with(REDIRECT_URI),
            "{name}: {}",
            back.location
        );
        assert_eq!(back.param("error"), Some("access_denied"), "{name}");
        assert_eq!(back.param("state"), Some("s"), "{name}");
        assert_eq!(back.param("iss"), Some(w.issuer().as_str()), "{name}");
        // The sign-in is over: its page says so.
        let expired = browser.get(&to_login.location).await;
        assert_eq!(expired.status(), 400, "{name}");

        // At the second step, after the password: the way back says who asks and why, too.
        let to_login = browser.authorize(&authorize_url(&w)).await;
        let page = browser.login_page(&to_login.location).await;
        let response = browser
            .submit_login(&w.server.url(""), &page, "ada", PASSWORD)
            .await;
        let resume = response
            .url()
            .join(response.headers()["location"].to_str().unwrap())
            .unwrap();
        let to_mfa = browser.authorize(resume.as_str()).await;
        let mfa = browser.get(&to_mfa.location).await.text().await.unwrap();
        assert!(
            mfa.contains("The App asks you to confirm it&#x27;s you")
                || mfa.contains("The App asks you to confirm it's you"),
            "{name}: {mfa}"
        );
        let recovery = browser
            .get(&to_mfa.location.replace("/login/mfa", "/login/recovery"))
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(back_to_app(&recovery), back_to_app(&mfa), "{name}");
        let back = browser.authorize(&w.server.url(&back_to_app(&mfa))).await;
        assert_eq!(back.param("error"), Some("access_denied"), "{name}");
        // A way back that was used already (or never existed) is a page, not a redirect.
        let again = browser.get(&w.server.url(&back_to_app(&mfa))).await;
        assert_eq!(again.status(), 400, "{name}");
        let bare = browser.get(&w.server.url("/oidc/auth/cancel")).await;
        assert_eq!(bare.status(), 400, "{name}");
        assert!(
            bare.text().await.unwrap().starts_with("<!doctype html>"),
            "{name}: a page"
        );
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::with(stack, |c| {
            c.login.max_failures_per_ip = 3;
            c.http.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        });
        let base = w.server.url("");
        let browser = w.browser();
        let page = browser.login_page(&w.server.url("/login")).await;
        let submit = |forwarded_for: &'static str, username: &'static str, password: &str| {
            browser
                .http
                .post(format!("{base}/login"))
                .header("X-Forwarded-For", forwarded_for)
                .form(&[
                    ("csrf_token", page.csrf_token.as_str()),
                    ("interaction", ""),
                    ("username", username),
                    ("password", password),
                ])
                .send()
        };
        // Three failures from one client behind the proxy lock that client out, whatever it
        // writes on the left of the header itself.
        let from_one_client = [
            ("203.0.113.7", "a1"),
            ("198.51.100.1, 203.0.113.7", "a2"),
            ("198.51.100.2, 203.0.113.7", "a3"),
        ];
        for (header, username) in from_one_client {
            let status = submit(header, username, "wrong").await.unwrap().status();
            assert_eq!(status, 401, "{name}");
        }
        let locked = submit("203.0.113.7", "ada", PASSWORD).await.unwrap();
        assert_eq!(locked.status(), 429, "{name}: that client is throttled");
        // Everyone else behind the same proxy still signs in.
        let other = submit("203.0.113.8", "ada", PASSWORD).await.unwrap();
        assert_eq!(other.status(), 200, "{name}: the others are not");

        // The session list and the audit log name the client, not the proxy.
        let services = &w.server.services;
        let mut conn = services.db.conn().unwrap();
        let live =
            keystep_core::sessions::list_for_user(&mut conn, services.clock.as_ref(), &w.user_id)
                .unwrap();
        assert_eq!(live[0].ip.as_deref(), Some("203.0.113.8"), "{name}");
        let events = keystep_core::audit::list_for_user(&mut conn, &w.user_id, 1).unwrap();
        assert_eq!(events[0].event, "signed_in", "{name}");
        assert_eq!(events[0].ip.as_deref(), Some("203.0.113.8"), "{name}");
    }
}

#[tokio::test]
async fn without_a_trusted_proxy_forwarding_headers_are_ignored() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::with(stack, |c| c.login.max_failures_per_ip = 3);
        let base = w.server.url("");
        let browser = w.browser();
        let page = browser.login_page(&w.server.url("/login")).await;
        for (i, forwarded_for) in ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"]
            .into_iter()
            .enumerate()
        {
            let (username, password, expected) = if i < 3 {
                ("a1", "wrong", 401)
            } else {
                ("ada", PASSWORD, 429)
            };
            let response = browser
                .http
                .post(format!("{base}/login"))
                .header("X-Forwarded-For", forwarded_for)
                .header("Forwarded", format!("for={forwarded_for}"))
                .form(&[
                    ("csrf_token", page.csrf_token.as_str()),
                    ("interaction", ""),
                    ("username", username),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), expected, "{name}: attempt {i}");
        }
    }
}

#[tokio::test]
async fn a_sign_in_started_in_one_browser_cannot_go_on_in_another() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        w.add_person("mallory");
        let base = w.server.url("");
        let victim = w.browser();
        let to_login = victim.authorize(&authorize_url(&w)).await;
        let interaction = to_login.param("interaction").unwrap().to_owned();

        // The interaction id leaks (an access log, a Referer). Another browser cannot open it,
        // sign in through it, resume it or cancel it.
        let attacker = w.browser();
        let opened = attacker.get(&to_login.location).await;
        assert_eq!(opened.status(), 400, "{name}");
        assert!(
            opened
                .text()
                .await
                .unwrap()
                .contains("started in another browser"),
            "{name}"
        );
        let mut own_page = attacker.login_page(&w.server.url("/login")).await;
        own_page.interaction = interaction.clone();
        let posted = attacker
            .submit_login(&base, &own_page, "mallory", PASSWORD)
            .await;
        assert_eq!(posted.status(), 400, "{name}: no sign-in through it");
        for path in ["/oidc/auth/resume", "/oidc/auth/cancel"] {
            let url = w.server.url(&format!("{path}?interaction={interaction}"));
            let refused = attacker.get(&url).await;
            assert_eq!(refused.status(), 400, "{name}: {path}");
            assert!(refused.headers().get("location").is_none(), "{name}");
        }

        // The browser that started it signs in as before.
        let page = victim.login_page(&to_login.location).await;
        let response = victim.submit_login(&base, &page, "ada", PASSWORD).await;
        assert_eq!(response.status(), 303, "{name}");
        let resume = response.headers()["location"].to_str().unwrap().to_owned();
        let callback = victim.authorize(&resume).await;
        assert!(
            callback.param("code").is_some(),
            "{name}: {}",
            callback.location
        );
    }
}

#[tokio::test]
async fn resuming_a_sign_in_checks_the_client_and_its_redirect_uri_again() {
    use keystep_core::clients::{self, NewClient};
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let base = w.server.url("");
        let browser = w.browser();
        let to_login = browser.authorize(&authorize_url(&w)).await;
        let page = browser.login_page(&to_login.location).await;
        let other = w.browser();
        let other_page = other
            .login_page(&other.authorize(&authorize_url(&w)).await.location)
            .await;

        // While the person signs in, the operator registers the client again without the
        // redirect URI the request named.
        {
            let services = &w.server.services;
            let mut conn = services.db.conn().unwrap();
            clients::remove_client(&mut conn, "app").unwrap();
        }
        w.add_client(NewClient {
            id: "app".into(),
            redirect_uris: vec!["https://rp.example/elsewhere".into()],
            ..NewClient::default()
        });
        let response = browser.submit_login(&base, &page, "ada", PASSWORD).await;
        assert_eq!(response.status(), 303, "{name}");
        let resume = response.headers()["location"].to_str().unwrap().to_owned();
        let refused = browser.get(&resume).await;
        assert_eq!(refused.status(), 400, "{name}");
        assert!(
            refused.headers().get("location").is_none(),
            "{name}: no code to an unregistered redirect URI"
        );
        assert!(
            refused
                .text()
                .await
                .unwrap()
                .contains("it has not registered"),
            "{name}"
        );

        // Or removes it outright.
        {
            let mut conn = w.server.services.db.conn().unwrap();
            clients::remove_client(&mut conn, "app").unwrap();
        }
        let response = other
            .submit_login(&base, &other_page, "ada", PASSWORD)
            .await;
        assert_eq!(response.status(), 303, "{name}");
        let resume = response.headers()["location"].to_str().unwrap().to_owned();
        let refused = other.get(&resume).await;
        assert_eq!(refused.status(), 400, "{name}");
        assert!(refused.headers().get("location").is_none(), "{name}");
    }
}

#[tokio::test]
async fn one_address_starts_only_so_many_sign_ins_and_each_is_kept_ten_minutes() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::with(stack, |c| c.login.max_started_per_ip = 3);
        let base = w.server.url("");
        let signed_in = w.browser();
        let callback = signed_in
            .sign_in(&base, &authorize_url(&w), "ada", PASSWORD)
            .await;
        assert!(callback.param("code").is_some(), "{name}: the first start");

        // A pending sign-in lives in the ephemeral store for 10 minutes from its start;
        // going through it again does not make it live longer.
        let second_browser = w.browser();
        let second = second_browser.authorize(&authorize_url(&w)).await;
        let id = second.param("interaction").unwrap();
        let ttl_of = |id: &str| {
            w.server
                .services
                .ephemeral
                .ttl(&format!("interaction:{id}"))
                .unwrap()
                .unwrap()
        };
        let ttl = ttl_of(id);
        assert!(
            ttl <= Duration::from_secs(600) && ttl > Duration::from_secs(590),
            "{name}: {ttl:?}"
        );
        w.server.clock.advance(Duration::from_secs(120));
        let resume = w.server.url(&format!("/oidc/auth/resume?interaction={id}"));
        let again = second_browser.authorize(&resume).await;
        assert!(again.location.contains("/login?interaction="), "{name}");
        let ttl = ttl_of(id);
        assert!(ttl <= Duration::from_secs(480), "{name}: {ttl:?}");
        let third = w.browser().authorize(&authorize_url(&w)).await;
        assert!(third.param("interaction").is_some(), "{name}");

        // The fourth start from the same address within the window is sent back.
        let fourth = w.browser().authorize(&authorize_url(&w)).await;
        assert!(fourth.location.starts_with(REDIRECT_URI), "{name}");
        assert_eq!(
            fourth.param("error"),
            Some("temporarily_unavailable"),
            "{name}"
        );
        assert_eq!(fourth.param("state"), Some("s"), "{name}");

        // A sign-in that needs no page keeps no interaction, and is not held back.
        let again = signed_in.authorize(&authorize_url(&w)).await;
        assert!(again.param("code").is_some(), "{name}: {}", again.location);
    }
}

#[tokio::test]
async fn a_request_too_large_to_keep_is_refused_and_one_within_the_bounds_fits() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let browser = w.browser();
        let at_bounds = |fill: &str| {
            let repeat = |n: usize| fill.repeat(n);
            format!(
                "{}&state={}&nonce={}&login_hint={}",
                authorize_url(&w).replace("&state=s", ""),
                repeat(2048),
                repeat(512),
                repeat(256)
            )
        };
        // Every parameter at its bound, in characters that JSON escapes (`"`), fits.
        let fits = browser.authorize(&at_bounds("%22")).await;
        assert!(
            fits.param("interaction").is_some(),
            "{name}: {}",
            fits.location
        );
        // Control characters (which `state` may not hold) grow sixfold when stored.
        let too_large = browser.authorize(&at_bounds("%01")).await;
        assert!(too_large.location.starts_with(REDIRECT_URI), "{name}");
        assert_eq!(too_large.param("error"), Some("invalid_request"), "{name}");
    }
}
