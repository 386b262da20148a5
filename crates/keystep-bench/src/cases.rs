//! The cases: each one request a relying party or a resource server makes, with the check
//! that its answer is the right one (a fast wrong answer is an error, not a result).

use std::sync::Arc;

use serde_json::Value;

use crate::server::Client;

/// What every case needs: an HTTP client, the server, a registered client and an access
/// token of it.
#[derive(Debug)]
pub struct Context {
    /// Keeps connections alive, as relying parties do.
    pub http: reqwest::Client,
    /// `{base}/oidc`.
    pub issuer: String,
    /// A confidential client with an API scope, registered as a resource server.
    pub client: Client,
    /// An access token of `client`, for introspection.
    pub access_token: String,
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
}

impl Case {
    /// Every case, in the order they run.
    pub const ALL: [Case; 4] = [
        Case::Discovery,
        Case::Jwks,
        Case::ClientCredentials,
        Case::Introspection,
    ];

    /// Its name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Case::Discovery => "discovery",
            Case::Jwks => "jwks",
            Case::ClientCredentials => "client_credentials",
            Case::Introspection => "introspection",
        }
    }

    /// The case named `name`.
    pub fn parse(name: &str) -> Option<Case> {
        Case::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Sends one request and checks its answer.
    pub async fn run(self, ctx: Arc<Context>) -> Result<(), String> {
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
                let tokens = json_of(client_credentials(&ctx)).await?;
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
        }
    }
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

fn answer_has(holds: bool, what: &str, answer: &Value) -> Result<(), String> {
    if holds {
        Ok(())
    } else {
        Err(format!("wrong {what}: {}", cut(&answer.to_string())))
    }
}

fn cut(text: &str) -> &str {
    let end = text
        .char_indices()
        .nth(200)
        .map_or(text.len(), |(at, _)| at);
    &text[..end]
}
