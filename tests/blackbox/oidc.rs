//! The OpenID Connect provider end to end over real HTTP: a relying party built on the
//! `openidconnect` crate, a cookie-holding browser posting the hosted login form, on every
//! configured stack.

use std::time::Duration;

use base64::Engine as _;
use keystep_tests::browser::{hidden_value, World, PASSWORD, POST_LOGOUT_URI, REDIRECT_URI};
use keystep_tests::Stack;
use openidconnect::core::{CoreAuthenticationFlow, CoreUserInfoClaims};
use openidconnect::{
    AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge, Scope,
    TokenResponse,
};
use serde_json::Value;

/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn authorize_url(w: &World, client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&w.server.url("/oidc/auth")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("response_type", "code")
        .append_pair("state", "st-1")
        .append_pair("nonce", "n-1")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    let has_scope = extra.iter().any(|(k, _)| *k == "scope");
    if !has_scope {
        url.query_pairs_mut()
            .append_pair("scope", "openid profile email");
    }
    url.query_pairs_mut().extend_pairs(extra);
    url.to_string()
}

fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// Signs ada in for `app` and exchanges the code; returns the token response.
async fn sign_in_and_exchange(
    w: &World,
    browser: &keystep_tests::browser::Browser,
    extra: &[(&str, &str)],
) -> Value {
    let callback = browser
        .sign_in(
            &w.server.url(""),
            &authorize_url(w, "app", extra),
            "ada",
            PASSWORD,
        )
        .await;
    let code = callback
        .param("code")
        .unwrap_or_else(|| panic!("no code: {}", callback.location))
        .to_owned();
    let response = w.exchange(&code, Some(VERIFIER)).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn introspect(w: &World, token: &str) -> Value {
    let response = w
        .post_form("/oidc/token/introspection", &[("token", token)], true)
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn refresh(w: &World, token: &str) -> reqwest::Response {
    w.post_form(
        "/oidc/token",
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
        true,
    )
    .await
}

#[tokio::test]
async fn discovery_and_jwks() {
    for stack in Stack::all() {
        let w = World::new(stack);
        let meta: Value = reqwest::get(w.server.url("/oidc/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(meta["issuer"], w.issuer());
        for field in [
            "authorization_endpoint",
            "token_endpoint",
            "userinfo_endpoint",
            "jwks_uri",
            "end_session_endpoint",
            "introspection_endpoint",
            "revocation_endpoint",
        ] {
            assert!(
                meta[field].as_str().unwrap().starts_with(&w.issuer()),
                "{field}"
            );
        }
        assert_eq!(
            meta["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(
            meta["acr_values_supported"],
            serde_json::json!(["aal1", "aal2"])
        );
        assert_eq!(
            meta["response_modes_supported"],
            serde_json::json!(["query", "form_post"])
        );
        assert_eq!(meta["claims_parameter_supported"], true);
        assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
        let algs = meta["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap();
        assert!(algs.contains(&"RS256".into()) && algs.contains(&"ES256".into()));
        for claim in ["acr", "amr", "auth_time", "sid"] {
            assert!(
                meta["claims_supported"]
                    .as_array()
                    .unwrap()
                    .contains(&claim.into()),
                "{claim}"
            );
        }
        let jwks: Value = reqwest::get(meta["jwks_uri"].as_str().unwrap())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let algs: Vec<_> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["alg"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            algs.contains(&"RS256".into()) && algs.contains(&"ES256".into()),
            "{algs:?}"
        );
        assert!(
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .all(|k| k.get("d").is_none()),
            "no private parts"
        );
    }
}

#[tokio::test]
async fn code_flow_with_pkce_through_a_certified_style_client() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let rp = w.rp().await;
        let browser = w.browser();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf, nonce) = rp
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        let callback = browser
            .sign_in(&w.server.url(""), url.as_str(), "ada", PASSWORD)
            .await;
        assert!(callback.location.starts_with(REDIRECT_URI), "{name}");
        assert_eq!(callback.param("state"), Some(csrf.secret().as_str()));
        assert_eq!(
            callback.param("iss"),
            Some(w.issuer().as_str()),
            "RFC 9207 iss"
        );

        let tokens = rp
            .exchange_code(AuthorizationCode::new(
                callback.param("code").unwrap().to_owned(),
            ))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&w.http)
            .await
            .unwrap_or_else(|e| panic!("{name}: token exchange failed: {e:?}"));
        let id_token = tokens.id_token().expect("id_token");
        let claims = id_token
            .claims(&rp.id_token_verifier(), &nonce)
            .unwrap_or_else(|e| panic!("{name}: ID token rejected: {e}"));
        assert_eq!(claims.subject().as_str(), w.user_id);
        assert_eq!(
            claims.auth_context_ref().map(|a| a.as_str().to_owned()),
            Some("aal1".into())
        );
        let amr: Vec<String> = claims
            .auth_method_refs()
            .unwrap()
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect();
        assert_eq!(amr, vec!["pwd"]);
        assert!(claims.auth_time().is_some());
        assert!(tokens.refresh_token().is_some());
        assert_eq!(tokens.token_type().as_ref(), "bearer");

        let payload = jwt_part(&id_token.to_string(), 1);
        assert!(payload["sid"].is_string());
        assert_eq!(
            payload["at_hash"],
            keystep_oidc_at_hash(tokens.access_token().secret())
        );
        assert!(
            payload.get("email").is_none(),
            "profile claims only when asked via claims"
        );
        let access_header = jwt_part(tokens.access_token().secret(), 0);
        assert_eq!(access_header["typ"], "at+jwt");
        assert_eq!(access_header["alg"], "ES256");
        let access = jwt_part(tokens.access_token().secret(), 1);
        assert_eq!(access["client_id"], "app");
        assert_eq!(access["acr"], "aal1");
        assert!(access["jti"].is_string() && access["auth_time"].is_number());

        let info: CoreUserInfoClaims = rp
            .user_info(tokens.access_token().to_owned(), None)
            .unwrap()
            .request_async(&w.http)
            .await
            .unwrap();
        assert_eq!(info.subject().as_str(), w.user_id);
        assert_eq!(
            info.email().map(|e| e.as_str().to_owned()),
            Some("ada@example.com".into())
        );

        // The SSO session serves the next request without a page.
        let again = browser.authorize(&authorize_url(&w, "app", &[])).await;
        assert!(
            again.location.starts_with(REDIRECT_URI) && again.param("code").is_some(),
            "{name}: {}",
            again.location
        );
    }
}

fn keystep_oidc_at_hash(access_token: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(access_token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[tokio::test]
async fn token_response_headers_and_userinfo_errors() {
    for stack in Stack::all() {
        let w = World::new(stack);
        let response = w.exchange("nope", Some(VERIFIER)).await;
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant");

        let response = w.http.get(w.server.url("/oidc/me")).send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        let response = w
            .http
            .get(w.server.url("/oidc/me"))
            .bearer_auth("garbage")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\""));

        let tokens = sign_in_and_exchange(&w, &w.browser(), &[]).await;
        assert_eq!(tokens["token_type"], "Bearer");
        let access = tokens["access_token"].as_str().unwrap();
        let response = w
            .http
            .post(w.server.url("/oidc/me"))
            .form(&[("access_token", access)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "userinfo by POST form");
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let tokens = sign_in_and_exchange(&w, &w.browser(), &[]).await;
        let first = tokens["refresh_token"].as_str().unwrap().to_owned();

        let response = refresh(&w, &first).await;
        assert_eq!(response.status(), 200, "{name}");
        let rotated: Value = response.json().await.unwrap();
        let second = rotated["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(first, second, "rotated on use");
        assert!(rotated["id_token"].is_string());
        let id = jwt_part(rotated["id_token"].as_str().unwrap(), 1);
        assert_eq!(
            id["auth_time"],
            jwt_part(tokens["id_token"].as_str().unwrap(), 1)["auth_time"],
            "auth_time kept"
        );
        let access_from_second = rotated["access_token"].as_str().unwrap().to_owned();
        assert_eq!(introspect(&w, &access_from_second).await["active"], true);

        // Narrowing is allowed, widening is not.
        let narrowed: Value = w
            .post_form(
                "/oidc/token",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &second),
                    ("scope", "openid email"),
                ],
                true,
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(narrowed["scope"], "openid email", "{name}");
        let third = narrowed["refresh_token"].as_str().unwrap().to_owned();
        let widened = w
            .post_form(
                "/oidc/token",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &third),
                    ("scope", "openid email offline_access"),
                ],
                true,
            )
            .await;
        let widened: Value = widened.json().await.unwrap();
        assert_eq!(widened["error"], "invalid_scope");

        // The first token again: theft assumed, the whole family goes.
        let reused = refresh(&w, &first).await;
        assert_eq!(reused.status(), 400);
        assert_eq!(
            reused.json::<Value>().await.unwrap()["error"],
            "invalid_grant"
        );
        let after = refresh(&w, &third).await;
        assert_eq!(
            after.json::<Value>().await.unwrap()["error"],
            "invalid_grant",
            "{name}: family revoked"
        );
        assert_eq!(
            introspect(&w, &access_from_second).await,
            serde_json::json!({"active": false}),
            "{name}: access tokens of the grant end too"
        );
    }
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_what_it_issued() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let browser = w.browser();
        let callback = browser
            .sign_in(
                &w.server.url(""),
                &authorize_url(&w, "app", &[]),
                "ada",
                PASSWORD,
            )
            .await;
        let code = callback.param("code").unwrap().to_owned();
        let tokens: Value = w
            .exchange(&code, Some(VERIFIER))
            .await
            .json()
            .await
            .unwrap();
        let again = w.exchange(&code, Some(VERIFIER)).await;
        assert_eq!(again.status(), 400);
        assert_eq!(
            again.json::<Value>().await.unwrap()["error"],
            "invalid_grant"
        );
        assert_eq!(
            introspect(&w, tokens["access_token"].as_str().unwrap()).await["active"],
            false,
            "{name}"
        );
        let refreshed = refresh(&w, tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!(
            refreshed.json::<Value>().await.unwrap()["error"],
            "invalid_grant",
            "{name}"
        );
    }
}

#[tokio::test]
async fn codes_are_bound_to_verifier_client_and_redirect_uri() {
    for stack in Stack::all() {
        let w = World::new(stack);
        let browser = w.browser();
        let base = w.server.url("");
        let error_of = |r: reqwest::Response| async move {
            r.json::<Value>().await.unwrap()["error"]
                .as_str()
                .unwrap()
                .to_owned()
        };

        let code = browser
            .sign_in(&base, &authorize_url(&w, "app", &[]), "ada", PASSWORD)
            .await
            .param("code")
            .unwrap()
            .to_owned();
        assert_eq!(
            error_of(
                w.exchange(&code, Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"))
                    .await
            )
            .await,
            "invalid_grant",
            "wrong verifier"
        );
        // The failed attempt used the code up.
        assert_eq!(
            error_of(w.exchange(&code, Some(VERIFIER)).await).await,
            "invalid_grant"
        );

        let code = browser
            .authorize(&authorize_url(&w, "app", &[]))
            .await
            .param("code")
            .unwrap()
            .to_owned();
        assert_eq!(
            error_of(w.exchange(&code, None).await).await,
            "invalid_grant",
            "missing verifier"
        );

        let code = browser
            .authorize(&authorize_url(&w, "app", &[]))
            .await
            .param("code")
            .unwrap()
            .to_owned();
        let response = w
            .post_form(
                "/oidc/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", "https://rp.example/other"),
                    ("code_verifier", VERIFIER),
                ],
                true,
            )
            .await;
        assert_eq!(
            error_of(response).await,
            "invalid_grant",
            "other redirect_uri"
        );

        // Another client cannot redeem app's code; the public client authenticates with none.
        let code = browser
            .authorize(&authorize_url(&w, "app", &[]))
            .await
            .param("code")
            .unwrap()
            .to_owned();
        let response = w
            .post_form(
                "/oidc/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_verifier", VERIFIER),
                    ("client_id", "spa"),
                ],
                false,
            )
            .await;
        assert_eq!(error_of(response).await, "invalid_grant");
        let code = browser
            .authorize(&authorize_url(&w, "spa", &[]))
            .await
            .param("code")
            .unwrap()
            .to_owned();
        let response = w
            .post_form(
                "/oidc/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_verifier", VERIFIER),
                    ("client_id", "spa"),
                ],
                false,
            )
            .await;
        assert_eq!(response.status(), 200, "public client with PKCE");
    }
}

