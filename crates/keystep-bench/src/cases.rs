//! The cases: each one request a relying party or a resource server makes, or one flow a
//! person's browser and the relying party walk together, with the check that its answer is
//! the right one (a fast wrong answer is an error, not a result).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;

use crate::flows::{self, Jar};
use crate::load::Done;
use crate::server::{Client, Person};
use crate::totp::{self, TotpPeople};

/// What every case needs: HTTP clients, the server, the registered clients and person, and
/// the tokens and session made for them at the start.
#[derive(Debug)]
pub struct Context {
    /// Keeps connections alive, as relying parties do.
    pub http: reqwest::Client,
    /// A browser's requests: redirects are followed by the flow, cookies kept per flow.
    pub browser: reqwest::Client,
    /// The server, `http://127.0.0.1:PORT`.
    pub base: String,
    /// `{base}/oidc`.
    pub issuer: String,
    /// A confidential client with an API scope, registered as a resource server.
    pub client: Client,
    /// An access token of `client`, for introspection.
    pub access_token: String,
    /// The relying party that signs the person in.
    pub rp: Client,
    /// One person per connection: a sign-in counts against its account's limit until it
    /// succeeds, so one account signing in 32 times at once would be refused (rightly).
    pub people: Vec<Person>,
    /// The cookies of a browser in which the person is signed in.
    pub session: Jar,
    /// An access token of the person, for userinfo.
    pub user_access_token: String,
    /// One refresh token per connection, each its own family, rotated at every refresh.
    pub refresh_tokens: Vec<Mutex<String>>,
    /// People with an authenticator bound, for the sign-in with TOTP (empty when that case
    /// does not run).
    pub totp_people: TotpPeople,
}

/// A case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// `GET /oidc/.well-known/openid-configuration`.
    Discovery,
    /// `GET /oidc/jwks`.
    Jwks,
    /// `POST /oidc/token` with `grant_type=client_credentials`.
    ClientCredentials,
    /// `POST /oidc/token/introspection` of a JWT access token.
    Introspection,
    /// `GET /oidc/me` with the person's access token.
    Userinfo,
    /// `POST /oidc/token` with `grant_type=refresh_token`, rotating.
    Refresh,
    /// Authorize in a browser with a session, then the code for tokens.
    SingleSignOn,
    /// A whole sign-in with the password in a new browser (argon2id at the configured cost).
    PasswordSignIn,
    /// A whole sign-in with the password and a TOTP code.
    TotpSignIn,
}

impl Case {
    /// Every case, in the order they run: the sign-ins last, so the memory after them is the
    /// peak of the run.
    pub const ALL: [Case; 9] = [
        Case::Discovery,
        Case::Jwks,
        Case::ClientCredentials,
        Case::Introspection,
        Case::Userinfo,
        Case::Refresh,
        Case::SingleSignOn,
        Case::PasswordSignIn,
        Case::TotpSignIn,
    ];

