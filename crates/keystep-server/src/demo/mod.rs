//! `keystep demo`: the server with a demo person, a demo client and a small relying party at
//! `/demo`, written with the `openidconnect` crate exactly as an integrator would, so a
//! newcomer sees the whole flow in a browser: sign in, the ID token's `acr`, `amr` and
//! `auth_time`, userinfo, refresh, sign out. The relying party talks to keystep over HTTP at
//! `public_url`, like any other; its own state is in memory (a demo, one node).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use keystep_core::clients::{self, NewClient};
use keystep_core::opaque::random_token;
use keystep_core::users::{self, NewUser};
use keystep_core::{Error, Services};
use keystep_web::page::Page;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, Scope, TokenResponse,
};
use serde_json::{json, Value};

mod api;

/// The demo person's username.
pub const DEMO_USER: &str = "demo";
/// The demo client's id.
pub const DEMO_CLIENT: &str = "keystep-demo";
const COOKIE: &str = "keystep_demo";

type Rp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What `prepare` set up.
#[derive(Debug)]
pub struct DemoSetup {
    /// The demo person's new password, to print once.
    pub password: String,
    /// The demo client's secret.
    pub client_secret: String,
}

/// What the demo changes in the configuration it runs with: its relying party asks for aal2
/// with `acr_values` when its API wants step-up, and the demo person, who starts with no
/// second factor, binds one right there (`mfa.enroll_on_request`), as the demo means to show.
pub fn configure(config: &mut keystep_core::config::Config) {
    config.mfa.enroll_on_request = true;
}

/// Creates (or resets) the demo person and registers the demo client anew, so its secret is
/// known to this process.
pub fn prepare(services: &Services) -> keystep_core::Result<DemoSetup> {
    let base = services.config.public_base();
    let password = random_token()[..20].to_owned();
    let password_hash = services.passwords.hash(&password)?;
    services.db.write(|conn| {
        let clock = services.clock.as_ref();
        match users::find_by_username(conn, DEMO_USER)? {
            Some(user) => users::set_password_hash(conn, clock, &user.id, &password_hash)?,
            None => {
                users::insert_user(
                    conn,
                    clock,
                    &NewUser {
                        username: DEMO_USER,
                        email: "demo@example.com",
                        display_name: "Demo Person",
                        password: &password,
                    },
                    password_hash,
                )?;
            }
        }
        match clients::remove_client(conn, DEMO_CLIENT) {
            Ok(()) | Err(Error::ClientNotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let (_, secret) = clients::create_client(
            conn,
            clock,
            &NewClient {
                id: DEMO_CLIENT.into(),
                display_name: "keystep demo application".into(),
                redirect_uris: vec![format!("{base}/demo/callback")],
                post_logout_redirect_uris: vec![format!("{base}/demo")],
                ..NewClient::default()
            },
        )?;
        let client_secret = secret.map(|s| s.expose().to_owned()).unwrap_or_default();
        Ok(DemoSetup {
            password: password.clone(),
            client_secret,
        })
    })
}

/// The relying party's state.
pub struct Demo {
    base: String,
    client_secret: String,
    http: reqwest::Client,
    rp: Mutex<Option<Rp>>,
    sessions: Mutex<HashMap<String, DemoSession>>,
}

#[derive(Default, Clone)]
struct DemoSession {
    pending: Option<(String, String, String)>,
    id_token: Option<String>,
    access_token: Option<String>,
    refresh_token: Option<String>,
    claims: Option<Value>,
    userinfo: Option<Value>,
    notice: Option<String>,
    error: Option<String>,
    api: Option<Value>,
}

impl Demo {
    /// The relying party for `public_url`, with the demo client's secret.
    pub fn new(services: &Services, setup: &DemoSetup) -> Result<Self, String> {
        let http = reqwest::ClientBuilder::new()
            // Following redirects from the provider would be an SSRF vector.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            base: services.config.public_base(),
            client_secret: setup.client_secret.clone(),
            http,
            rp: Mutex::new(None),
            sessions: Mutex::new(HashMap::new()),
        })
    }

    async fn rp(&self) -> Result<Rp, String> {
        if let Some(rp) = self.rp.lock().map_err(|_| "poisoned")?.clone() {
            return Ok(rp);
        }
        let issuer = IssuerUrl::new(format!("{}/oidc", self.base)).map_err(|e| e.to_string())?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| format!("discovery failed: {e}"))?;
        let redirect =
            RedirectUrl::new(format!("{}/demo/callback", self.base)).map_err(|e| e.to_string())?;
        let rp = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(DEMO_CLIENT.into()),
            Some(ClientSecret::new(self.client_secret.clone())),
        )
        .set_redirect_uri(redirect);
        *self.rp.lock().map_err(|_| "poisoned")? = Some(rp.clone());
        Ok(rp)
    }

    fn session(&self, id: &str) -> DemoSession {
        self.sessions
            .lock()
            .ok()
            .and_then(|s| s.get(id).cloned())
            .unwrap_or_default()
    }

    fn save(&self, id: &str, session: DemoSession) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.insert(id.to_owned(), session);
        }
    }
}