#[tokio::test]
async fn client_authentication_errors() {
    for stack in Stack::all() {
        let w = World::new(stack);
        let form = [
            ("grant_type", "client_credentials"),
            ("scope", "reports:read"),
        ];
        let wrong = w
            .http
            .post(w.server.url("/oidc/token"))
            .basic_auth("app", Some("wrong"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        assert!(wrong.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"));
        assert_eq!(
            wrong.json::<Value>().await.unwrap()["error"],
            "invalid_client"
        );
        let unknown = w
            .http
            .post(w.server.url("/oidc/token"))
            .basic_auth("ghost", Some("x"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), 401);

        // client_secret_post works as well as basic.
        let post = w
            .post_form(
                "/oidc/token",
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", "app"),
                    ("client_secret", &w.client_secret),
                ],
                false,
            )
            .await;
        assert_eq!(post.status(), 200);
        let cc: Value = w
            .post_form("/oidc/token", &form, true)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(cc["scope"], "reports:read");
        assert!(cc.get("refresh_token").is_none() && cc.get("id_token").is_none());
        let seen = introspect(&w, cc["access_token"].as_str().unwrap()).await;
        assert_eq!(seen["active"], true);
        assert_eq!(seen["sub"], "app");

        let spa = w
            .post_form(
                "/oidc/token",
                &[("grant_type", "client_credentials"), ("client_id", "spa")],
                false,
            )
            .await;
        assert_eq!(
            spa.json::<Value>().await.unwrap()["error"],
            "unauthorized_client"
        );
        let bad_grant = w
            .post_form(
                "/oidc/token",
                &[
                    ("grant_type", "password"),
                    ("username", "ada"),
                    ("password", PASSWORD),
                ],
                true,
            )
            .await;
        assert_eq!(
            bad_grant.json::<Value>().await.unwrap()["error"],
            "unsupported_grant_type"
        );
        let twice = w
            .post_form(
                "/oidc/token",
                &[
                    ("grant_type", "client_credentials"),
                    ("grant_type", "client_credentials"),
                ],
                true,
            )
            .await;
        assert_eq!(
            twice.json::<Value>().await.unwrap()["error"],
            "invalid_request"
        );
    }
}

#[tokio::test]
async fn unknown_client_and_unregistered_redirect_uri_are_pages_never_redirects() {
    for stack in Stack::all() {
        let w = World::new(stack);
        let browser = w.browser();
        let bad_redirect = authorize_url(&w, "app", &[])
            .replace("rp.example%2Fcallback", "evil.example%2Fcallback");
        for url in [bad_redirect, authorize_url(&w, "ghost", &[])] {
            let response = browser.get(&url).await;
            assert_eq!(response.status(), 400, "{url}");
            assert!(response.headers().get("location").is_none());
            let html = response.text().await.unwrap();
            assert!(html.contains("<h1>"), "an error page");
        }
        // After the client and redirect URI check out, errors go back to the RP with state.
        let response = browser
            .authorize(
                &authorize_url(&w, "app", &[("response_type", "token")])
                    .replace("response_type=code&", ""),
            )
            .await;
        assert_eq!(response.param("error"), Some("unsupported_response_type"));
        assert_eq!(response.param("state"), Some("st-1"));
        assert_eq!(response.param("iss"), Some(w.issuer().as_str()));
        let no_pkce = authorize_url(&w, "spa", &[]).replace(
            &format!("&code_challenge={CHALLENGE}&code_challenge_method=S256"),
            "",
        );
        assert_eq!(
            browser.authorize(&no_pkce).await.param("error"),
            Some("invalid_request"),
            "public clients need PKCE"
        );
        let plain = authorize_url(&w, "app", &[])
            .replace("code_challenge_method=S256", "code_challenge_method=plain");
        assert_eq!(
            browser.authorize(&plain).await.param("error"),
            Some("invalid_request")
        );
    }
}

#[tokio::test]
async fn prompt_none_with_and_without_a_session() {
    for stack in Stack::all() {
        let w = World::new(stack);
        let browser = w.browser();
        let none = authorize_url(&w, "app", &[("prompt", "none")]);
        let answer = browser.authorize(&none).await;
        assert!(answer.location.starts_with(REDIRECT_URI));
        assert_eq!(answer.param("error"), Some("login_required"));
        assert_eq!(answer.param("state"), Some("st-1"));

        sign_in_and_exchange(&w, &browser, &[]).await;
        let answer = browser.authorize(&none).await;
        assert!(answer.param("code").is_some(), "{}", answer.location);
    }
}

#[tokio::test]
async fn max_age_and_prompt_login_ask_for_the_password_again() {
    for stack in Stack::all() {
        let w = World::new(stack);
        let browser = w.browser();
        let base = w.server.url("");
        let first = sign_in_and_exchange(&w, &browser, &[]).await;
        let first_auth_time = jwt_part(first["id_token"].as_str().unwrap(), 1)["auth_time"]
            .as_i64()
            .unwrap();

        w.server.clock.advance(Duration::from_secs(120));
        // Within max_age: no page.
        let fresh = browser
            .authorize(&authorize_url(&w, "app", &[("max_age", "600")]))
            .await;
        assert!(fresh.param("code").is_some());
        // Beyond it: the login page; prompt=none cannot show it.
        let old = browser
            .authorize(&authorize_url(&w, "app", &[("max_age", "60")]))
            .await;
        assert!(
            old.location
                .starts_with(&format!("{base}/login?interaction=")),
            "{}",
            old.location
        );
        let none = browser
            .authorize(&authorize_url(
                &w,
                "app",
                &[("max_age", "60"), ("prompt", "none")],
            ))
            .await;
        assert_eq!(none.param("error"), Some("login_required"));

        let tokens = sign_in_and_exchange(&w, &browser, &[("max_age", "60")]).await;
        let auth_time = jwt_part(tokens["id_token"].as_str().unwrap(), 1)["auth_time"]
            .as_i64()
            .unwrap();
        assert!(
            auth_time >= first_auth_time + 120,
            "auth_time moved to the new sign-in"
        );

        // prompt=login always shows the login page, even right after a sign-in.
        let again = browser
            .authorize(&authorize_url(&w, "app", &[("prompt", "login")]))
            .await;
        assert!(again.location.contains("/login?interaction="));
        let tokens = sign_in_and_exchange(&w, &browser, &[("prompt", "login")]).await;
        assert!(tokens["id_token"].is_string());
    }
}

#[tokio::test]
async fn aal2_without_a_second_factor_and_without_enrollment_is_unmet() {
    let w = World::with(Stack::all().remove(0), |c| c.mfa.enroll_at_login = false);
    let browser = w.browser();
    sign_in_and_exchange(&w, &browser, &[]).await;
    let claims = r#"{"id_token":{"acr":{"essential":true,"values":["aal2"]}}}"#;
    for extra in [("claims", claims), ("acr_values", "aal2")] {
        let answer = browser.authorize(&authorize_url(&w, "app", &[extra])).await;
        assert_eq!(
            answer.param("error"),
            Some("unmet_authentication_requirements"),
            "{extra:?}"
        );
        assert_eq!(answer.param("state"), Some("st-1"));
    }
    // aal1 is what the session has: no page.
    let answer = browser
        .authorize(&authorize_url(&w, "app", &[("acr_values", "aal1")]))
        .await;
    assert!(answer.param("code").is_some());
}

#[tokio::test]
async fn form_post_response_mode() {
    let w = World::new(Stack::all().remove(0));
    let browser = w.browser();
    sign_in_and_exchange(&w, &browser, &[]).await;
    let response = browser
        .get(&authorize_url(&w, "app", &[("response_mode", "form_post")]))
        .await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(&format!("action=\"{REDIRECT_URI}\"")),
        "{html}"
    );
    assert!(hidden_value(&html, "code").is_some());
    assert_eq!(hidden_value(&html, "state").as_deref(), Some("st-1"));
    assert!(html.contains("/static/autosubmit.js"));
}

#[tokio::test]
async fn logout_with_a_valid_hint_signs_out_at_once() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let browser = w.browser();
        let online = sign_in_and_exchange(&w, &browser, &[]).await;
        let offline_code = browser
            .authorize(&authorize_url(
                &w,
                "app",
                &[("scope", "openid offline_access")],
            ))
            .await;
        let offline: Value = w
            .exchange(offline_code.param("code").unwrap(), Some(VERIFIER))
            .await
            .json()
            .await
            .unwrap();
        let mut url = url::Url::parse(&w.server.url("/oidc/session/end")).unwrap();
        url.query_pairs_mut()
            .append_pair("id_token_hint", online["id_token"].as_str().unwrap())
            .append_pair("post_logout_redirect_uri", POST_LOGOUT_URI)
            .append_pair("state", "bye-1");
        let response = browser.get(url.as_str()).await;
        assert_eq!(response.status(), 302, "{name}");
        assert_eq!(
            response.headers()["location"].to_str().unwrap(),
            format!("{POST_LOGOUT_URI}?state=bye-1")
        );

        let none = browser
            .authorize(&authorize_url(&w, "app", &[("prompt", "none")]))
            .await;
        assert_eq!(
            none.param("error"),
            Some("login_required"),
            "{name}: session ended"
        );
        assert_eq!(
            refresh(&w, online["refresh_token"].as_str().unwrap())
                .await
                .json::<Value>()
                .await
                .unwrap()["error"],
            "invalid_grant",
            "{name}: session-bound refresh token revoked"
        );
        assert_eq!(
            refresh(&w, offline["refresh_token"].as_str().unwrap())
                .await
                .status(),
            200,
            "{name}: offline_access survives logout"
        );
    }
}

