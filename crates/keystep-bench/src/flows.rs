//! The multi-step cases as a browser and a relying party walk them: the authorization request
//! with PKCE, the login page's CSRF field and interaction, the cookies the server sets, the
//! redirect back with a code, and the code exchanged for tokens. Each flow keeps its own
//! cookies, so 32 connections are 32 browsers.

use serde_json::Value;

use crate::cases::{answer_has, json_of, Context};
use crate::server::Person;

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

/// A whole sign-in of `person` with the password, in a new browser: authorize, the login
/// page, the password, back to the relying party, the code exchanged. Returns the tokens and
/// the browser's cookies (its session).
pub async fn password_sign_in(ctx: &Context, person: &Person) -> Result<(Value, Jar), String> {
    let mut jar = Jar::default();
    let to_login = get(ctx, &mut jar, &authorize_url(ctx)).await?;
    let login_url = location(ctx, &to_login)?;
    let page = get(ctx, &mut jar, &login_url).await?;
    let status = page.status();
    let html = page.text().await.map_err(|e| e.to_string())?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("login page: HTTP {status}"));
    }
    let form = [
        ("csrf_token", hidden(&html, "csrf_token")?),
        ("interaction", hidden(&html, "interaction")?),
        ("username", person.username.as_str()),
        ("password", person.password.as_str()),
    ];
    let signed_in = ctx
        .browser
        .post(format!("{}/login", ctx.base))
        .header(reqwest::header::COOKIE, jar.header())
        .form(&form)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    jar.keep(&signed_in);
    let next = location(ctx, &signed_in)?;
    let code = follow_to_code(ctx, &mut jar, next).await?;
    Ok((exchange(ctx, &code).await?, jar))
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
    fn redirect_uris_are_percent_encoded() {
        assert_eq!(
            url_encode("http://127.0.0.1/a b"),
            "http%3A%2F%2F127.0.0.1%2Fa%20b"
        );
    }
}
