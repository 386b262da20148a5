//! Signing keys: the one module that owns key material and `kid`s. Keys are generated at
//! first start (RSA-2048 for RS256, P-256 for ES256), their private parts sealed by the secret
//! box and stored in the database, so every node signs with the same keys. Signing uses
//! aws-lc-rs key pairs (constant-time), parsed once when the keys are loaded: jsonwebtoken's
//! `encode` parses and checks the private key again at every signature, which made an RS256
//! signature cost twice what it does; verifying goes through jsonwebtoken. Never the `rsa`
//! crate (RUSTSEC-2023-0071). Each node caches the keys and re-reads them every 30 seconds, so a
//! rotation reaches every node without a restart. A rotation publishes the new keys at once
//! but signs with them only after `tokens.signing_key_delay_seconds` (relying parties cache
//! the JWKS, and a token signed by a key they have not seen yet would be refused); the old
//! keys sign until then. Retired keys stay in the JWKS until the last token they signed has
//! expired.

use std::sync::{Arc, RwLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use keystep_core::db::DbConn;
use keystep_core::signing_keys::{self, StoredKey};
use keystep_core::{Error, Services};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The secret-box purpose of sealed private keys.
const SEAL_PURPOSE: &str = "signing_key";
/// How often a node re-reads the keys (seconds of the injected clock).
const REFRESH_SECONDS: i64 = 30;

/// A key ready to sign and verify.
struct LoadedKey {
    kid: String,
    alg: Algorithm,
    signer: Signer,
    decoding: DecodingKey,
    jwk: Value,
    created_at: i64,
    retired_at: Option<i64>,
    signs_from: Option<i64>,
}

impl LoadedKey {
    /// Whether it signs at `now`: started, and not yet retired.
    fn signs_at(&self, now: i64) -> bool {
        self.signs_from.is_none_or(|from| from <= now)
            && self.retired_at.is_none_or(|until| until > now)
    }
}

/// A private key parsed once, ready to sign.
enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl Signer {
    fn from_pkcs8(alg: Algorithm, der: &[u8]) -> Result<Self, Error> {
        match alg {
            Algorithm::RS256 => RsaKeyPair::from_pkcs8(der)
                .map(Self::Rsa)
                .map_err(|e| key_error(&format!("stored RSA key: {e}"))),
            Algorithm::ES256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                .map(Self::Ec)
                .map_err(|e| key_error(&format!("stored EC key: {e}"))),
            other => Err(key_error(&format!("unsupported algorithm {other:?}"))),
        }
    }

    /// The signature over `message`: RSASSA-PKCS1-v1_5 with SHA-256 (RS256), or ECDSA P-256
    /// with SHA-256 as the fixed-width `R || S` that RFC 7518 §3.4 requires (ES256).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let rng = SystemRandom::new();
        match self {
            Self::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(|_| key_error("RSA signing failed"))?;
                Ok(signature)
            }
            Self::Ec(pair) => pair
                .sign(&rng, message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| key_error("EC signing failed")),
        }
    }
}

/// The JWS Compact Serialization (RFC 7515 §7.1) of `claims` under `header`, signed.
fn compact_jws<T: Serialize>(
    header: &Header,
    claims: &T,
    signer: &Signer,
) -> Result<String, Error> {
    let json = |e: serde_json::Error| key_error(&format!("serialising a token: {e}"));
    let mut jws = b64(&serde_json::to_vec(header).map_err(json)?);
    jws.push('.');
    jws.push_str(&b64(&serde_json::to_vec(claims).map_err(json)?));
    let signature = signer.sign(jws.as_bytes())?;
    jws.push('.');
    jws.push_str(&b64(&signature));
    Ok(jws)
}

struct Cache {
    loaded_at: i64,
    keys: Arc<Vec<Arc<LoadedKey>>>,
    /// The JWKS document of `keys`, serialised once per load.
    jwks: Arc<[u8]>,
}