#[tokio::test]
async fn logout_without_a_hint_asks_first() {
    for stack in Stack::all() {
        let w = World::new(stack);
        let browser = w.browser();
        sign_in_and_exchange(&w, &browser, &[]).await;
        let url = format!(
            "{}?client_id=app&post_logout_redirect_uri={}&state=s2",
            w.server.url("/oidc/session/end"),
            url::form_urlencoded::byte_serialize(POST_LOGOUT_URI.as_bytes()).collect::<String>()
        );
        let page = browser.get(&url).await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        let csrf = hidden_value(&html, "csrf_token").expect("confirmation form with CSRF token");
        assert!(
            browser
                .authorize(&authorize_url(&w, "app", &[("prompt", "none")]))
                .await
                .param("code")
                .is_some(),
            "not signed out before confirming"
        );

        // Without the CSRF token nothing happens.
        let forged = browser
            .http
            .post(w.server.url("/oidc/session/end/confirm"))
            .form(&[("client_id", "app")])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 400);
        assert!(browser
            .authorize(&authorize_url(&w, "app", &[("prompt", "none")]))
            .await
            .param("code")
            .is_some());

        let confirmed = browser
            .http
            .post(w.server.url("/oidc/session/end/confirm"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("client_id", "app"),
                ("post_logout_redirect_uri", POST_LOGOUT_URI),
                ("state", "s2"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(confirmed.status(), 302);
        assert_eq!(
            confirmed.headers()["location"].to_str().unwrap(),
            format!("{POST_LOGOUT_URI}?state=s2")
        );
        assert_eq!(
            browser
                .authorize(&authorize_url(&w, "app", &[("prompt", "none")]))
                .await
                .param("error"),
            Some("login_required")
        );

        // An unregistered post_logout_redirect_uri is never redirected to.
        let evil = format!(
            "{}?client_id=app&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F",
            w.server.url("/oidc/session/end")
        );
        let html = browser.get(&evil).await.text().await.unwrap();
        // Only the language switch's link back to this very page carries it, encoded.
        assert!(!html.contains("https://evil.example") && !html.contains("https%3A%2F%2Fevil"));
    }
}

#[tokio::test]
async fn introspection_and_revocation() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let tokens = sign_in_and_exchange(&w, &w.browser(), &[]).await;
        let access = tokens["access_token"].as_str().unwrap();
        let refresh_token = tokens["refresh_token"].as_str().unwrap();
        let seen = introspect(&w, access).await;
        assert_eq!(seen["active"], true, "{name}");
        assert_eq!(seen["client_id"], "app");
        assert_eq!(seen["sub"], w.user_id);
        assert_eq!(seen["acr"], "aal1");
        assert!(
            seen["auth_time"].is_number() && seen["exp"].is_number() && seen["iat"].is_number()
        );
        assert_eq!(seen["scope"], "openid profile email");
        assert_eq!(
            introspect(&w, refresh_token).await["token_type"],
            "refresh_token"
        );

        // Introspection needs a confidential client.
        let anonymous = w
            .post_form(
                "/oidc/token/introspection",
                &[("token", access), ("client_id", "spa")],
                false,
            )
            .await;
        assert_eq!(anonymous.status(), 401);

        // Revoking the access token ends it (RFC 7009); unknown tokens get 200 too.
        assert_eq!(
            w.post_form("/oidc/token/revocation", &[("token", access)], true)
                .await
                .status(),
            200
        );
        assert_eq!(
            introspect(&w, access).await,
            serde_json::json!({"active": false}),
            "{name}"
        );
        assert_eq!(w.userinfo_status(access).await, 401);
        assert_eq!(
            w.post_form(
                "/oidc/token/revocation",
                &[("token", "no-such-token")],
                true
            )
            .await
            .status(),
            200
        );

        // Revoking the refresh token ends the grant.
        assert_eq!(
            w.post_form(
                "/oidc/token/revocation",
                &[
                    ("token", refresh_token),
                    ("token_type_hint", "refresh_token")
                ],
                true
            )
            .await
            .status(),
            200
        );
        assert_eq!(introspect(&w, refresh_token).await["active"], false);
        assert_eq!(
            refresh(&w, refresh_token)
                .await
                .json::<Value>()
                .await
                .unwrap()["error"],
            "invalid_grant"
        );
    }
}