/// Registers `/demo…`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/demo", web::get().to(get_demo))
        .route("/demo/login", web::get().to(get_login))
        .route("/demo/callback", web::get().to(get_callback))
        .route("/demo/userinfo", web::post().to(post_userinfo))
        .route("/demo/refresh", web::post().to(post_refresh))
        .route("/demo/logout", web::get().to(get_logout))
        .route("/demo/call-api", web::post().to(api::post_call_api))
        .route("/demo/api/report", web::get().to(api::get_api_report));
}

/// A browser at the demo: the relying party, the browser's demo session id, and the cookie
/// naming it when the id is new (set on whatever the handler answers).
struct Visit {
    demo: web::Data<Demo>,
    id: String,
    cookie: Option<Cookie<'static>>,
}

impl FromRequest for Visit {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(demo) = req.app_data::<web::Data<Demo>>().cloned() else {
            return std::future::ready(Err(actix_web::error::ErrorInternalServerError(
                "no demo relying party",
            )));
        };
        let (id, cookie) = match req
            .cookie(COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|v| v.len() == 43)
        {
            Some(id) => (id, None),
            None => {
                let id = random_token();
                // SameSite=Strict: the demo's POST buttons need no CSRF token of their own.
                let cookie = Cookie::build(COOKIE, id.clone())
                    .path("/demo")
                    .http_only(true)
                    .same_site(SameSite::Strict)
                    .finish();
                (id, Some(cookie))
            }
        };
        std::future::ready(Ok(Self { demo, id, cookie }))
    }
}

impl Visit {
    fn session(&self) -> DemoSession {
        self.demo.session(&self.id)
    }

    fn save(&self, session: DemoSession) {
        self.demo.save(&self.id, session);
    }

    /// A 302 to `location`, with the session cookie when it is new.
    fn redirect(self, location: &str) -> HttpResponse {
        redirect(location, self.cookie)
    }

    /// Back to the demo page, which shows `detail` as the error.
    fn fail(self, detail: impl Into<String>) -> HttpResponse {
        let detail = detail.into();
        tracing::warn!(detail, "demo relying party");
        // Discover again next time: the provider's keys may have rotated.
        if let Ok(mut rp) = self.demo.rp.lock() {
            *rp = None;
        }
        let mut session = self.session();
        session.error = Some(detail);
        self.save(session);
        self.redirect("/demo")
    }
}

fn redirect(location: &str, cookie: Option<Cookie<'static>>) -> HttpResponse {
    let mut response = HttpResponse::Found()
        .insert_header(("Location", location.to_owned()))
        .insert_header(("Cache-Control", "no-store"))
        .finish();
    if let Some(cookie) = cookie {
        let _ = response.add_cookie(&cookie);
    }
    response
}

fn time_text(unix: i64) -> String {
    format!("{unix} ({} UTC)", {
        let of_day = unix.rem_euclid(86_400);
        format!(
            "{:02}:{:02}:{:02}",
            of_day / 3600,
            (of_day % 3600) / 60,
            of_day % 60
        )
    })
}

