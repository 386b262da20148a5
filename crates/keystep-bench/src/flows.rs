//! The multi-step cases as a browser and a relying party walk them: the authorization request
//! with PKCE, the login page's CSRF field and interaction, the cookies the server sets, the
//! redirect back with a code, and the code exchanged for tokens. Each flow keeps its own
//! cookies, so 32 connections are 32 browsers.

use serde_json::Value;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::cases::{answer_has, cut, json_of, Context};
use crate::server::Person;
use crate::totp::{self, Mailbox, TotpPerson};

/// RFC 7636's example pair: the benchmark measures the server, not a random verifier.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Where the relying party's client is registered to be sent back.
pub const REDIRECT_URI: &str = "http://127.0.0.1/bench/callback";

/// The cookies one browser holds.
#[derive(Debug, Default, Clone)]
pub struct Jar {
    cookies: Vec<(String, String)>,
}

impl Jar {
    /// Keeps what `response` sets (a later cookie of one name replaces the earlier).
    fn keep(&mut self, response: &reqwest::Response) {
        for header in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let Some(pair) = header.to_str().ok().and_then(|h| h.split(';').next()) else {
                continue;
            };
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            self.cookies.retain(|(n, _)| n != name.trim());
            if !value.is_empty() {
                self.cookies
                    .push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
    }

    /// The `Cookie` header to send.
    pub fn header(&self) -> String {
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        pairs.join("; ")
    }
}

fn authorize_url(ctx: &Context) -> String {
    let redirect: String = url_encode(REDIRECT_URI);
    format!(
        "{}/auth?client_id={}&redirect_uri={redirect}&response_type=code&scope=openid&state=bench&nonce=bench&code_challenge={CHALLENGE}&code_challenge_method=S256",
        ctx.issuer, ctx.rp.id
    )
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A GET as the browser holding `jar`, keeping what it sets.
async fn get(ctx: &Context, jar: &mut Jar, url: &str) -> Result<reqwest::Response, String> {
    let response = ctx
        .browser
        .get(url)
        .header(reqwest::header::COOKIE, jar.header())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    jar.keep(&response);
    Ok(response)
}

/// The absolute URL a redirect points at.
fn location(ctx: &Context, response: &reqwest::Response) -> Result<String, String> {
    let status = response.status();
    if !status.is_redirection() {
        return Err(format!("HTTP {status} where a redirect was expected"));
    }
    let to = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .ok_or("a redirect without Location")?;
    Ok(if to.starts_with('/') {
        format!("{}{to}", ctx.base)
    } else {
        to.to_owned()
    })
}

/// The value of the hidden field `name` in `html`.
fn hidden<'a>(html: &'a str, name: &str) -> Result<&'a str, String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .ok_or_else(|| format!("the page has no {name} field"))?
        + marker.len();
    let end = html[start..]
        .find('"')
        .ok_or_else(|| format!("{name} is cut off"))?;
    Ok(&html[start..start + end])
}

/// The text of the element with `id` (up to its first tag).
fn element_text<'a>(html: &'a str, id: &str) -> Result<&'a str, String> {
    let marker = format!("id=\"{id}\"");
    let start = html
        .find(&marker)
        .and_then(|at| html[at..].find('>').map(|end| at + end + 1))
        .ok_or_else(|| format!("the page has no #{id}"))?;
    let end = html[start..]
        .find('<')
        .ok_or_else(|| format!("#{id} is cut off"))?;
    Ok(html[start..start + end].trim())
}

/// The HTML of `response`, which must have come with 200; `what` names it in the error.
async fn html_of(response: reqwest::Response, what: &str) -> Result<String, String> {
    let status = response.status();
    let html = response.text().await.map_err(|e| e.to_string())?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("{what}: HTTP {status}: {}", cut(&html)));
    }
    Ok(html)
}

/// GETs the page at `url` as the browser holding `jar`; its HTML.
async fn page(ctx: &Context, jar: &mut Jar, url: &str) -> Result<String, String> {
    html_of(get(ctx, jar, url).await?, url).await
}

/// POSTs `form` to `path` of the server as the browser holding `jar`, keeping what it sets.
async fn post(
    ctx: &Context,
    jar: &mut Jar,
    path: &str,
    form: &[(&str, &str)],
) -> Result<reqwest::Response, String> {
    let response = ctx
        .browser
        .post(format!("{}{path}", ctx.base))
        .header(reqwest::header::COOKIE, jar.header())
        .form(form)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    jar.keep(&response);
    Ok(response)
}

/// POSTs `form` to `path` and reads the page it answers with (200).
async fn post_for_page(
    ctx: &Context,
    jar: &mut Jar,
    path: &str,
    form: &[(&str, &str)],
) -> Result<String, String> {
    html_of(post(ctx, jar, path, form).await?, &format!("POST {path}")).await
}