#[tokio::test]
async fn es256_id_tokens_for_clients_that_ask() {
    let w = World::new(Stack::all().remove(0));
    {
        let services = &w.server.services;
        let mut conn = services.db.conn().unwrap();
        keystep_core::clients::create_client(
            &mut conn,
            services.clock.as_ref(),
            &keystep_core::clients::NewClient {
                id: "ec".into(),
                public: true,
                redirect_uris: vec![REDIRECT_URI.into()],
                id_token_signed_response_alg: keystep_core::clients::IdTokenAlg::ES256,
                ..Default::default()
            },
        )
        .unwrap();
    }
    let browser = w.browser();
    let callback = browser
        .sign_in(
            &w.server.url(""),
            &authorize_url(&w, "ec", &[]),
            "ada",
            PASSWORD,
        )
        .await;
    let response = w
        .post_form(
            "/oidc/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", callback.param("code").unwrap()),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", VERIFIER),
                ("client_id", "ec"),
            ],
            false,
        )
        .await;
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(
        jwt_part(tokens["id_token"].as_str().unwrap(), 0)["alg"],
        "ES256"
    );
}

#[tokio::test]
async fn key_rotation_reaches_running_servers_and_old_tokens_still_verify() {
    for stack in Stack::all() {
        let w = World::new(stack);
        let rp = w.rp().await;
        let before = sign_in_and_exchange(&w, &w.browser(), &[]).await;
        let old_kid = jwt_part(before["id_token"].as_str().unwrap(), 0)["kid"]
            .as_str()
            .unwrap()
            .to_owned();

        // What `keystep keys rotate` does, from another process's point of view.
        {
            let services = &w.server.services;
            let mut conn = services.db.conn().unwrap();
            keystep_oidc::keys::KeyStore::new()
                .rotate(services, &mut conn, false)
                .unwrap();
        }
        w.server.clock.advance(Duration::from_secs(31));
        let jwks: Value = reqwest::get(w.server.url("/oidc/jwks"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let kids: Vec<String> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            kids.len(),
            4,
            "the new keys are published at once, beside the old: {kids:?}"
        );
        assert!(kids.contains(&old_kid));

        // Relying parties that cached the JWKS before the rotation still verify new tokens:
        // the old keys sign until the delay (1 hour) has passed.
        let kid_of = |tokens: &Value| {
            jwt_part(tokens["id_token"].as_str().unwrap(), 0)["kid"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let meanwhile = sign_in_and_exchange(&w, &w.browser(), &[]).await;
        assert_eq!(
            kid_of(&meanwhile),
            old_kid,
            "the new key only published so far"
        );
        w.server.clock.advance(Duration::from_secs(3600 - 31 - 60));
        let before = sign_in_and_exchange(&w, &w.browser(), &[]).await;
        assert_eq!(kid_of(&before), old_kid);
        w.server.clock.advance(Duration::from_secs(61));

        let after = sign_in_and_exchange(&w, &w.browser(), &[]).await;
        let new_kid = jwt_part(after["id_token"].as_str().unwrap(), 0)["kid"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_ne!(new_kid, old_kid, "new tokens use the new key");
        assert_eq!(
            introspect(&w, before["access_token"].as_str().unwrap()).await["active"],
            true,
            "old tokens still verify"
        );
        drop(rp);
    }
}

#[tokio::test]
async fn ending_a_session_ends_the_access_tokens_issued_in_it() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let inactive = serde_json::json!({"active": false});

        // Signed out by the relying party, with an ID token as the hint.
        let browser = w.browser();
        let tokens = sign_in_and_exchange(&w, &browser, &[]).await;
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(introspect(&w, access).await["active"], true, "{name}");
        let mut url = url::Url::parse(&w.server.url("/oidc/session/end")).unwrap();
        url.query_pairs_mut()
            .append_pair("id_token_hint", tokens["id_token"].as_str().unwrap());
        assert_eq!(browser.get(url.as_str()).await.status(), 200, "{name}");
        assert_eq!(introspect(&w, access).await, inactive, "{name}: logout");
        assert_eq!(w.userinfo_status(access).await, 401, "{name}: logout");

        // Signed out from another browser in the user center ("sign out the others").
        let laptop = w.browser();
        let on_laptop = sign_in_and_exchange(&w, &laptop, &[]).await;
        let laptop_access = on_laptop["access_token"].as_str().unwrap();
        let phone = w.browser();
        let on_phone = sign_in_and_exchange(&w, &phone, &[]).await;
        let phone_access = on_phone["access_token"].as_str().unwrap();
        let html = phone
            .get(&w.server.url("/u/sessions"))
            .await
            .text()
            .await
            .unwrap();
        let csrf = hidden_value(&html, "csrf_token").expect("the sessions page has its form");
        let ended = phone
            .http
            .post(w.server.url("/u/sessions/end"))
            .form(&[("csrf_token", csrf.as_str()), ("all_others", "1")])
            .send()
            .await
            .unwrap();
        assert_eq!(ended.status(), 200, "{name}");
        assert_eq!(introspect(&w, laptop_access).await, inactive, "{name}: /u");
        assert_eq!(w.userinfo_status(laptop_access).await, 401, "{name}: /u");
        // The session that asked lives on, and so do its tokens.
        assert_eq!(introspect(&w, phone_access).await["active"], true, "{name}");
        assert_eq!(w.userinfo_status(phone_access).await, 200, "{name}");
    }
}

#[tokio::test]
async fn a_bad_id_token_hint_is_refused_at_logout() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let browser = w.browser();
        let tokens = sign_in_and_exchange(&w, &browser, &[]).await;
        let id_token = tokens["id_token"].as_str().unwrap();
        let b64 = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let payload = id_token.split('.').nth(1).unwrap();
        let unsigned = format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
        // The right header and claims under another signature.
        let (signed, signature) = id_token.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        let forged = format!("{signed}.{flipped}{}", &signature[1..]);
        let foreign = another_providers_id_token().await;
        let hints = [
            ("not a JWT", "not-a-jwt".to_owned()),
            ("alg none", unsigned),
            ("another signature", forged),
            ("another provider's, under its own key", foreign),
            (
                "an access token",
                tokens["access_token"].as_str().unwrap().to_owned(),
            ),
        ];
        for (what, hint) in hints {
            let mut url = url::Url::parse(&w.server.url("/oidc/session/end")).unwrap();
            url.query_pairs_mut()
                .append_pair("id_token_hint", &hint)
                .append_pair("post_logout_redirect_uri", POST_LOGOUT_URI)
                .append_pair("state", "bye");
            let response = browser.get(url.as_str()).await;
            assert_eq!(response.status(), 400, "{name}: {what}");
            assert!(
                response.headers().get("location").is_none(),
                "{name}: {what}"
            );
            let html = response.text().await.unwrap();
            assert!(html.contains("id_token_hint"), "{name}: {what}: {html}");
        }
        // Nothing was ended.
        let still = browser
            .authorize(&authorize_url(&w, "app", &[("prompt", "none")]))
            .await;
        assert!(still.param("code").is_some(), "{name}: still signed in");
    }
}

