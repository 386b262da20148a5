//! Relying parties registered by the operator. A confidential client's secret is generated
//! here, shown once, and only its SHA-256 is stored: the secret is 256 random bits, so a fast
//! hash is as safe as a slow one and keeps the token endpoint cheap. Redirect URIs are matched
//! exactly (RFC 9700 §2.1), so they are validated strictly at registration.

use std::collections::HashMap;
use std::fmt;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::clock::Clock;
use crate::db::{is_unique_violation, DbConn};
use crate::error::{Error, Result};
use crate::opaque::{constant_time_eq, hash_token, random_token};
use crate::schema::{client_resources, clients};

/// Whether a client demands a second factor of everyone who signs in to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MfaPolicy {
    /// Follow the global `mfa.policy`.
    #[default]
    Inherit,
    /// Always aal2, whatever the request says.
    Required,
}

/// The JWS algorithm a client wants its ID tokens signed with (its registered
/// `id_token_signed_response_alg`, OIDC Dynamic Client Registration §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum IdTokenAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256: what every relying party accepts.
    #[default]
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
}

/// An enum of fixed words: `as_str` is the stored and printed form, and `FromStr` parses it
/// with an error that names the setting and the words it takes.
macro_rules! words {
    ($name:ident, $setting:literal, { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl $name {
            /// The stored and printed form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($word => Ok(Self::$variant),)+
                    other => Err(Error::invalid(
                        $setting,
                        format!("must be {}, not {other:?}", [$($word),+].join(" or ")),
                    )),
                }
            }
        }
    };
}

words!(MfaPolicy, "mfa", { Inherit => "inherit", Required => "required" });
words!(IdTokenAlg, "id_token_signed_response_alg", { RS256 => "RS256", ES256 => "ES256" });

/// A client secret, shown once at creation; `Debug` never prints it.
pub struct ClientSecret(String);

impl ClientSecret {
    /// The secret, to hand to the operator once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Client {
    /// The `client_id`.
    pub id: String,
    /// The name people see on the login page.
    pub display_name: String,
    /// SHA-256 of the secret (base64url); `None` for public clients.
    #[serde(skip)]
    pub secret_hash: Option<String>,
    /// A public client (SPA, native app) has no secret and must use PKCE.
    pub public: bool,
    /// Exact-match redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Exact-match URIs for RP-initiated logout.
    pub post_logout_redirect_uris: Vec<String>,
    /// Second-factor demand.
    pub mfa_policy: MfaPolicy,
    /// Unix seconds.
    pub created_at: i64,
    /// How its ID tokens are signed.
    pub id_token_signed_response_alg: IdTokenAlg,
    /// The API scopes it may ask for with client_credentials.
    pub scopes: Vec<String>,
    /// May hold refresh tokens that outlive the session (`offline_access`).
    pub offline_access: bool,
    /// A resource server: may introspect the access tokens of every client.
    pub introspect: bool,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = clients)]
struct ClientRow {
    id: String,
    display_name: String,
    secret_hash: Option<String>,
    public: bool,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    mfa_policy: String,
    created_at: i64,
    id_token_signed_response_alg: String,
    scopes: String,
    offline_access: bool,
    introspect: bool,
}

impl ClientRow {
    fn into_client(self) -> Result<Client> {
        let row = self;
        let corrupt = |what: &str| {
            Error::Database(diesel::result::Error::DeserializationError(
                format!("client {}: bad {what}", row.id).into(),
            ))
        };
        Ok(Client {
            redirect_uris: serde_json::from_str(&row.redirect_uris)
                .map_err(|_| corrupt("redirect_uris"))?,
            post_logout_redirect_uris: serde_json::from_str(&row.post_logout_redirect_uris)
                .map_err(|_| corrupt("post_logout_redirect_uris"))?,
            mfa_policy: row.mfa_policy.parse().map_err(|_| corrupt("mfa_policy"))?,
            id_token_signed_response_alg: row
                .id_token_signed_response_alg
                .parse()
                .map_err(|_| corrupt("id_token_signed_response_alg"))?,
            scopes: serde_json::from_str(&row.scopes).map_err(|_| corrupt("scopes"))?,
            offline_access: row.offline_access,
            introspect: row.introspect,
            id: row.id,
            display_name: row.display_name,
            secret_hash: row.secret_hash,
            public: row.public,
            created_at: row.created_at,
        })
    }
}