/// Follows the browser's redirects (at most 4) until one leads back to the relying party;
/// the code it carries.
async fn follow_to_code(ctx: &Context, jar: &mut Jar, mut to: String) -> Result<String, String> {
    for _ in 0..4 {
        if let Some(query) = to
            .strip_prefix(REDIRECT_URI)
            .and_then(|q| q.strip_prefix('?'))
        {
            let code = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("code="))
                .ok_or_else(|| format!("back without a code: {query}"))?;
            return Ok(code.to_owned());
        }
        let response = get(ctx, jar, &to).await?;
        to = location(ctx, &response)?;
    }
    Err(format!("still redirected after 4 hops: {to}"))
}

/// The relying party's side: `code` exchanged for tokens, which must hold an ID token.
async fn exchange(ctx: &Context, code: &str) -> Result<Value, String> {
    let request = ctx
        .http
        .post(format!("{}/token", ctx.issuer))
        .basic_auth(&ctx.rp.id, Some(&ctx.rp.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ]);
    let tokens = json_of(request).await?;
    answer_has(tokens["id_token"].is_string(), "id_token", &tokens)?;
    Ok(tokens)
}

/// The password step of a sign-in in a new browser: authorize, the login page, the
/// password. Returns the browser and where the server sent it next.
async fn password_step(ctx: &Context, person: &Person) -> Result<(Jar, String), String> {
    let mut jar = Jar::default();
    let to_login = get(ctx, &mut jar, &authorize_url(ctx)).await?;
    let login_url = location(ctx, &to_login)?;
    let html = page(ctx, &mut jar, &login_url).await?;
    let form = [
        ("csrf_token", hidden(&html, "csrf_token")?),
        ("interaction", hidden(&html, "interaction")?),
        ("username", person.username.as_str()),
        ("password", person.password.as_str()),
    ];
    let signed_in = post(ctx, &mut jar, "/login", &form).await?;
    let next = location(ctx, &signed_in)?;
    Ok((jar, next))
}

/// A whole sign-in of `person` with the password, in a new browser: authorize, the login
/// page, the password, back to the relying party, the code exchanged. Returns the tokens and
/// the browser's cookies (its session).
pub async fn password_sign_in(ctx: &Context, person: &Person) -> Result<(Value, Jar), String> {
    let (mut jar, next) = password_step(ctx, person).await?;
    let code = follow_to_code(ctx, &mut jar, next).await?;
    Ok((exchange(ctx, &code).await?, jar))
}

/// A whole sign-in with the password and then the authenticator's code for time step
/// `step`: as [`password_sign_in`], with the second-factor page between the password and
/// the way back. The ID token must say `acr` aal2 and `amr` otp.
pub async fn totp_sign_in(ctx: &Context, person: &TotpPerson, step: u64) -> Result<(), String> {
    let (mut jar, mut next) = password_step(ctx, &person.person).await?;
    // The password is accepted; the authorization resumes and asks for the second factor.
    for _ in 0..3 {
        if next.contains("/login/mfa?") {
            break;
        }
        let response = get(ctx, &mut jar, &next).await?;
        next = location(ctx, &response)?;
    }
    if !next.contains("/login/mfa?") {
        return Err(format!("no second-factor page after the password: {next}"));
    }
    let html = page(ctx, &mut jar, &next).await?;
    let code = totp::code(&person.secret, step)?;
    let form = [
        ("csrf_token", hidden(&html, "csrf_token")?),
        ("interaction", hidden(&html, "interaction")?),
        ("code", code.as_str()),
    ];
    let accepted = post(ctx, &mut jar, "/login/mfa", &form).await?;
    let back = location(ctx, &accepted)?;
    let code = follow_to_code(ctx, &mut jar, back).await?;
    let tokens = exchange(ctx, &code).await?;
    let claims = id_token_claims(&tokens)?;
    let otp = claims["amr"]
        .as_array()
        .is_some_and(|amr| amr.iter().any(|m| m == "otp"));
    answer_has(claims["acr"] == "aal2" && otp, "acr/amr", &claims)
}