#[tokio::test]
async fn logout_by_a_cross_site_post_ends_the_session_its_hint_names() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let browser = w.browser();
        let tokens = sign_in_and_exchange(&w, &browser, &[]).await;
        // The relying party's page posts the form to keystep; cross-site, the browser sends
        // no SameSite=Lax cookie, so keystep sees the hint and nothing else.
        let response = w
            .http
            .post(w.server.url("/oidc/session/end"))
            .form(&[
                ("id_token_hint", tokens["id_token"].as_str().unwrap()),
                ("post_logout_redirect_uri", POST_LOGOUT_URI),
                ("state", "bye-2"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302, "{name}");
        assert_eq!(
            response.headers()["location"].to_str().unwrap(),
            format!("{POST_LOGOUT_URI}?state=bye-2")
        );
        let refreshed = refresh(&w, tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!(
            refreshed.json::<Value>().await.unwrap()["error"],
            "invalid_grant",
            "{name}: the session's refresh token is revoked"
        );
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(introspect(&w, access).await["active"], false, "{name}");
        let none = browser
            .authorize(&authorize_url(&w, "app", &[("prompt", "none")]))
            .await;
        assert_eq!(
            none.param("error"),
            Some("login_required"),
            "{name}: the browser's session ended"
        );
    }
}

#[tokio::test]
async fn an_id_token_hint_for_someone_else_asks_them_to_sign_in() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        w.add_person("grace");
        // ada's ID token, from a sign-in in another browser.
        let ada = sign_in_and_exchange(&w, &w.browser(), &[]).await;
        let hint = ada["id_token"].as_str().unwrap();
        // This browser is signed in as grace.
        let browser = w.browser();
        let grace = browser
            .sign_in(
                &w.server.url(""),
                &authorize_url(&w, "app", &[]),
                "grace",
                PASSWORD,
            )
            .await;
        assert!(grace.param("code").is_some(), "{name}");

        let none = browser
            .authorize(&authorize_url(
                &w,
                "app",
                &[("prompt", "none"), ("id_token_hint", hint)],
            ))
            .await;
        assert_eq!(none.param("error"), Some("login_required"), "{name}");
        assert_eq!(none.param("state"), Some("st-1"), "{name}");

        // Without prompt=none, whoever is at the browser signs in again; as ada, the
        // relying party gets ada.
        let callback = browser
            .sign_in(
                &w.server.url(""),
                &authorize_url(&w, "app", &[("id_token_hint", hint)]),
                "ada",
                PASSWORD,
            )
            .await;
        let code = callback.param("code").expect("a code for ada");
        let tokens: Value = w.exchange(code, Some(VERIFIER)).await.json().await.unwrap();
        let claims = jwt_part(tokens["id_token"].as_str().unwrap(), 1);
        assert_eq!(claims["sub"], w.user_id.as_str(), "{name}");

        // A hint for the person signed in is answered at once, and a hint that is not one
        // of keystep's ID tokens is an error for the relying party.
        let again = browser
            .authorize(&authorize_url(
                &w,
                "app",
                &[("prompt", "none"), ("id_token_hint", hint)],
            ))
            .await;
        assert!(again.param("code").is_some(), "{name}: {}", again.location);
        let foreign = another_providers_id_token().await;
        for hint in ["not-a-jwt", foreign.as_str()] {
            let bad = browser
                .authorize(&authorize_url(&w, "app", &[("id_token_hint", hint)]))
                .await;
            assert_eq!(bad.param("error"), Some("invalid_request"), "{name}");
            assert!(bad.location.starts_with(REDIRECT_URI), "{name}");
        }
    }
}

