//! Two nodes behind one load balancer, sharing PostgreSQL and Redis: each has its own process
//! state (connection pools, key cache, hashing pool) and they meet only in the stores. A code
//! is redeemed once across both, a refresh race across both has one winner, a TOTP step
//! accepted on one is refused on the other, a session is one session on both, and a key
//! rotated by the operator reaches both within the key cache's 30 seconds. Runs on the
//! PostgreSQL + Redis stack only: SQLite with the in-process store is one node by design.

use std::sync::Arc;
use std::time::Duration;

use keystep_server::app::RunningServer;
use keystep_tests::browser::{hidden_value, Browser, World, PASSWORD, REDIRECT_URI};
use keystep_tests::Stack;
use serde_json::Value;
use tokio::task::JoinSet;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Node A (the `World`'s server, whose address is the `public_url`) and node B.
struct Pair {
    w: World,
    b: RunningServer,
}

impl Pair {
    /// A pair on the PostgreSQL + Redis stack, or `None` when this run has no such stack.
    fn start(configure: impl FnOnce(&mut keystep_core::config::Config)) -> Option<Arc<Self>> {
        let stack = Stack::all().into_iter().find(|s| s.redis_url.is_some())?;
        let w = World::with(stack, configure);
        let b = w.server.another_node();
        Some(Arc::new(Self { w, b }))
    }

    fn a(&self, path: &str) -> String {
        self.w.server.url(path)
    }

    fn b(&self, path: &str) -> String {
        format!("{}{path}", self.b.url())
    }

    /// The same URL on node B: redirects name the `public_url`, which is node A's address.
    fn on_b(&self, url: &str) -> String {
        url.replacen(&self.w.server.url(""), &self.b.url(), 1)
    }

    fn authorize_url(&self, base: &str, extra: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&format!("{base}/oidc/auth")).unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", "app")
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid")
            .append_pair("state", "s")
            .append_pair("code_challenge", CHALLENGE)
            .append_pair("code_challenge_method", "S256")
            .extend_pairs(extra);
        url.to_string()
    }

    /// Exchanges `code` at the node at `base` as `app`.
    async fn exchange(&self, base: String, code: &str) -> (u16, String) {
        self.post_as_app(
            format!("{base}/oidc/token"),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
    }

    /// POSTs a form to `url` as the `app` client (HTTP Basic).
    async fn post_as_app(&self, url: String, form: &[(&str, &str)]) -> (u16, String) {
        let response = self
            .w
            .http
            .post(url)
            .basic_auth("app", Some(&self.w.client_secret))
            .form(form)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// Races `f(node)` 20 times on each node at once; returns the answers, none of them a 5xx.
async fn race_on_both<F, Fut>(pair: &Arc<Pair>, f: F) -> Vec<(u16, String)>
where
    F: Fn(Arc<Pair>, String) -> Fut,
    Fut: std::future::Future<Output = (u16, String)> + Send + 'static,
{
    let mut answers = JoinSet::new();
    for n in 0..40 {
        let base = if n % 2 == 0 { pair.a("") } else { pair.b("") };
        answers.spawn(f(pair.clone(), base));
    }
    let mut all = Vec::new();
    while let Some(answer) = answers.join_next().await {
        let (status, body) = answer.unwrap();
        assert!(status < 500, "answered {status}: {body}");
        all.push((status, body));
    }
    all
}

/// One winner with 200, every other answer a 400 `invalid_grant`.
fn one_winner(answers: &[(u16, String)]) {
    assert_eq!(answers.iter().filter(|(s, _)| *s == 200).count(), 1);
    for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, 400, "{body}");
        assert_eq!(
            serde_json::from_str::<Value>(body).unwrap()["error"],
            "invalid_grant",
            "{body}"
        );
    }
}

/// Signs ada in at node A and returns the authorization code.
async fn code_from_a(pair: &Pair, browser: &Browser) -> String {
    let callback = browser
        .sign_in(
            &pair.a(""),
            &pair.authorize_url(&pair.a(""), &[]),
            "ada",
            PASSWORD,
        )
        .await;
    callback.param("code").unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_code_from_node_a_is_redeemed_once_across_both_nodes() {
    let Some(pair) = Pair::start(|_| {}) else {
        return;
    };
    let code = code_from_a(&pair, &pair.w.browser()).await;
    let answers = race_on_both(&pair, move |pair, base| {
        let code = code.clone();
        async move { pair.exchange(base, &code).await }
    })
    .await;
    one_winner(&answers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_race_across_both_nodes_has_one_winner() {
    let Some(pair) = Pair::start(|_| {}) else {
        return;
    };
    let code = code_from_a(&pair, &pair.w.browser()).await;
    // Exchanged at node B: a code issued through A is good at B.
    let (status, body) = pair.exchange(pair.b(""), &code).await;
    assert_eq!(status, 200, "{body}");
    let tokens: Value = serde_json::from_str(&body).unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let answers = race_on_both(&pair, move |pair, base| {
        let token = refresh_token.clone();
        async move {
            pair.post_as_app(
                format!("{base}/oidc/token"),
                &[("grant_type", "refresh_token"), ("refresh_token", &token)],
            )
            .await
        }
    })
    .await;
    one_winner(&answers);
}

/// Takes a browser past the password at `base`'s node; returns the second-factor form's
/// URL on that node and its hidden fields.
async fn at_second_step(pair: &Pair, browser: &Browser, base: &str) -> (String, String) {
    let to_login = browser.authorize(&pair.authorize_url(base, &[])).await;
    let page = browser
        .login_page(&pair.on_node(base, &to_login.location))
        .await;
    let response = browser.submit_login(base, &page, "ada", PASSWORD).await;
    assert_eq!(response.status(), 303);
    let next = browser
        .authorize(&pair.on_node(base, &location(&response)))
        .await;
    assert!(next.location.contains("/login/mfa?"), "{}", next.location);
    let html = browser
        .get(&pair.on_node(base, &next.location))
        .await
        .text()
        .await
        .unwrap();
    (
        hidden_value(&html, "csrf_token").unwrap(),
        hidden_value(&html, "interaction").unwrap(),
    )
}

impl Pair {
    /// `url` (which names node A) on the node at `base`.
    fn on_node(&self, base: &str, url: &str) -> String {
        if base == self.b("") {
            self.on_b(url)
        } else {
            url.to_owned()
        }
    }
}

#[tokio::test]
async fn a_totp_step_accepted_on_node_a_is_refused_on_node_b() {
    let Some(pair) = Pair::start(|_| {}) else {
        return;
    };
    let secret = pair.w.bind_totp();
    let on_a = pair.w.browser();
    let on_b = pair.w.browser();
    let (csrf_a, interaction_a) = at_second_step(&pair, &on_a, &pair.a("")).await;
    let (csrf_b, interaction_b) = at_second_step(&pair, &on_b, &pair.b("")).await;
    let code = pair.w.totp_now(&secret);
    let accepted = on_a
        .http
        .post(pair.a("/login/mfa"))
        .form(&[
            ("csrf_token", csrf_a.as_str()),
            ("interaction", &interaction_a),
            ("code", &code),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 303, "node A takes the code");
    let replayed = on_b
        .http
        .post(pair.b("/login/mfa"))
        .form(&[
            ("csrf_token", csrf_b.as_str()),
            ("interaction", &interaction_b),
            ("code", &code),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 401, "node B refuses the same step");
}

#[tokio::test]
async fn a_session_started_on_node_a_is_ended_on_node_b() {
    let Some(pair) = Pair::start(|_| {}) else {
        return;
    };
    // Cookies are per host, not per port: one browser carries the session to both nodes.
    let browser = pair.w.browser();
    code_from_a(&pair, &browser).await;
    let silent = |base: String| pair.authorize_url(&base, &[("prompt", "none")]);
    assert!(
        browser
            .authorize(&silent(pair.b("")))
            .await
            .param("code")
            .is_some(),
        "the session from A is valid on B"
    );

    let page = browser
        .get(&pair.b("/oidc/session/end"))
        .await
        .text()
        .await
        .unwrap();
    let csrf = hidden_value(&page, "csrf_token").unwrap();
    let ended = browser
        .http
        .post(pair.b("/oidc/session/end/confirm"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(ended.status().is_success() || ended.status().is_redirection());
    let after = browser.authorize(&silent(pair.a(""))).await;
    assert_eq!(
        after.param("error"),
        Some("login_required"),
        "ended on B, so gone on A: {}",
        after.location
    );
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_key_rotated_by_the_operator_reaches_both_nodes_within_the_cache_time() {
    let Some(pair) = Pair::start(|_| {}) else {
        return;
    };
    let jwks = |url: String| async move {
        reqwest::get(url)
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    // Both nodes have loaded (and cached) the keys.
    let before = kids(&jwks(pair.a("/oidc/jwks")).await);
    assert_eq!(before, kids(&jwks(pair.b("/oidc/jwks")).await));

    let mut out = Vec::new();
    // `--now`: the new keys sign at once, so both nodes must have dropped their cache.
    keystep_server::commands::keys_rotate(&pair.w.server.services, &mut out, true).unwrap();
    pair.w.server.clock.advance(Duration::from_secs(31));

    for jwks_url in [pair.a("/oidc/jwks"), pair.b("/oidc/jwks")] {
        let after = kids(&jwks(jwks_url.clone()).await);
        let new: Vec<_> = after.iter().filter(|k| !before.contains(k)).collect();
        assert!(
            !new.is_empty(),
            "{jwks_url} publishes the new keys: {after:?}"
        );
        assert!(
            before.iter().all(|k| after.contains(k)),
            "{jwks_url} still publishes the retired keys for their tokens"
        );
    }
    // Node B signs with a new key.
    let browser = pair.w.browser();
    let code = code_from_a(&pair, &browser).await;
    let (status, body) = pair.exchange(pair.b(""), &code).await;
    assert_eq!(status, 200, "{body}");
    let id_token = serde_json::from_str::<Value>(&body).unwrap()["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let kid = jsonwebtoken_kid(&id_token);
    assert!(
        !before.contains(&kid),
        "node B signed with a rotated-out key {kid}"
    );
}

fn jsonwebtoken_kid(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}
