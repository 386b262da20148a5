//! The authorization request's checks, in order (OIDC Core §3.1.2.1, RFC 6749 §4.1.1,
//! RFC 7636). The first two decide whether errors may be redirected at all: until the client
//! and its redirect URI are known good, an error is a page (OIDC Core §3.1.2.6). Each check is
//! small and named; together they turn the raw parameters into a typed [`ValidatedAuthorize`].

use keystep_core::clients::Client;
use keystep_core::sessions::Aal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::params::{Params, Scopes};

/// How the response goes back to the relying party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseMode {
    /// In the redirect URI's query.
    Query,
    /// As an auto-submitted HTML form (OAuth 2.0 Form Post Response Mode).
    FormPost,
}

/// `prompt` (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    /// Show nothing; fail if a page would be needed.
    None,
    /// Sign in again even with a session.
    Login,
}

/// A checked authorization request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidatedAuthorize {
    /// The client.
    pub client_id: String,
    /// Its display name.
    pub client_name: String,
    /// Registered, exactly matched.
    pub redirect_uri: String,
    /// Where the answer goes.
    pub response_mode: ResponseMode,
    /// Echoed back.
    pub state: Option<String>,
    /// Echoed into the ID token.
    pub nonce: Option<String>,
    /// Requested scope (known values only).
    pub scope: Scopes,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// `prompt`.
    pub prompt: Option<Prompt>,
    /// `max_age` in seconds.
    pub max_age: Option<i64>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// `ui_locales`.
    pub ui_locales: Option<String>,
    /// The level asked for: the highest understood value of `acr_values` and of an
    /// essential `acr` claim.
    pub requested_acr: Option<Aal>,
    /// The values of an essential `acr` claim: the result must be one of them
    /// (OIDC Core §5.5.1.1), else `unmet_authentication_requirements`.
    pub essential_acr: Option<Vec<String>>,
    /// The `claims` parameter.
    pub claims: Option<Value>,
    /// The subject of a verified `id_token_hint`: the person the relying party expects.
    /// Set by the endpoint once the hint's signature is checked (it needs the keys).
    #[serde(default)]
    pub hint_subject: Option<String>,
}

/// Where an error goes.
#[derive(Debug, Clone)]
pub enum Failure {
    /// Shown as a page: the client or redirect URI cannot be trusted.
    Page {
        /// Catalogue key.
        message_key: &'static str,
        /// Detail for the log.
        detail: String,
    },
    /// Sent back to the relying party (RFC 6749 §4.1.2.1).
    Redirect(RedirectError),
}

/// An error to redirect to a verified redirect URI.
#[derive(Debug, Clone)]
pub struct RedirectError {
    /// Verified redirect URI.
    pub redirect_uri: String,
    /// How to send it.
    pub response_mode: ResponseMode,
    /// Echoed.
    pub state: Option<String>,
    /// The spec code.
    pub error: &'static str,
    /// Description.
    pub description: String,
}

/// The scopes keystep understands; others are dropped (RFC 6749 §3.3 lets the server ignore
/// what it does not know).
pub const KNOWN_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The client, from `client_id`.
pub fn check_client(
    params: &Params,
    lookup: impl FnOnce(&str) -> Option<Client>,
) -> Result<Client, Failure> {
    let client_id = params.get("client_id").ok_or_else(|| Failure::Page {
        message_key: "error.unknown_client",
        detail: "client_id is missing".into(),
    })?;
    lookup(client_id).ok_or_else(|| Failure::Page {
        message_key: "error.unknown_client",
        detail: format!("unknown client_id {client_id:?}"),
    })
}

/// `redirect_uri`: required, registered for this client, exact match (RFC 9700 §2.1).
pub fn check_redirect_uri(params: &Params, client: &Client) -> Result<String, Failure> {
    match params.get("redirect_uri") {
        Some(uri) if client.has_redirect_uri(uri) => Ok(uri.to_owned()),
        Some(uri) => Err(Failure::Page {
            message_key: "error.bad_redirect_uri",
            detail: format!("redirect_uri {uri:?} is not registered for {}", client.id),
        }),
        None => Err(Failure::Page {
            message_key: "error.bad_redirect_uri",
            detail: "redirect_uri is missing".into(),
        }),
    }
}

/// Builds redirect errors once the redirect URI is trusted.
pub struct Redirector {
    redirect_uri: String,
    response_mode: ResponseMode,
    state: Option<String>,
}