impl Client {
    /// Checks a presented secret in constant time. Public clients have none to match.
    pub fn verify_secret(&self, presented: &str) -> bool {
        match &self.secret_hash {
            Some(stored) => constant_time_eq(&hash_token(presented), stored),
            None => false,
        }
    }

    /// True when `uri` is one of the registered redirect URIs, character for character.
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|u| u == uri)
    }

    /// True when `uri` is a registered post-logout redirect URI, character for character.
    pub fn has_post_logout_redirect_uri(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|u| u == uri)
    }
}

/// What is needed to register a client.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    /// 1–128 characters: letters, digits, `.`, `_`, `-`.
    pub id: String,
    /// Defaults to the id when empty.
    pub display_name: String,
    /// Public clients get no secret.
    pub public: bool,
    /// At least one.
    pub redirect_uris: Vec<String>,
    /// May be empty.
    pub post_logout_redirect_uris: Vec<String>,
    /// Second-factor demand.
    pub mfa_policy: MfaPolicy,
    /// How its ID tokens are signed.
    pub id_token_signed_response_alg: IdTokenAlg,
    /// API scopes for client_credentials (scope-tokens of RFC 6749 §3.3, not `openid` or
    /// `offline_access`).
    pub scopes: Vec<String>,
    /// May hold `offline_access` refresh tokens.
    pub offline_access: bool,
    /// May introspect every client's access tokens.
    pub introspect: bool,
    /// Resource indicators (absolute URIs without a fragment, RFC 8707 §2) that name it.
    pub resources: Vec<String>,
}

/// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Checks a resource indicator: an absolute URI with no fragment (RFC 8707 §2).
pub fn check_resource(uri: &str) -> Result<()> {
    let parsed = Url::parse(uri)
        .map_err(|e| Error::invalid("resource", format!("{uri:?} is not an absolute URI: {e}")))?;
    if parsed.fragment().is_some() {
        return Err(Error::invalid(
            "resource",
            format!("{uri:?} must not contain a fragment"),
        ));
    }
    Ok(())
}

/// Checks a client id: 1–128 characters of letters, digits, `.`, `_`, `-`.
pub fn check_client_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 128 {
        return Err(Error::invalid("client_id", "must be 1 to 128 characters"));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(Error::invalid(
            "client_id",
            "may contain only ASCII letters, digits, '.', '_' and '-'",
        ));
    }
    Ok(())
}

/// Checks a redirect URI: absolute, no fragment (RFC 6749 §3.1.2), https or http, or a
/// private-use scheme with a dot for native apps (RFC 8252 §7.1). Script-capable schemes are
/// refused outright.
pub fn check_redirect_uri(field: &'static str, uri: &str) -> Result<()> {
    let parsed = Url::parse(uri)
        .map_err(|e| Error::invalid(field, format!("{uri:?} is not an absolute URI: {e}")))?;
    if parsed.fragment().is_some() {
        return Err(Error::invalid(
            field,
            format!("{uri:?} must not contain a fragment"),
        ));
    }
    match parsed.scheme() {
        "https" | "http" => {
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(Error::invalid(field, format!("{uri:?} has no host")));
            }
        }
        "javascript" | "data" | "vbscript" | "file" | "blob" | "about" => {
            return Err(Error::invalid(field, format!("{uri:?}: scheme not allowed")))
        }
        scheme if scheme.contains('.') => {}
        _ => {
            return Err(Error::invalid(
                field,
                format!(
                    "{uri:?}: use https, http, or a reverse-domain private-use scheme (com.example.app:/cb)"
                ),
            ))
        }
    }
    Ok(())
}