/// The claims of the ID token in `tokens`, read without checking the signature (the relying
/// party's library does that; here only what it says is checked).
fn id_token_claims(tokens: &Value) -> Result<Value, String> {
    let payload = tokens["id_token"]
        .as_str()
        .and_then(|jwt| jwt.split('.').nth(1))
        .ok_or("an id_token that is not a JWS")?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|e| format!("id_token payload: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("id_token payload: {e}"))
}

/// Signs `person` in to the user center in a new browser; its cookies.
pub async fn sign_in_to_u(ctx: &Context, person: &Person) -> Result<Jar, String> {
    let mut jar = Jar::default();
    let first = get(ctx, &mut jar, &format!("{}/u", ctx.base)).await?;
    let login_url = location(ctx, &first)?;
    let html = page(ctx, &mut jar, &login_url).await?;
    let form = [
        ("csrf_token", hidden(&html, "csrf_token")?),
        ("interaction", ""),
        ("next", "/u"),
        ("username", person.username.as_str()),
        ("password", person.password.as_str()),
    ];
    let signed_in = post(ctx, &mut jar, "/login", &form).await?;
    let to = location(ctx, &signed_in)?;
    if !to.ends_with("/u") {
        return Err(format!("signed in to /u, but sent to {to}"));
    }
    Ok(jar)
}

/// Binds an authenticator in /u, as a person does: a code mailed to their address, the
/// secret from the page into the app, the app's first code. Returns the secret and the time
/// step of the code that confirmed it.
pub async fn bind_totp(
    ctx: &Context,
    jar: &mut Jar,
    mailbox: &Mailbox,
    address: &str,
) -> Result<(Vec<u8>, u64), String> {
    const BIND: &str = "/u/mfa/bind";
    let html = page(ctx, jar, &format!("{}{BIND}", ctx.base)).await?;
    let form = [
        ("csrf_token", hidden(&html, "csrf_token")?),
        ("action", "send"),
    ];
    let sent = post_for_page(ctx, jar, BIND, &form).await?;
    let mailed = mailbox.code_for(address).await?;
    let form = [
        ("csrf_token", hidden(&sent, "csrf_token")?),
        ("action", "verify_email"),
        ("email_code", mailed.as_str()),
    ];
    let enroll = post_for_page(ctx, jar, BIND, &form).await?;
    let secret_text = element_text(&enroll, "totp-secret")?;
    let secret = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, secret_text)
        .ok_or_else(|| format!("the secret {secret_text:?} is not base32"))?;
    let (_, step) = totp::now();
    let first = totp::code(&secret, step)?;
    let form = [
        ("csrf_token", hidden(&enroll, "csrf_token")?),
        ("action", "confirm"),
        ("code", first.as_str()),
    ];
    let done = post_for_page(ctx, jar, BIND, &form).await?;
    if !done.contains("id=\"recovery-codes\"") {
        return Err(format!(
            "binding did not end with recovery codes: {}",
            cut(&done)
        ));
    }
    Ok((secret, step))
}

/// Single sign-on: a browser with a session asks again, and is sent straight back with a
/// code, which the relying party exchanges for tokens.
pub async fn single_sign_on(ctx: &Context, session: &Jar) -> Result<Value, String> {
    let mut jar = session.clone();
    let code = follow_to_code(ctx, &mut jar, authorize_url(ctx)).await?;
    exchange(ctx, &code).await
}

/// A refresh with rotation: the refresh token `token` for a new pair; the new refresh token.
pub async fn refresh(ctx: &Context, token: &str) -> Result<String, String> {
    let request = ctx
        .http
        .post(format!("{}/token", ctx.issuer))
        .basic_auth(&ctx.rp.id, Some(&ctx.rp.secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)]);
    let tokens = json_of(request).await?;
    answer_has(tokens["access_token"].is_string(), "access_token", &tokens)?;
    tokens["refresh_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "no rotated refresh_token".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_fields_are_read_and_a_missing_one_is_an_error() {
        let html = r#"<input type="hidden" name="csrf_token" value="abc"><input name="interaction" value="x1">"#;
        assert_eq!(hidden(html, "csrf_token"), Ok("abc"));
        assert_eq!(hidden(html, "interaction"), Ok("x1"));
        assert!(hidden(html, "username").is_err());
    }

    #[test]
    fn element_text_is_read_up_to_its_first_tag() {
        let html = r#"<p><code id="totp-secret" class="secret"> JBSWY3DP </code></p>"#;
        assert_eq!(element_text(html, "totp-secret"), Ok("JBSWY3DP"));
        assert!(element_text(html, "recovery-codes").is_err());
    }

    #[test]
    fn id_token_claims_are_the_payload() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"acr":"aal2","amr":["pwd","otp"]}"#);
        let tokens = serde_json::json!({ "id_token": format!("e30.{payload}.sig") });
        assert_eq!(id_token_claims(&tokens).unwrap()["acr"], "aal2");
        assert!(id_token_claims(&serde_json::json!({})).is_err());
    }

    #[test]
    fn redirect_uris_are_percent_encoded() {
        assert_eq!(
            url_encode("http://127.0.0.1/a b"),
            "http%3A%2F%2F127.0.0.1%2Fa%20b"
        );
    }
}
