//! A person's browser and a relying party, for black-box tests of the OpenID flows: the
//! browser holds cookies and never follows redirects (tests look at each hop); the relying
//! party is the `openidconnect` crate, configured from discovery like any real one.

use std::collections::HashMap;

use keystep_core::clients::{self, NewClient};
use keystep_core::users::{self, NewUser};
use openidconnect::core::CoreClient;
use openidconnect::{
    ClientId, ClientSecret, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, RedirectUrl,
};

use crate::{Stack, TestServer};

/// The relying party type `CoreClient::from_provider_metadata` gives.
pub type Rp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Where the test relying party says it lives (never contacted: tests read the Location).
pub const REDIRECT_URI: &str = "https://rp.example/callback";
/// Its post-logout landing page.
pub const POST_LOGOUT_URI: &str = "https://rp.example/signed-out";
/// The person's password.
pub const PASSWORD: &str = "correct horse battery";

/// A server with a person (`ada`), a confidential client (`app`) and a public one (`spa`).
pub struct World {
    /// The server.
    pub server: TestServer,
    /// ada's `sub`.
    pub user_id: String,
    /// `app`'s secret.
    pub client_secret: String,
    /// An HTTP client without cookies or redirects, for the relying party's back channel.
    pub http: reqwest::Client,
}

impl World {
    /// Starts a server on `stack` and registers the cast.
    pub fn new(stack: Stack) -> Self {
        Self::with(stack, |_| {})
    }

    /// Like [`World::new`], adjusting the configuration first.
    pub fn with(stack: Stack, configure: impl FnOnce(&mut keystep_core::config::Config)) -> Self {
        let server = TestServer::start(stack, configure);
        let services = &server.services;
        let mut conn = services.db.conn().unwrap();
        let user = users::create_user(
            &mut conn,
            &services.passwords,
            services.clock.as_ref(),
            &NewUser {
                username: "ada",
                email: "ada@example.com",
                display_name: "Ada Lovelace",
                password: PASSWORD,
            },
        )
        .unwrap();
        let (_, secret) = clients::create_client(
            &mut conn,
            services.clock.as_ref(),
            &NewClient {
                id: "app".into(),
                display_name: "The App".into(),
                redirect_uris: vec![REDIRECT_URI.into()],
                post_logout_redirect_uris: vec![POST_LOGOUT_URI.into()],
                ..NewClient::default()
            },
        )
        .unwrap();
        clients::create_client(
            &mut conn,
            services.clock.as_ref(),
            &NewClient {
                id: "spa".into(),
                public: true,
                redirect_uris: vec![REDIRECT_URI.into()],
                ..NewClient::default()
            },
        )
        .unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            server,
            user_id: user.id,
            client_secret: secret.unwrap().expose().to_owned(),
            http,
        }
    }

    /// The issuer.
    pub fn issuer(&self) -> String {
        self.server.url("/oidc")
    }

    /// A relying party for `app`, configured by discovery.
    pub async fn rp(&self) -> Rp {
        let issuer = IssuerUrl::new(self.issuer()).unwrap();
        let metadata =
            openidconnect::core::CoreProviderMetadata::discover_async(issuer, &self.http)
                .await
                .unwrap();
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new("app".into()),
            Some(ClientSecret::new(self.client_secret.clone())),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap())
    }

    /// A browser with an empty cookie jar.
    pub fn browser(&self) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .build()
                .unwrap(),
        }
    }

    /// POSTs a form to a path on the server (the relying party's back channel), with HTTP
    /// Basic authentication as `app` when `basic` is true.
    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        basic: bool,
    ) -> reqwest::Response {
        let mut request = self.http.post(self.server.url(path)).form(form);
        if basic {
            request = request.basic_auth("app", Some(&self.client_secret));
        }
        request.send().await.unwrap()
    }

    /// Exchanges a code as `app` (client_secret_basic) with `verifier`.
    pub async fn exchange(&self, code: &str, verifier: Option<&str>) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.post_form("/oidc/token", &form, true).await
    }
}

/// The login form as the browser sees it.
#[derive(Debug, Clone)]
pub struct LoginPage {
    /// The page's URL.
    pub url: String,
    /// The HTML.
    pub html: String,
    /// Hidden `csrf_token`.
    pub csrf_token: String,
    /// Hidden `interaction`.
    pub interaction: String,
}

/// Where a redirect went, with its query.
#[derive(Debug, Clone)]
pub struct Redirect {
    /// The full Location.
    pub location: String,
    /// Its query parameters.
    pub query: HashMap<String, String>,
}

impl Redirect {
    fn parse(location: &str) -> Self {
        let url =
            url::Url::parse(location).unwrap_or_else(|e| panic!("bad Location {location}: {e}"));
        Self {
            location: location.to_owned(),
            query: url.query_pairs().into_owned().collect(),
        }
    }

    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
}

/// Reads `name="…" value="…"` of a hidden input.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&amp;", "&")
            .replace("&#x3D;", "=")
            .replace("&quot;", "\""),
    )
}

/// A browser: cookies kept, redirects not followed.
pub struct Browser {
    /// The HTTP client.
    pub http: reqwest::Client,
}

fn location(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
}

impl Browser {
    /// GET.
    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.unwrap()
    }

    /// Opens an authorization URL. Returns the redirect keystep answers with.
    pub async fn authorize(&self, url: &str) -> Redirect {
        let response = self.get(url).await;
        assert!(
            response.status().is_redirection(),
            "authorize answered {} instead of a redirect: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
        Redirect::parse(&location(&response).unwrap())
    }

    /// Loads the login page at `url`.
    pub async fn login_page(&self, url: &str) -> LoginPage {
        let response = self.get(url).await;
        assert_eq!(response.status(), 200, "login page {url}");
        let html = response.text().await.unwrap();
        LoginPage {
            url: url.to_owned(),
            csrf_token: hidden_value(&html, "csrf_token").expect("csrf_token field"),
            interaction: hidden_value(&html, "interaction").unwrap_or_default(),
            html,
        }
    }

    /// Submits the login form; returns the raw response.
    pub async fn submit_login(
        &self,
        base: &str,
        page: &LoginPage,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        self.http
            .post(format!("{base}/login"))
            .form(&[
                ("csrf_token", page.csrf_token.as_str()),
                ("interaction", page.interaction.as_str()),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Signs in through the hosted login, starting from an authorization URL, and returns
    /// the final redirect to the relying party.
    pub async fn sign_in(
        &self,
        base: &str,
        authorize_url: &str,
        username: &str,
        password: &str,
    ) -> Redirect {
        let to_login = self.authorize(authorize_url).await;
        assert!(
            to_login
                .location
                .starts_with(&format!("{base}/login?interaction=")),
            "expected the login page, got {}",
            to_login.location
        );
        let page = self.login_page(&to_login.location).await;
        let response = self.submit_login(base, &page, username, password).await;
        assert_eq!(
            response.status(),
            303,
            "login answered {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
        let resume = location(&response).unwrap();
        self.authorize(&resume).await
    }
}