async fn get_demo(page: Page, visit: Visit) -> HttpResponse {
    let mut session = visit.session();
    let lang = page.lang(None);
    let claims = session.claims.clone().unwrap_or(Value::Null);
    let amr = claims["amr"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let context = json!({
        "signed_in": session.claims.is_some(),
        "username": DEMO_USER,
        "name": claims["name"].as_str().or(claims["sub"].as_str()).unwrap_or_default(),
        "acr": claims["acr"],
        "amr": amr,
        "auth_time": claims["auth_time"].as_i64().map(time_text),
        "sid": claims["sid"],
        "claims_json": serde_json::to_string_pretty(&claims).unwrap_or_default(),
        "userinfo_json": session.userinfo.as_ref().map(|u| serde_json::to_string_pretty(u).unwrap_or_default()),
        "api": session.api.take(),
        "notice": session.notice.take(),
        "error": session.error.take(),
    });
    visit.save(session);
    let mut response = page.render(StatusCode::OK, "demo", &lang, context);
    if let Some(cookie) = visit.cookie {
        let _ = response.add_cookie(&cookie);
    }
    response
}

/// `/demo/login?acr_values=…&max_age=…`: the step-up button passes what the API demanded.
#[derive(Debug, serde::Deserialize)]
struct LoginQuery {
    acr_values: Option<String>,
    max_age: Option<i64>,
}

async fn get_login(visit: Visit, query: web::Query<LoginQuery>) -> HttpResponse {
    let rp = match visit.demo.rp().await {
        Ok(rp) => rp,
        Err(e) => return visit.fail(e),
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let request = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_extra_param("claims", r#"{"id_token":{"name":null,"email":null}}"#)
        .set_pkce_challenge(challenge);
    let (url, state, nonce) = match (&query.acr_values, query.max_age) {
        (Some(acr), Some(max_age)) => request
            .add_extra_param("acr_values", acr.clone())
            .add_extra_param("max_age", max_age.to_string())
            .url(),
        (Some(acr), None) => request.add_extra_param("acr_values", acr.clone()).url(),
        _ => request.url(),
    };
    let mut session = visit.session();
    session.pending = Some((
        state.secret().clone(),
        nonce.secret().clone(),
        verifier.secret().clone(),
    ));
    visit.save(session);
    visit.redirect(url.as_str())
}

/// The callback query.
#[derive(Debug, serde::Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn get_callback(visit: Visit, query: web::Query<Callback>) -> HttpResponse {
    let query = query.into_inner();
    let mut session = visit.session();
    let Some((expected_state, nonce, verifier)) = session.pending.take() else {
        return visit.fail("no sign-in was started in this browser");
    };
    visit.save(session.clone());
    if query.state.as_deref() != Some(expected_state.as_str()) {
        return visit.fail("state does not match (possible CSRF)");
    }
    if let Some(error) = query.error {
        return visit.fail(format!(
            "{error}: {}",
            query.error_description.unwrap_or_default()
        ));
    }
    // RFC 9207: the response must come from our issuer.
    if query.iss.as_deref() != Some(format!("{}/oidc", visit.demo.base).as_str()) {
        return visit.fail("iss does not match the issuer (mix-up attack?)");
    }
    let Some(code) = query.code else {
        return visit.fail("no code in the response");
    };
    let rp = match visit.demo.rp().await {
        Ok(rp) => rp,
        Err(e) => return visit.fail(e),
    };
    let request = match rp.exchange_code(AuthorizationCode::new(code)) {
        Ok(r) => r,
        Err(e) => return visit.fail(e.to_string()),
    };
    let tokens = match request
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&visit.demo.http)
        .await
    {
        Ok(t) => t,
        Err(e) => return visit.fail(format!("token exchange failed: {e}")),
    };
    let Some(id_token) = tokens.id_token() else {
        return visit.fail("no ID token");
    };
    if let Err(e) = id_token.claims(&rp.id_token_verifier(), &Nonce::new(nonce)) {
        return visit.fail(format!("ID token rejected: {e}"));
    }
    session.claims = claims_of(&id_token.to_string());
    session.id_token = Some(id_token.to_string());
    session.access_token = Some(tokens.access_token().secret().clone());
    session.refresh_token = tokens.refresh_token().map(|r| r.secret().clone());
    session.userinfo = None;
    visit.save(session);
    visit.redirect("/demo")
}

/// The payload of a JWT whose signature was already verified.
fn claims_of(jwt: &str) -> Option<Value> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?,
    )
    .ok()
}

async fn post_userinfo(visit: Visit) -> HttpResponse {
    let mut session = visit.session();
    let (Some(access), Ok(rp)) = (session.access_token.clone(), visit.demo.rp().await) else {
        return visit.redirect("/demo");
    };
    let request = match rp.user_info(openidconnect::AccessToken::new(access), None) {
        Ok(r) => r,
        Err(e) => return visit.fail(e.to_string()),
    };
    let result: Result<CoreUserInfoClaims, _> = request.request_async(&visit.demo.http).await;
    match result {
        Ok(info) => session.userinfo = serde_json::to_value(&info).ok(),
        Err(e) => session.error = Some(format!("userinfo failed: {e}")),
    }
    visit.save(session);
    visit.redirect("/demo")
}

async fn post_refresh(page: Page, visit: Visit) -> HttpResponse {
    let mut session = visit.session();
    let (Some(refresh), Ok(rp)) = (session.refresh_token.clone(), visit.demo.rp().await) else {
        return visit.redirect("/demo");
    };
    let token = RefreshToken::new(refresh);
    let request = match rp.exchange_refresh_token(&token) {
        Ok(r) => r,
        Err(e) => return visit.fail(e.to_string()),
    };
    match request.request_async(&visit.demo.http).await {
        Ok(tokens) => {
            session.access_token = Some(tokens.access_token().secret().clone());
            session.refresh_token = tokens.refresh_token().map(|r| r.secret().clone());
            if let Some(id_token) = tokens.id_token() {
                session.claims = claims_of(&id_token.to_string()).or(session.claims);
                session.id_token = Some(id_token.to_string());
            }
            session.notice = Some(page.message(&page.lang(None), "demo.refreshed", &[]));
        }
        Err(e) => session.error = Some(format!("refresh failed: {e}")),
    }
    visit.save(session);
    visit.redirect("/demo")
}

async fn get_logout(visit: Visit) -> HttpResponse {
    let session = visit.session();
    visit.save(DemoSession::default());
    let mut url = match url::Url::parse(&format!("{}/oidc/session/end", visit.demo.base)) {
        Ok(url) => url,
        Err(e) => return visit.fail(e.to_string()),
    };
    {
        let mut query = url.query_pairs_mut();
        if let Some(hint) = &session.id_token {
            query.append_pair("id_token_hint", hint);
        }
        query.append_pair("client_id", DEMO_CLIENT).append_pair(
            "post_logout_redirect_uri",
            &format!("{}/demo", visit.demo.base),
        );
    }
    visit.redirect(url.as_str())
}

/// Wraps the demo for the app factory.
pub fn data(demo: Demo) -> web::Data<Demo> {
    web::Data::from(Arc::new(demo))
}
