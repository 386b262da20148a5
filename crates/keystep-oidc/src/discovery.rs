//! OpenID Connect Discovery 1.0: the provider metadata, serialised once at start and served
//! from memory.

use keystep_core::config::Config;
use serde_json::{json, Value};

/// The metadata document for this configuration.
pub fn metadata(config: &Config, ui_locales: &[String]) -> Value {
    let issuer = config.issuer();
    let endpoint = |path: &str| format!("{issuer}{path}");
    json!({
        "issuer": issuer,
        "authorization_endpoint": endpoint("/auth"),
        "token_endpoint": endpoint("/token"),
        "userinfo_endpoint": endpoint("/me"),
        "jwks_uri": endpoint("/jwks"),
        "end_session_endpoint": endpoint("/session/end"),
        "revocation_endpoint": endpoint("/token/revocation"),
        "introspection_endpoint": endpoint("/token/introspection"),
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp",
            "at_hash", "name", "preferred_username", "updated_at", "email"
        ],
        "acr_values_supported": ["aal1", "aal2"],
        "claims_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "prompt_values_supported": ["none", "login"],
        "ui_locales_supported": ui_locales,
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": false,
        "frontchannel_logout_supported": false,
    })
}
