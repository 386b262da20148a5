//! Access tokens whose signature this node has checked, remembered by the SHA-256 of the
//! token. A resource server that introspects the token of every call, or an application
//! that calls userinfo again, presents one token many times; its ES256 check is the larger
//! part of such a request, and is done once. An entry lives until the token expires, and at
//! most [`REMEMBERED_SECONDS`], and is used only while the key that signed it is in the
//! node's fresh key cache (loaded less than 30 seconds ago): a key removed by another process
//! is trusted no longer than the key cache trusts it. Revocation is not remembered: it is
//! checked at every request. At most [`MAX_TOKENS`] are kept; only tokens that verified are, so made-up ones
//! cannot fill it.

use std::collections::HashMap;
use std::sync::RwLock;

use sha2::{Digest, Sha256};

use crate::tokens::AccessClaims;

/// How long a checked signature is trusted without checking again (seconds).
pub const REMEMBERED_SECONDS: i64 = 30;

/// Tokens remembered at most; past it, the expired go, and if none has, all of them.
pub const MAX_TOKENS: usize = 4096;

#[derive(Debug)]
struct Entry {
    claims: AccessClaims,
    /// The key that signed it.
    kid: String,
    /// Unix seconds: before this, the signature need not be checked again.
    until: i64,
}

/// The remembered tokens of one node.
#[derive(Debug, Default)]
pub struct VerifiedTokens {
    entries: RwLock<HashMap<[u8; 32], Entry>>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl VerifiedTokens {
    /// The claims of `token` when its signature was checked, it has not expired, and
    /// `key_is_fresh` says the key that signed it is still loaded.
    pub fn get(
        &self,
        token: &str,
        now: i64,
        key_is_fresh: impl Fn(&str) -> bool,
    ) -> Option<AccessClaims> {
        let entries = self.entries.read().ok()?;
        entries
            .get(&digest(token))
            .filter(|entry| now < entry.until && key_is_fresh(&entry.kid))
            .map(|entry| entry.claims.clone())
    }

    /// Remembers that `token`, signed by `kid`, with `claims`, verified at `now`.
    pub fn remember(&self, token: &str, kid: &str, claims: &AccessClaims, now: i64) {
        let until = claims.exp.min(now + REMEMBERED_SECONDS);
        if until <= now {
            return;
        }
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_TOKENS {
                entries.retain(|_, entry| now < entry.until);
                if entries.len() >= MAX_TOKENS {
                    entries.clear();
                }
            }
            let entry = Entry {
                claims: claims.clone(),
                kid: kid.to_owned(),
                until,
            };
            entries.insert(digest(token), entry);
        }
    }

    /// Forgets every token: the keys changed.
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> AccessClaims {
        serde_json::from_value(serde_json::json!({
            "iss": "https://id.example/oidc", "sub": "ada", "aud": "app", "exp": exp,
            "iat": 0, "jti": "j1", "client_id": "app", "scope": "openid",
        }))
        .unwrap()
    }

    fn loaded(kid: &str) -> bool {
        kid == "k1"
    }

    #[test]
    fn a_token_is_remembered_until_it_expires_and_thirty_seconds_at_most() {
        let tokens = VerifiedTokens::default();
        tokens.remember("short", "k1", &claims(1_010), 1_000);
        tokens.remember("long", "k1", &claims(5_000), 1_000);
        assert!(tokens.get("short", 1_009, loaded).is_some());
        assert!(tokens.get("short", 1_010, loaded).is_none(), "expired");
        assert!(tokens.get("long", 1_029, loaded).is_some());
        assert!(
            tokens.get("long", 1_030, loaded).is_none(),
            "checked again after 30 s"
        );
        assert!(tokens.get("other", 1_000, loaded).is_none());
        tokens.clear();
        assert!(
            tokens.get("long", 1_001, loaded).is_none(),
            "forgotten with the keys"
        );
    }

    #[test]
    fn a_token_is_trusted_only_while_its_key_is_loaded() {
        let tokens = VerifiedTokens::default();
        tokens.remember("t", "k2", &claims(5_000), 1_000);
        assert!(tokens.get("t", 1_001, |kid| kid == "k2").is_some());
        assert!(
            tokens.get("t", 1_001, loaded).is_none(),
            "its key is gone from the key cache, or the cache is stale"
        );
    }

    #[test]
    fn an_expired_token_is_not_remembered_and_the_map_stays_bounded() {
        let tokens = VerifiedTokens::default();
        tokens.remember("gone", "k1", &claims(999), 1_000);
        assert!(tokens.get("gone", 999, loaded).is_none());
        for n in 0..MAX_TOKENS + 10 {
            tokens.remember(&format!("t{n}"), "k1", &claims(2_000), 1_000);
        }
        let kept = tokens.entries.read().unwrap().len();
        assert!(kept <= MAX_TOKENS, "{kept}");
    }
}