impl Cache {
    fn fresh(&self, now: i64) -> bool {
        now - self.loaded_at < REFRESH_SECONDS && now >= self.loaded_at
    }
}

/// What a load yields: the keys and their JWKS document.
struct Loaded {
    keys: Arc<Vec<Arc<LoadedKey>>>,
    jwks: Arc<[u8]>,
}

/// Why a token did not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Bad signature, unknown key, wrong issuer or type, expired, malformed.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The keys could not be read.
    #[error(transparent)]
    Unavailable(#[from] Error),
}

/// The node's view of the signing keys.
#[derive(Default)]
pub struct KeyStore {
    cache: RwLock<Option<Cache>>,
    /// Access tokens verified with these keys; forgotten when they change.
    pub verified: crate::verified::VerifiedTokens,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyStore")
    }
}

fn key_error(what: &str) -> Error {
    Error::MasterKey(format!("signing key: {what}"))
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7638 thumbprint of a public JWK: SHA-256 over the required members in lexical order.
fn thumbprint(jwk: &Value) -> String {
    let canonical = match jwk["kty"].as_str() {
        Some("RSA") => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            jwk["e"].as_str().unwrap_or_default(),
            jwk["n"].as_str().unwrap_or_default()
        ),
        _ => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["crv"].as_str().unwrap_or_default(),
            jwk["x"].as_str().unwrap_or_default(),
            jwk["y"].as_str().unwrap_or_default()
        ),
    };
    b64(&Sha256::digest(canonical.as_bytes()))
}

/// A new key pair: (PKCS#8 DER, public JWK with kid).
fn generate(alg: Algorithm) -> Result<(Vec<u8>, Value), Error> {
    let (pkcs8, mut jwk) = match alg {
        Algorithm::RS256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| key_error("RSA generation failed"))?;
            let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)
                .map_err(|_| key_error("RSA export failed"))?;
            let public = pair.public_key();
            let jwk = json!({
                "kty": "RSA",
                "n": b64(public.modulus().big_endian_without_leading_zero()),
                "e": b64(public.exponent().big_endian_without_leading_zero()),
            });
            (der.as_ref().to_vec(), jwk)
        }
        Algorithm::ES256 => {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .map_err(|_| key_error("EC generation failed"))?;
            let der = pair
                .to_pkcs8v1()
                .map_err(|_| key_error("EC export failed"))?;
            let point = pair.public_key().as_ref();
            // Uncompressed SEC1 point: 0x04 || X (32 bytes) || Y (32 bytes).
            if point.len() != 65 || point[0] != 4 {
                return Err(key_error("unexpected EC public key encoding"));
            }
            let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])});
            (der.as_ref().to_vec(), jwk)
        }
        other => return Err(key_error(&format!("unsupported algorithm {other:?}"))),
    };
    let kid = thumbprint(&jwk);
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    jwk["alg"] = json!(alg_name(alg));
    Ok((pkcs8, jwk))
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ES256",
        _ => "RS256",
    }
}

fn parse_alg(name: &str) -> Option<Algorithm> {
    match name {
        "RS256" => Some(Algorithm::RS256),
        "ES256" => Some(Algorithm::ES256),
        _ => None,
    }
}

fn load(services: &Services, stored: &StoredKey) -> Result<LoadedKey, Error> {
    let alg = parse_alg(&stored.alg).ok_or_else(|| key_error("unknown algorithm in store"))?;
    let der = services
        .secret_box
        .open(SEAL_PURPOSE, &stored.private_key)?;
    let jwk: Value = serde_json::from_str(&stored.public_jwk)
        .map_err(|_| key_error("stored JWK is not JSON"))?;
    let field = |name: &str| jwk[name].as_str().unwrap_or_default().to_owned();
    let signer = Signer::from_pkcs8(alg, &der)?;
    let decoding = match alg {
        Algorithm::RS256 => DecodingKey::from_rsa_components(&field("n"), &field("e")),
        _ => DecodingKey::from_ec_components(&field("x"), &field("y")),
    }
    .map_err(|e| key_error(&e.to_string()))?;
    Ok(LoadedKey {
        kid: stored.kid.clone(),
        alg,
        signer,
        decoding,
        jwk,
        created_at: stored.created_at,
        retired_at: stored.retired_at,
        signs_from: stored.signs_from,
    })
}