/// Registers a client. Returns the secret for confidential clients, to be shown once.
/// A taken id is [`Error::ClientIdTaken`] and writes nothing.
pub fn create_client(
    conn: &mut DbConn,
    clock: &dyn Clock,
    new: &NewClient,
) -> Result<(Client, Option<ClientSecret>)> {
    check_client_id(&new.id)?;
    if new.redirect_uris.is_empty() {
        return Err(Error::invalid("redirect_uri", "at least one is required"));
    }
    for uri in &new.redirect_uris {
        check_redirect_uri("redirect_uri", uri)?;
    }
    for uri in &new.post_logout_redirect_uris {
        check_redirect_uri("post_logout_redirect_uri", uri)?;
    }
    for scope in &new.scopes {
        if !is_scope_token(scope) || scope == "openid" || scope == "offline_access" {
            return Err(Error::invalid(
                "scope",
                format!("{scope:?} is not an API scope (one word; not openid or offline_access)"),
            ));
        }
    }
    if new.public && (new.introspect || !new.scopes.is_empty()) {
        return Err(Error::invalid(
            "public",
            "a public client cannot introspect or use client_credentials scopes",
        ));
    }
    for uri in &new.resources {
        check_resource(uri)?;
        // Checked before anything is written, so a refusal leaves no client behind (the
        // primary key still guards a race between two registrations).
        // (A URI of this very id is a taken id, reported as such below.)
        if find_resource_server(conn, uri)?.is_some_and(|owner| owner != new.id) {
            return Err(Error::invalid(
                "resource",
                format!("{uri:?} already names another client"),
            ));
        }
    }
    let display_name = match new.display_name.trim() {
        "" => new.id.clone(),
        name if name.chars().count() > 128 => {
            return Err(Error::invalid(
                "display_name",
                "must be at most 128 characters",
            ))
        }
        name => name.to_owned(),
    };
    let secret = (!new.public).then(|| ClientSecret(random_token()));
    let client = Client {
        id: new.id.clone(),
        display_name,
        secret_hash: secret.as_ref().map(|s| hash_token(s.expose())),
        public: new.public,
        redirect_uris: dedup(&new.redirect_uris),
        post_logout_redirect_uris: dedup(&new.post_logout_redirect_uris),
        mfa_policy: new.mfa_policy,
        created_at: clock.now(),
        id_token_signed_response_alg: new.id_token_signed_response_alg,
        scopes: dedup(&new.scopes),
        offline_access: new.offline_access,
        introspect: new.introspect,
    };
    let to_json = |v: &Vec<String>| {
        serde_json::to_string(v).map_err(|e| Error::invalid("redirect_uri", e.to_string()))
    };
    diesel::insert_into(clients::table)
        .values((
            clients::id.eq(&client.id),
            clients::display_name.eq(&client.display_name),
            clients::secret_hash.eq(&client.secret_hash),
            clients::public.eq(client.public),
            clients::redirect_uris.eq(to_json(&client.redirect_uris)?),
            clients::post_logout_redirect_uris.eq(to_json(&client.post_logout_redirect_uris)?),
            clients::mfa_policy.eq(client.mfa_policy.as_str()),
            clients::created_at.eq(client.created_at),
            clients::id_token_signed_response_alg.eq(client.id_token_signed_response_alg.as_str()),
            clients::scopes.eq(to_json(&client.scopes)?),
            clients::offline_access.eq(client.offline_access),
            clients::introspect.eq(client.introspect),
        ))
        .execute(conn)
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::ClientIdTaken(new.id.clone())
            } else {
                Error::Database(e)
            }
        })?;
    for uri in dedup(&new.resources) {
        diesel::insert_into(client_resources::table)
            .values((
                client_resources::uri.eq(uri),
                client_resources::client_id.eq(&client.id),
            ))
            .execute(conn)?;
    }
    Ok((client, secret))
}