impl Redirector {
    /// A redirector for a verified URI.
    pub fn new(redirect_uri: String, response_mode: ResponseMode, state: Option<String>) -> Self {
        Self {
            redirect_uri,
            response_mode,
            state,
        }
    }

    /// An error to send back.
    pub fn error(&self, error: &'static str, description: impl Into<String>) -> Failure {
        Failure::Redirect(RedirectError {
            redirect_uri: self.redirect_uri.clone(),
            response_mode: self.response_mode,
            state: self.state.clone(),
            error,
            description: description.into(),
        })
    }
}

/// `response_mode`: query (default) or form_post. An unknown mode is answered by query.
pub fn check_response_mode(params: &Params) -> Result<ResponseMode, &'static str> {
    match params.get("response_mode") {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("form_post") => Ok(ResponseMode::FormPost),
        Some(_) => Err("response_mode must be query or form_post"),
    }
}

/// `response_type`: only `code`.
pub fn check_response_type(params: &Params, r: &Redirector) -> Result<(), Failure> {
    match params.get("response_type") {
        Some("code") => Ok(()),
        Some(other) => Err(r.error(
            "unsupported_response_type",
            format!("response_type {other:?} is not supported; use code"),
        )),
        None => Err(r.error("invalid_request", "response_type is missing")),
    }
}

/// `request` and `request_uri` are not supported (OIDC Core §6).
pub fn check_request_objects(params: &Params, r: &Redirector) -> Result<(), Failure> {
    if params.get("request").is_some() {
        return Err(r.error("request_not_supported", "request objects are not supported"));
    }
    if params.get("request_uri").is_some() {
        return Err(r.error("request_uri_not_supported", "request_uri is not supported"));
    }
    Ok(())
}

/// `scope`: must contain `openid`; unknown values are dropped.
/// `offline_access` is granted only to a client registered for it (`--offline-access`);
/// for others it is dropped like an unknown scope, and the token response's `scope` says so.
pub fn check_scope(params: &Params, client: &Client, r: &Redirector) -> Result<Scopes, Failure> {
    let mut scope = Scopes::parse(params.get("scope").unwrap_or_default());
    if !scope.contains("openid") {
        return Err(r.error("invalid_scope", "scope must include openid"));
    }
    scope.retain(|s| KNOWN_SCOPES.contains(&s) && (s != "offline_access" || client.offline_access));
    Ok(scope)
}

/// PKCE (RFC 7636): S256 only, required for public clients.
pub fn check_pkce(
    params: &Params,
    client: &Client,
    r: &Redirector,
) -> Result<Option<String>, Failure> {
    let challenge = params.get("code_challenge");
    match (challenge, params.get("code_challenge_method")) {
        (None, None) if client.public => Err(r.error(
            "invalid_request",
            "public clients must use PKCE (code_challenge with S256)",
        )),
        (None, None) => Ok(None),
        (None, Some(_)) => Err(r.error(
            "invalid_request",
            "code_challenge_method without code_challenge",
        )),
        (Some(_), method) if method != Some("S256") => Err(r.error(
            "invalid_request",
            "code_challenge_method must be S256 (plain is not accepted)",
        )),
        (Some(c), _)
            if c.len() != 43
                || !c
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Err(r.error(
                "invalid_request",
                "code_challenge must be a base64url SHA-256 (43 characters)",
            ))
        }
        (Some(c), _) => Ok(Some(c.to_owned())),
    }
}

/// `prompt`: none or login (consent and select_account are accepted and need nothing:
/// there is no consent screen and one account per session).
pub fn check_prompt(params: &Params, r: &Redirector) -> Result<Option<Prompt>, Failure> {
    let Some(value) = params.get("prompt") else {
        return Ok(None);
    };
    let values: Vec<&str> = value.split(' ').filter(|s| !s.is_empty()).collect();
    if values.contains(&"none") && values.len() > 1 {
        return Err(r.error(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        ));
    }
    if let Some(bad) = values
        .iter()
        .find(|v| !matches!(**v, "none" | "login" | "consent" | "select_account"))
    {
        return Err(r.error(
            "invalid_request",
            format!("unsupported prompt value {bad:?}"),
        ));
    }
    Ok(if values.contains(&"none") {
        Some(Prompt::None)
    } else if values.contains(&"login") {
        Some(Prompt::Login)
    } else {
        None
    })
}