/// An ID token for ada from another keystep: its own issuer and its own signing keys.
async fn another_providers_id_token() -> String {
    let elsewhere = World::new(Stack::all().remove(0));
    let tokens = sign_in_and_exchange(&elsewhere, &elsewhere.browser(), &[]).await;
    tokens["id_token"].as_str().unwrap().to_owned()
}

/// POSTs a form to `path` as `client_id` with HTTP Basic authentication; the JSON answer.
async fn as_client(
    w: &World,
    client_id: &str,
    secret: &str,
    path: &str,
    form: &[(&str, &str)],
) -> Value {
    let response = w.post_as(client_id, secret, path, form).await;
    response.json().await.unwrap()
}

#[tokio::test]
async fn client_credentials_get_registered_scopes_and_resources_only() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        w.add_client(keystep_core::clients::NewClient {
            id: "api".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            introspect: true,
            resources: vec!["https://api.example/".into()],
            ..Default::default()
        });
        let cc = |extra: &'static [(&'static str, &'static str)]| {
            let mut form = vec![("grant_type", "client_credentials")];
            form.extend_from_slice(extra);
            let secret = w.client_secret.clone();
            let w = &w;
            async move { as_client(w, "app", &secret, "/oidc/token", &form).await }
        };
        // A scope the client is not registered for is refused; none asked is all registered.
        assert_eq!(
            cc(&[("scope", "reports:write")]).await["error"],
            "invalid_scope",
            "{name}"
        );
        assert_eq!(
            cc(&[("scope", "reports:read reports:write")]).await["error"],
            "invalid_scope",
            "{name}"
        );
        assert_eq!(cc(&[]).await["scope"], "reports:read", "{name}");

        // RFC 8707: a registered resource becomes the access token's audience.
        let for_api = cc(&[("resource", "https://api.example/")]).await;
        let claims = jwt_part(for_api["access_token"].as_str().unwrap(), 1);
        assert_eq!(claims["aud"], "https://api.example/", "{name}");
        let plain = cc(&[]).await;
        assert_eq!(
            jwt_part(plain["access_token"].as_str().unwrap(), 1)["aud"],
            "app"
        );
        for unknown in [
            &[("resource", "https://elsewhere.example/")][..],
            &[("resource", "not a uri")],
        ] {
            assert_eq!(
                cc(unknown).await["error"],
                "invalid_target",
                "{name}: {unknown:?}"
            );
        }

        // The resource indicator works for a person's tokens too.
        let browser = w.browser();
        let callback = browser
            .sign_in(
                &w.server.url(""),
                &authorize_url(&w, "app", &[]),
                "ada",
                PASSWORD,
            )
            .await;
        let tokens = as_client(
            &w,
            "app",
            &w.client_secret,
            "/oidc/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", callback.param("code").unwrap()),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", VERIFIER),
                ("resource", "https://api.example/"),
            ],
        )
        .await;
        let claims = jwt_part(tokens["access_token"].as_str().unwrap(), 1);
        assert_eq!(claims["aud"], "https://api.example/", "{name}");
        assert_eq!(claims["sub"], w.user_id.as_str(), "{name}");
    }
}