fn dedup(uris: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(uris.len());
    for uri in uris {
        if !out.contains(uri) {
            out.push(uri.clone());
        }
    }
    out
}

/// The resource indicators (RFC 8707) that name `client_id` as an access token's audience.
///
/// Kept out of [`Client`]: only registration and listing show them, and [`find_client`] is on
/// every token request.
pub fn resources_of(conn: &mut DbConn, client_id: &str) -> Result<Vec<String>> {
    Ok(client_resources::table
        .filter(client_resources::client_id.eq(client_id))
        .order(client_resources::uri.asc())
        .select(client_resources::uri)
        .load(conn)?)
}

/// Finds a client by id.
pub fn find_client(conn: &mut DbConn, id: &str) -> Result<Option<Client>> {
    let Some(row) = clients::table
        .find(id)
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    row.into_client().map(Some)
}

/// The client a resource indicator names, if any.
pub fn find_resource_server(conn: &mut DbConn, uri: &str) -> Result<Option<String>> {
    Ok(client_resources::table
        .find(uri)
        .select(client_resources::client_id)
        .first(conn)
        .optional()?)
}

/// Every client, ordered by id.
pub fn list_clients(conn: &mut DbConn) -> Result<Vec<Client>> {
    let rows = clients::table
        .order(clients::id.asc())
        .select(ClientRow::as_select())
        .load(conn)?;
    rows.into_iter().map(ClientRow::into_client).collect()
}

/// Every client's resource indicators, by client id.
pub fn all_resources(conn: &mut DbConn) -> Result<HashMap<String, Vec<String>>> {
    let rows: Vec<(String, String)> = client_resources::table
        .order(client_resources::uri.asc())
        .select((client_resources::client_id, client_resources::uri))
        .load(conn)?;
    let mut by_client: HashMap<String, Vec<String>> = HashMap::new();
    for (client_id, uri) in rows {
        by_client.entry(client_id).or_default().push(uri);
    }
    Ok(by_client)
}

/// Removes a client; [`Error::ClientNotFound`] when there is none.
pub fn remove_client(conn: &mut DbConn, id: &str) -> Result<()> {
    let removed = diesel::delete(clients::table.find(id)).execute(conn)?;
    if removed == 0 {
        return Err(Error::ClientNotFound(id.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        for ok in [
            "https://app.example.com/cb",
            "http://127.0.0.1:3000/callback",
            "https://app.example.com/cb?x=1",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(check_redirect_uri("redirect_uri", ok).is_ok(), "{ok}");
        }
        for bad in [
            "/relative",
            "https://app.example.com/cb#frag",
            "javascript:alert(1)",
            "data:text/html,x",
            "myapp:/cb",
            "",
            "https://",
        ] {
            assert!(check_redirect_uri("redirect_uri", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_id_rules() {
        assert!(check_client_id("my-app.v2_x").is_ok());
        assert!(check_client_id("").is_err());
        assert!(check_client_id("has space").is_err());
        assert!(check_client_id(&"a".repeat(129)).is_err());
    }

    #[test]
    fn secret_verification() {
        let client = Client {
            id: "c".into(),
            display_name: "c".into(),
            secret_hash: Some(hash_token("s3cret")),
            public: false,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            mfa_policy: MfaPolicy::Inherit,
            created_at: 0,
            id_token_signed_response_alg: IdTokenAlg::RS256,
            scopes: vec![],
            offline_access: false,
            introspect: false,
        };
        assert!(client.verify_secret("s3cret"));
        assert!(!client.verify_secret("s3cret "));
        assert!(!Client {
            secret_hash: None,
            ..client
        }
        .verify_secret(""));
    }
}