    /// Its name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Case::Discovery => "discovery",
            Case::Jwks => "jwks",
            Case::ClientCredentials => "client_credentials",
            Case::Introspection => "introspection",
            Case::Userinfo => "userinfo",
            Case::Refresh => "refresh",
            Case::SingleSignOn => "sso",
            Case::PasswordSignIn => "password_sign_in",
            Case::TotpSignIn => "totp_sign_in",
        }
    }

    /// The case named `name`.
    pub fn parse(name: &str) -> Option<Case> {
        Case::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Sends one request (or walks one flow) from connection `connection` and checks the
    /// answer. Only the sign-in with TOTP may wait first (for a person with an unused code),
    /// never past `deadline`.
    pub async fn run(
        self,
        ctx: Arc<Context>,
        connection: usize,
        deadline: Instant,
    ) -> Result<Done, String> {
        if self == Case::TotpSignIn {
            return totp_sign_in(&ctx, deadline).await;
        }
        self.run_at_once(&ctx, connection).await.map(|()| Done::NOW)
    }

    async fn run_at_once(self, ctx: &Context, connection: usize) -> Result<(), String> {
        match self {
            Case::Discovery => {
                let url = format!("{}/.well-known/openid-configuration", ctx.issuer);
                let meta = json_of(ctx.http.get(url)).await?;
                answer_has(meta["issuer"] == ctx.issuer.as_str(), "issuer", &meta)
            }
            Case::Jwks => {
                let keys = json_of(ctx.http.get(format!("{}/jwks", ctx.issuer))).await?;
                let has_keys = keys["keys"].as_array().is_some_and(|k| !k.is_empty());
                answer_has(has_keys, "keys", &keys)
            }
            Case::ClientCredentials => {
                let tokens = json_of(client_credentials(ctx)).await?;
                answer_has(tokens["access_token"].is_string(), "access_token", &tokens)
            }
            Case::Introspection => {
                let request = ctx
                    .http
                    .post(format!("{}/token/introspection", ctx.issuer))
                    .basic_auth(&ctx.client.id, Some(&ctx.client.secret))
                    .form(&[("token", ctx.access_token.as_str())]);
                let answer = json_of(request).await?;
                answer_has(answer["active"] == true, "active", &answer)
            }
            Case::Userinfo => {
                let request = ctx
                    .http
                    .get(format!("{}/me", ctx.issuer))
                    .bearer_auth(&ctx.user_access_token);
                let claims = json_of(request).await?;
                answer_has(claims["sub"].is_string(), "sub", &claims)
            }
            Case::Refresh => {
                let slot = ctx
                    .refresh_tokens
                    .get(connection % ctx.refresh_tokens.len().max(1))
                    .ok_or("no refresh token for this connection")?;
                let token = slot.lock().map_err(|e| e.to_string())?.clone();
                let rotated = match flows::refresh(ctx, &token).await {
                    Ok(rotated) => Ok(rotated),
                    // The failure counts, and the connection goes on with a new family:
                    // its token may have been spent by a rotation whose answer never came.
                    Err(e) => {
                        let tokens = flows::single_sign_on(ctx, &ctx.session).await?;
                        let fresh = tokens["refresh_token"].as_str().unwrap_or_default();
                        *slot.lock().map_err(|e| e.to_string())? = fresh.to_owned();
                        Err(e)
                    }
                }?;
                *slot.lock().map_err(|e| e.to_string())? = rotated;
                Ok(())
            }
            Case::SingleSignOn => flows::single_sign_on(ctx, &ctx.session).await.map(drop),
            Case::PasswordSignIn => {
                let person = ctx
                    .people
                    .get(connection % ctx.people.len().max(1))
                    .ok_or("no person for this connection")?;
                flows::password_sign_in(ctx, person).await.map(drop)
            }
            Case::TotpSignIn => Err("the sign-in with TOTP waits for its person".into()),
        }
    }
}

/// A sign-in with TOTP by the first person whose next code is valid now, waiting (until
/// `deadline` at most) for one when every code up to the next time step has been used.
async fn totp_sign_in(ctx: &Context, deadline: Instant) -> Result<Done, String> {
    let started = Instant::now();
    let (mut person, step) = loop {
        let (unix, step) = totp::now();
        match ctx.totp_people.take(step, unix) {
            Ok(taken) => break taken,
            Err(wait) => {
                let now = Instant::now();
                if now + wait >= deadline {
                    tokio::time::sleep(deadline.saturating_duration_since(now)).await;
                    return Ok(Done::TimeUp {
                        waited: started.elapsed(),
                    });
                }
                tokio::time::sleep(wait).await;
            }
        }
    };
    let waited = started.elapsed();
    let outcome = flows::totp_sign_in(ctx, &person, step).await;
    // Sent, so spent, whatever the answer was.
    person.last_step = step;
    ctx.totp_people.put_back(person);
    outcome.map(|()| Done::Answered { waited })
}

/// The client's token request (the API scope it is registered for).
pub fn client_credentials(ctx: &Context) -> reqwest::RequestBuilder {
    ctx.http
        .post(format!("{}/token", ctx.issuer))
        .basic_auth(&ctx.client.id, Some(&ctx.client.secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "bench:read"),
        ])
}

/// Sends `request`; its JSON body when the status is 200.
pub async fn json_of(request: reqwest::RequestBuilder) -> Result<Value, String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("HTTP {status}: {}", cut(&body)));
    }
    serde_json::from_str(&body).map_err(|e| format!("not JSON ({e}): {}", cut(&body)))
}

pub fn answer_has(holds: bool, what: &str, answer: &Value) -> Result<(), String> {
    if holds {
        Ok(())
    } else {
        Err(format!("wrong {what}: {}", cut(&answer.to_string())))
    }
}

/// The first 200 characters of `text`, for an error message.
pub fn cut(text: &str) -> &str {
    let end = text
        .char_indices()
        .nth(200)
        .map_or(text.len(), |(at, _)| at);
    &text[..end]
}