/// `max_age`: a non-negative number of seconds.
pub fn check_max_age(params: &Params, r: &Redirector) -> Result<Option<i64>, Failure> {
    match params.get("max_age") {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| r.error("invalid_request", "max_age must be a non-negative integer")),
    }
}

/// `claims` (OIDC Core §5.5): a JSON object with `id_token` and `userinfo` members.
pub fn check_claims(params: &Params, r: &Redirector) -> Result<Option<Value>, Failure> {
    let Some(text) = params.get("claims") else {
        return Ok(None);
    };
    let value: Value = serde_json::from_str(text)
        .map_err(|_| r.error("invalid_request", "claims is not valid JSON"))?;
    if !value.is_object() {
        return Err(r.error("invalid_request", "claims must be a JSON object"));
    }
    Ok(Some(value))
}

/// `acr_values` and an essential `acr` claim: the level asked for, and the values the
/// result must be among when the claim is essential.
pub fn check_acr(params: &Params, claims: Option<&Value>) -> (Option<Aal>, Option<Vec<String>>) {
    let mut requested: Option<Aal> = params
        .get("acr_values")
        .into_iter()
        .flat_map(|v| v.split(' '))
        .filter_map(Aal::parse)
        .max();
    let acr_claim = claims
        .and_then(|c| c.get("id_token"))
        .and_then(|t| t.get("acr"));
    let essential = acr_claim
        .filter(|c| c.get("essential").and_then(Value::as_bool) == Some(true))
        .map(|c| {
            let mut values: Vec<String> = c
                .get("values")
                .and_then(Value::as_array)
                .map(|v| {
                    v.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(single) = c.get("value").and_then(Value::as_str) {
                values.push(single.to_owned());
            }
            values
        })
        .filter(|v| !v.is_empty());
    if let Some(values) = &essential {
        // The lowest understood essential value is enough to satisfy the claim.
        if let Some(min) = values.iter().filter_map(|v| Aal::parse(v)).min() {
            requested = requested.max(Some(min));
        }
    }
    (requested, essential)
}

/// Bounded free-text parameters.
pub fn check_lengths(params: &Params, r: &Redirector) -> Result<(), Failure> {
    for (name, max) in [
        ("state", 2048),
        ("nonce", 512),
        ("login_hint", 256),
        ("ui_locales", 128),
        ("claims", 4096),
    ] {
        if params.get(name).is_some_and(|v| v.len() > max) {
            return Err(r.error(
                "invalid_request",
                format!("{name} is longer than {max} characters"),
            ));
        }
    }
    Ok(())
}

/// Runs every check in order.
pub fn validate(
    params: &Params,
    lookup: impl FnOnce(&str) -> Option<Client>,
) -> Result<(ValidatedAuthorize, Client), Failure> {
    let client = check_client(params, lookup)?;
    let redirect_uri = check_redirect_uri(params, &client)?;
    let state = params.get("state").map(str::to_owned);
    let (response_mode, mode_error) = match check_response_mode(params) {
        Ok(mode) => (mode, None),
        Err(e) => (ResponseMode::Query, Some(e)),
    };
    let r = Redirector::new(redirect_uri.clone(), response_mode, state.clone());
    if let Some(e) = mode_error {
        return Err(r.error("invalid_request", e));
    }
    check_lengths(params, &r)?;
    check_request_objects(params, &r)?;
    check_response_type(params, &r)?;
    let scope = check_scope(params, &client, &r)?;
    let code_challenge = check_pkce(params, &client, &r)?;
    let prompt = check_prompt(params, &r)?;
    let max_age = check_max_age(params, &r)?;
    let claims = check_claims(params, &r)?;
    let (requested_acr, essential_acr) = check_acr(params, claims.as_ref());
    let validated = ValidatedAuthorize {
        client_id: client.id.clone(),
        client_name: client.display_name.clone(),
        redirect_uri,
        response_mode,
        state,
        nonce: params.get("nonce").map(str::to_owned),
        scope,
        code_challenge,
        prompt,
        max_age,
        login_hint: params.get("login_hint").map(str::to_owned),
        ui_locales: params.get("ui_locales").map(str::to_owned),
        requested_acr,
        essential_acr,
        claims,
        hint_subject: None,
    };
    Ok((validated, client))
}

#[cfg(test)]
mod tests;
