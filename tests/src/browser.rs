//! A person's browser and a relying party, for black-box tests of the OpenID flows: the
//! browser holds cookies and never follows redirects (tests look at each hop); the relying
//! party is the `openidconnect` crate, configured from discovery like any real one.

use std::collections::HashMap;

use keystep_core::clients::{self, NewClient};
use keystep_core::clock::Clock;
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
/// The PKCE verifier of [`World::authorize_url`] (RFC 7636 appendix B).
pub const PKCE_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// Its S256 challenge.
pub const PKCE_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

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
                offline_access: true,
                scopes: vec!["reports:read".into()],
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
        // A public client that demands a second factor of everyone.
        clients::create_client(
            &mut conn,
            services.clock.as_ref(),
            &NewClient {
                id: "strict".into(),
                display_name: "Strict App".into(),
                public: true,
                redirect_uris: vec![REDIRECT_URI.into()],
                mfa_policy: clients::MfaPolicy::Required,
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

    /// An authorization request for `client_id` with the code flow, PKCE (S256 of
    /// [`PKCE_VERIFIER`]), `state=s`, `nonce=n` and `scope=openid` (unless `extra` has a
    /// scope), plus `extra` parameters.
    pub fn authorize_url(&self, client_id: &str, extra: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&self.server.url("/oidc/auth")).unwrap();
        if !extra.iter().any(|(name, _)| *name == "scope") {
            url.query_pairs_mut().append_pair("scope", "openid");
        }
        url.query_pairs_mut()
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("response_type", "code")
            .append_pair("state", "s")
            .append_pair("nonce", "n")
            .append_pair("code_challenge", PKCE_CHALLENGE)
            .append_pair("code_challenge_method", "S256")
            .extend_pairs(extra);
        url.to_string()
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

    /// Binds a TOTP authenticator to ada (as a finished enrollment would) and returns its
    /// secret.
    pub fn bind_totp(&self) -> Vec<u8> {
        let services = &self.server.services;
        let mut conn = services.db.conn().unwrap();
        let secret = keystep_mfa::totp::new_secret();
        keystep_mfa::totp::bind(services, &mut conn, &self.user_id, &secret, 0).unwrap();
        secret
    }

    /// The TOTP code for `secret` at the server's current time.
    pub fn totp_now(&self, secret: &[u8]) -> String {
        totp_code(secret, self.server.clock.now())
    }

    /// Mails in the server's outbox, oldest first: headers and the decoded text part.
    pub fn outbox(&self) -> Vec<String> {
        self.server.outbox()
    }

    /// Registers one more confidential client; returns its secret.
    pub fn add_client(&self, client: NewClient) -> String {
        let services = &self.server.services;
        let mut conn = services.db.conn().unwrap();
        let (_, secret) =
            clients::create_client(&mut conn, services.clock.as_ref(), &client).unwrap();
        secret.expect("a confidential client").expose().to_owned()
    }

    /// Registers one more person, `username`, with [`PASSWORD`]; returns their `sub`.
    pub fn add_person(&self, username: &str) -> String {
        let services = &self.server.services;
        let mut conn = services.db.conn().unwrap();
        let email = format!("{username}@example.com");
        let user = users::create_user(
            &mut conn,
            &services.passwords,
            services.clock.as_ref(),
            &NewUser {
                username,
                email: &email,
                display_name: username,
                password: PASSWORD,
            },
        )
        .unwrap();
        user.id
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

    /// The status userinfo answers for the access token `access`.
    pub async fn userinfo_status(&self, access: &str) -> u16 {
        let me = self
            .http
            .get(self.server.url("/oidc/me"))
            .bearer_auth(access);
        me.send().await.unwrap().status().as_u16()
    }

    /// POSTs a form to a path on the server (the relying party's back channel), with HTTP
    /// Basic authentication as `app` when `basic` is true.
    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        basic: bool,
    ) -> reqwest::Response {
        if basic {
            return self.post_as("app", &self.client_secret, path, form).await;
        }
        self.http
            .post(self.server.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// POSTs a form to `path` as `client_id`, authenticated with HTTP Basic.
    pub async fn post_as(
        &self,
        client_id: &str,
        secret: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.server.url(path))
            .basic_auth(client_id, Some(secret))
            .form(form)
            .send()
            .await
            .unwrap()
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

/// The `href` that follows `marker` (say `class="button"`) in a page, unescaped.
pub fn href_after(html: &str, marker: &str) -> Option<String> {
    let start = format!("{marker} href=\"");
    let rest = html.split(start.as_str()).nth(1)?;
    Some(
        rest.split('"')
            .next()?
            .replace("&amp;", "&")
            .replace("&#x3D;", "="),
    )
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

/// The 6-digit TOTP code (SHA-1, 30 s) for `secret` at `unix`, computed independently of
/// keystep with the RFC 6238 algorithm as apps do.
pub fn totp_code(secret: &[u8], unix: i64) -> String {
    use std::fmt::Write;
    let counter = (unix / 30).to_be_bytes();
    let mac = hmac_sha1(secret, &counter);
    let offset = usize::from(mac[19] & 0x0f);
    let binary = (u32::from(mac[offset] & 0x7f) << 24)
        | (u32::from(mac[offset + 1]) << 16)
        | (u32::from(mac[offset + 2]) << 8)
        | u32::from(mac[offset + 3]);
    let mut out = String::new();
    write!(out, "{:06}", binary % 1_000_000).unwrap();
    out
}

/// HMAC-SHA-1 (RFC 2104) over SHA-1 from the `sha1` reference: small enough to write here,
/// so the tests do not share code with what they test.
fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let inner: Vec<u8> = block
        .iter()
        .map(|b| b ^ 0x36)
        .chain(message.iter().copied())
        .collect();
    let inner_hash = sha1(&inner);
    let outer: Vec<u8> = block
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(inner_hash.iter().copied())
        .collect();
    sha1(&outer)
}

fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut message = data.to_vec();
    let bit_len = (data.len() as u64) * 8;
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_len.to_be_bytes());
    for chunk in message.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                chunk[4 * i],
                chunk[4 * i + 1],
                chunk[4 * i + 2],
                chunk[4 * i + 3],
            ]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let (mut a, mut b, mut c, mut d, mut e) = (h[0], h[1], h[2], h[3], h[4]);
        for (i, word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | ((!b) & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let temp = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = temp;
        }
        h[0] = h[0].wrapping_add(a);
        h[1] = h[1].wrapping_add(b);
        h[2] = h[2].wrapping_add(c);
        h[3] = h[3].wrapping_add(d);
        h[4] = h[4].wrapping_add(e);
    }
    let mut out = [0u8; 20];
    for (i, word) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// The text of the element with `id` (its first text node), entities for & " < > undone.
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\"");
    let at = html.find(&marker)?;
    let start = html[at..].find('>')? + at + 1;
    let end = html[start..].find('<')? + start;
    Some(
        html[start..end]
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#x3D;", "="),
    )
}

/// Every `<code>` inside the element with `id`.
pub fn codes_in(html: &str, id: &str) -> Vec<String> {
    let Some(at) = html.find(&format!("id=\"{id}\"")) else {
        return vec![];
    };
    let end = html[at..].find("</ul>").map_or(html.len(), |e| e + at);
    html[at..end]
        .split("<code>")
        .skip(1)
        .filter_map(|c| c.split("</code>").next())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B (SHA-1), last six digits.
    #[test]
    fn independent_totp_matches_the_rfc() {
        let secret = b"12345678901234567890";
        assert_eq!(totp_code(secret, 59), "287082");
        assert_eq!(totp_code(secret, 1_111_111_109), "081804");
        assert_eq!(totp_code(secret, 1_234_567_890), "005924");
        assert_eq!(totp_code(secret, 20_000_000_000), "353130");
    }
}