/// How long a retired key stays published: the longest token lifetime, plus a minute.
fn retention(services: &Services) -> i64 {
    let tokens = &services.config.tokens;
    i64::try_from(tokens.id_token_seconds.max(tokens.access_token_seconds)).unwrap_or(i64::MAX / 2)
        + 60
}

fn create_key(
    services: &Services,
    conn: &mut DbConn,
    alg: Algorithm,
    signs_from: Option<i64>,
) -> Result<String, Error> {
    let (pkcs8, jwk) = generate(alg)?;
    let kid = jwk["kid"].as_str().unwrap_or_default().to_owned();
    signing_keys::insert(
        conn,
        &StoredKey {
            kid: kid.clone(),
            alg: alg_name(alg).to_owned(),
            private_key: services.secret_box.seal(SEAL_PURPOSE, &pkcs8)?,
            public_jwk: jwk.to_string(),
            created_at: services.clock.now(),
            retired_at: None,
            signs_from,
        },
    )?;
    Ok(kid)
}

impl KeyStore {
    /// An empty store; keys are read on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes sure an active RS256 and an active ES256 key exist (first start).
    pub fn ensure(&self, services: &Services, conn: &mut DbConn) -> Result<(), Error> {
        let stored = signing_keys::list(conn)?;
        for alg in [Algorithm::RS256, Algorithm::ES256] {
            if !stored
                .iter()
                .any(|k| k.alg == alg_name(alg) && k.retired_at.is_none())
            {
                let kid = create_key(services, conn, alg, None)?;
                tracing::info!(kid, alg = alg_name(alg), "generated signing key");
            }
        }
        self.invalidate();
        Ok(())
    }

    /// Generates new keys, retires the old ones and drops keys retired long enough ago that
    /// nothing they signed is still valid. The new keys are published at once and sign after
    /// `tokens.signing_key_delay_seconds`, the old ones signing until then; `at_once` (or
    /// no old key of the algorithm to sign meanwhile) skips the wait. Returns the new kids
    /// and how many seconds from now they start signing.
    pub fn rotate(
        &self,
        services: &Services,
        conn: &mut DbConn,
        at_once: bool,
    ) -> Result<(Vec<String>, i64), Error> {
        let now = services.clock.now();
        let delay = if at_once {
            0
        } else {
            i64::try_from(services.config.tokens.signing_key_delay_seconds).unwrap_or(0)
        };
        let stored = signing_keys::list(conn)?;
        let mut kids = Vec::new();
        let mut starts = now;
        for alg in [Algorithm::RS256, Algorithm::ES256] {
            let signing_now = stored.iter().any(|k| {
                k.alg == alg_name(alg)
                    && k.signs_from.is_none_or(|from| from <= now)
                    && k.retired_at.is_none_or(|until| until > now)
            });
            let handover = if signing_now { now + delay } else { now };
            signing_keys::retire_active(conn, alg_name(alg), handover)?;
            let signs_from = (handover > now).then_some(handover);
            kids.push(create_key(services, conn, alg, signs_from)?);
            starts = starts.max(handover);
        }
        signing_keys::delete_retired_before(conn, services.clock.now() - retention(services))?;
        self.invalidate();
        Ok((kids, starts - now))
    }

    fn invalidate(&self) {
        if let Ok(mut cache) = self.cache.write() {
            *cache = None;
        }
        self.verified.clear();
    }

    fn keys(
        &self,
        services: &Services,
        conn: &mut DbConn,
    ) -> Result<Arc<Vec<Arc<LoadedKey>>>, Error> {
        Ok(self.loaded(services, conn)?.keys)
    }