#[tokio::test]
async fn only_resource_servers_and_a_tokens_own_client_may_introspect_it() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let api = w.add_client(keystep_core::clients::NewClient {
            id: "api".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            introspect: true,
            ..Default::default()
        });
        let other = w.add_client(keystep_core::clients::NewClient {
            id: "other".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            ..Default::default()
        });
        let tokens = sign_in_and_exchange(&w, &w.browser(), &[]).await;
        let access = tokens["access_token"].as_str().unwrap();
        let refresh_token = tokens["refresh_token"].as_str().unwrap();
        let ask = |id: &'static str, secret: String, token: &str| {
            let w = &w;
            let token = token.to_owned();
            async move {
                as_client(
                    w,
                    id,
                    &secret,
                    "/oidc/token/introspection",
                    &[("token", &token)],
                )
                .await
            }
        };
        let inactive = serde_json::json!({"active": false});
        // Another client learns nothing about app's tokens.
        assert_eq!(
            ask("other", other.clone(), access).await,
            inactive,
            "{name}"
        );
        assert_eq!(
            ask("other", other.clone(), refresh_token).await,
            inactive,
            "{name}"
        );
        // A resource server checks access tokens, but not another client's refresh tokens.
        assert_eq!(
            ask("api", api.clone(), access).await["active"],
            true,
            "{name}"
        );
        assert_eq!(
            ask("api", api.clone(), refresh_token).await,
            inactive,
            "{name}"
        );
        // The token's own client may ask about both.
        let own = w.client_secret.clone();
        assert_eq!(
            ask("app", own.clone(), access).await["active"],
            true,
            "{name}"
        );
        assert_eq!(
            ask("app", own, refresh_token).await["active"],
            true,
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_offline_grant_of_a_client_not_registered_for_it_is_refused_at_refresh() {
    for stack in Stack::all() {
        let name = stack.name;
        let w = World::new(stack);
        let secret = w.add_client(keystep_core::clients::NewClient {
            id: "plain".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            ..Default::default()
        });
        // A grant bound to no session, as one made before clients were registered for
        // offline access.
        let token = {
            let services = &w.server.services;
            let mut conn = services.db.conn().unwrap();
            let new = keystep_core::refresh_tokens::NewRefreshGrant {
                family_id: None,
                client_id: "plain",
                user_id: &w.user_id,
                session_id: None,
                scope: "openid offline_access",
                auth_time: 0,
                acr: "aal1",
                amr: &["pwd".to_owned()],
                lifetime: 3600,
            };
            let (_, token) =
                keystep_core::refresh_tokens::issue(&mut conn, services.clock.as_ref(), &new)
                    .unwrap();
            token
        };
        let refused = as_client(
            &w,
            "plain",
            &secret,
            "/oidc/token",
            &[("grant_type", "refresh_token"), ("refresh_token", &token)],
        )
        .await;
        assert_eq!(refused["error"], "invalid_grant", "{name}: {refused}");
    }
}