    /// The cached keys and their JWKS, loaded again when older than [`REFRESH_SECONDS`].
    fn loaded(&self, services: &Services, conn: &mut DbConn) -> Result<Loaded, Error> {
        let now = services.clock.now();
        if let Some(fresh) = self.fresh(now) {
            return Ok(fresh);
        }
        let cutoff = now - retention(services);
        let mut keys = Vec::new();
        for stored in signing_keys::list(conn)? {
            if stored.retired_at.is_some_and(|at| at < cutoff) {
                continue;
            }
            keys.push(Arc::new(load(services, &stored)?));
        }
        let jwks = json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() });
        let jwks: Arc<[u8]> = serde_json::to_vec(&jwks)
            .map_err(|e| key_error(&e.to_string()))?
            .into();
        let keys = Arc::new(keys);
        if let Ok(mut cache) = self.cache.write() {
            *cache = Some(Cache {
                loaded_at: now,
                keys: keys.clone(),
                jwks: jwks.clone(),
            });
        }
        Ok(Loaded { keys, jwks })
    }

    /// True when the key `kid` is among the keys loaded less than [`REFRESH_SECONDS`] ago:
    /// what a remembered verification made with it needs to stay trusted.
    pub fn has_fresh_key(&self, kid: &str, now: i64) -> bool {
        self.fresh(now)
            .is_some_and(|loaded| loaded.keys.iter().any(|k| k.kid == kid))
    }

    fn fresh(&self, now: i64) -> Option<Loaded> {
        let cache = self.cache.read().ok()?;
        let cache = cache.as_ref().filter(|c| c.fresh(now))?;
        Some(Loaded {
            keys: cache.keys.clone(),
            jwks: cache.jwks.clone(),
        })
    }

    /// The JWKS document as served, while the cached keys are fresh: no database, no
    /// blocking-pool hop. `None` when they must be loaded again ([`KeyStore::jwks`]).
    pub fn fresh_jwks(&self, now: i64) -> Option<Arc<[u8]>> {
        self.fresh(now).map(|loaded| loaded.jwks)
    }

    /// Signs `claims` as a JWS with the newest active key of `alg`, with header `typ`.
    pub fn sign<T: Serialize>(
        &self,
        services: &Services,
        conn: &mut DbConn,
        alg: Algorithm,
        typ: &str,
        claims: &T,
    ) -> Result<String, Error> {
        let keys = self.keys(services, conn)?;
        let now = services.clock.now();
        let key = keys
            .iter()
            .filter(|k| k.alg == alg && k.signs_at(now))
            .max_by_key(|k| k.created_at)
            .ok_or_else(|| key_error("no active key; run `keystep keys rotate`"))?;
        let mut header = Header::new(alg);
        header.kid = Some(key.kid.clone());
        header.typ = Some(typ.to_owned());
        compact_jws(&header, claims, &key.signer)
    }

    /// The JWKS document, serialised: active keys and retired keys still within their
    /// retention.
    pub fn jwks(&self, services: &Services, conn: &mut DbConn) -> Result<Arc<[u8]>, Error> {
        Ok(self.loaded(services, conn)?.jwks)
    }

    /// Verifies a JWS signed by one of our published keys, issued by `issuer`, with header
    /// `typ` when given. `check_exp = false` accepts expired tokens (an `id_token_hint` may
    /// be expired, RP-Initiated Logout §2).
    pub fn verify<T: DeserializeOwned>(
        &self,
        services: &Services,
        conn: &mut DbConn,
        token: &str,
        typ: Option<&str>,
        check_exp: bool,
    ) -> Result<T, VerifyError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| VerifyError::Invalid(e.to_string()))?;
        if let Some(expected) = typ {
            if !header
                .typ
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case(expected))
            {
                return Err(VerifyError::Invalid(format!("typ is not {expected}")));
            }
        }
        let kid = header
            .kid
            .ok_or_else(|| VerifyError::Invalid("no kid".into()))?;
        let keys = self.keys(services, conn)?;
        let key = keys
            .iter()
            .find(|k| k.kid == kid && k.alg == header.alg)
            .ok_or_else(|| VerifyError::Invalid("unknown key".into()))?;
        let mut validation = Validation::new(key.alg);
        validation.set_issuer(&[services.config.issuer()]);
        validation.validate_aud = false;
        validation.validate_exp = check_exp;
        validation.leeway = 0;
        validation.required_spec_claims.clear();
        validation.set_required_spec_claims(if check_exp {
            &["exp", "iss"][..]
        } else {
            &["iss"][..]
        });
        let data = jsonwebtoken::decode::<T>(token, &key.decoding, &validation)
            .map_err(|e| VerifyError::Invalid(e.to_string()))?;
        Ok(data.claims)
    }

    /// Every stored key with its status, for `keystep keys list`.
    pub fn describe(services: &Services, conn: &mut DbConn) -> Result<Vec<Value>, Error> {
        let now = services.clock.now();
        let cutoff = now - retention(services);
        Ok(signing_keys::list(conn)?
            .into_iter()
            .map(|k| {
                let status = match (k.signs_from, k.retired_at) {
                    (_, Some(at)) if at <= now && at >= cutoff => "retired (still published)",
                    (_, Some(at)) if at <= now => "retired (unpublished)",
                    (Some(from), _) if from > now => "next (published, not signing yet)",
                    (_, Some(_)) => "active (until the next key signs)",
                    (_, None) => "active",
                };
                json!({"kid": k.kid, "alg": k.alg, "status": status, "created_at": k.created_at, "signs_from": k.signs_from, "retired_at": k.retired_at})
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
        });
        assert_eq!(
            thumbprint(&jwk),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn generated_keys_sign_and_verify() {
        for alg in [Algorithm::RS256, Algorithm::ES256] {
            let (pkcs8, jwk) = generate(alg).unwrap();
            let stored = StoredKey {
                kid: jwk["kid"].as_str().unwrap().to_owned(),
                alg: alg_name(alg).into(),
                private_key: String::new(),
                public_jwk: jwk.to_string(),
                created_at: 0,
                retired_at: None,
                signs_from: None,
            };
            let signer = Signer::from_pkcs8(alg, &pkcs8).unwrap();
            let mut header = Header::new(alg);
            header.kid = Some(stored.kid.clone());
            header.typ = Some("at+jwt".to_owned());
            let token = compact_jws(
                &header,
                &json!({"iss": "x", "exp": 4_000_000_000u64}),
                &signer,
            )
            .unwrap();
            let v: Value = serde_json::from_str(&stored.public_jwk).unwrap();
            let decoding = match alg {
                Algorithm::RS256 => DecodingKey::from_rsa_components(
                    v["n"].as_str().unwrap(),
                    v["e"].as_str().unwrap(),
                )
                .unwrap(),
                _ => DecodingKey::from_ec_components(
                    v["x"].as_str().unwrap(),
                    v["y"].as_str().unwrap(),
                )
                .unwrap(),
            };
            // jsonwebtoken, which did not sign it, reads and verifies it.
            let mut validation = Validation::new(alg);
            validation.set_issuer(&["x"]);
            let verified = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).unwrap();
            assert_eq!(verified.header.kid.as_deref(), Some(stored.kid.as_str()));
            assert_eq!(verified.header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(verified.header.alg, alg);
            assert_eq!(verified.claims["iss"], "x");
            // A changed payload no longer verifies.
            let mut parts: Vec<&str> = token.split('.').collect();
            let forged = b64(br#"{"iss":"y","exp":4000000000}"#);
            parts[1] = &forged;
            assert!(
                jsonwebtoken::decode::<Value>(&parts.join("."), &decoding, &Validation::new(alg))
                    .is_err(),
                "{alg:?}"
            );
        }
    }
}
