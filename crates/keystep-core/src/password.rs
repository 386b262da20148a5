//! Passwords: argon2id hashing (RFC 9106), verification, rehash on parameter change, and the
//! rules a new password must meet. Verifying against an unknown user costs one full hash, the
//! same as a wrong password, so response time does not tell which usernames exist.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

use crate::config::{Argon2Config, PasswordConfig};
use crate::error::{Error, Result};

/// Builds argon2 parameters from the configuration, or says why they are unusable.
pub fn argon2_params(config: &Argon2Config) -> std::result::Result<Params, String> {
    Params::new(config.memory_kib, config.iterations, config.parallelism, None).map_err(|e| {
        format!(
            "invalid argon2 parameters ({e}): memory_kib must be at least 8 × parallelism, iterations at least 1, parallelism 1 to 16777215"
        )
    })
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    /// Wrong password.
    Mismatch,
    /// Right password, and the stored hash uses the configured parameters.
    Match,
    /// Right password, but the stored hash was made with other parameters (or not with
    /// argon2id): store a fresh hash now, while the plaintext is at hand.
    MatchNeedsRehash,
}

impl PasswordCheck {
    /// True for both kinds of match.
    pub fn matched(self) -> bool {
        !matches!(self, Self::Mismatch)
    }
}

/// Hashes and verifies passwords with the configured argon2id cost.
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    params: Params,
    min_length: usize,
    dummy_hash: OnceLock<String>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .finish()
    }
}

/// The longest password accepted: long enough for any passphrase, short enough that hashing
/// it is no denial-of-service lever.
pub const MAX_PASSWORD_LEN: usize = 1024;

impl PasswordHasher {
    /// A hasher with the configured rules and cost.
    pub fn new(config: &PasswordConfig) -> Result<Self> {
        let params =
            argon2_params(&config.argon2).map_err(|e| Error::invalid("password.argon2", e))?;
        let hasher = Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone()),
            params,
            min_length: config.min_length,
            dummy_hash: OnceLock::new(),
        };
        // Made now, so the first unknown-user sign-in costs one hash like every other.
        hasher.dummy_hash();
        Ok(hasher)
    }

    /// Checks a new password against the rules: not empty, at least `password.min_length`
    /// characters, at most [`MAX_PASSWORD_LEN`] bytes.
    pub fn check_rules(&self, password: &str) -> Result<()> {
        if password.is_empty() {
            return Err(Error::invalid("password", "must not be empty"));
        }
        if password.chars().count() < self.min_length {
            return Err(Error::invalid(
                "password",
                format!("must be at least {} characters", self.min_length),
            ));
        }
        if password.len() > MAX_PASSWORD_LEN {
            return Err(Error::invalid(
                "password",
                format!("must be at most {MAX_PASSWORD_LEN} bytes"),
            ));
        }
        Ok(())
    }

    /// Hashes a password (after [`Self::check_rules`]) into a PHC string.
    pub fn hash(&self, password: &str) -> Result<String> {
        self.check_rules(password)?;
        self.hash_unchecked(password)
    }

    /// Hashes a password that was just verified, without the rules for new passwords (they
    /// may have tightened since it was set).
    pub fn hash_for_rehash(&self, password: &str) -> Result<String> {
        self.hash_unchecked(password)
    }

    fn hash_unchecked(&self, password: &str) -> Result<String> {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| Error::PasswordHash(e.to_string()))?;
        self.argon2
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| Error::PasswordHash(e.to_string()))
    }

    /// Verifies a password against a stored PHC hash.
    pub fn verify(&self, password: &str, stored: &str) -> Result<PasswordCheck> {
        let parsed = PasswordHash::new(stored).map_err(|e| Error::PasswordHash(e.to_string()))?;
        // Verification uses the parameters stored in the hash itself, so old hashes keep
        // working after the configuration changes.
        let argon2 = Argon2::default();
        match argon2.verify_password(password.as_bytes(), &parsed) {
            Ok(()) => Ok(if self.is_current(&parsed) {
                PasswordCheck::Match
            } else {
                PasswordCheck::MatchNeedsRehash
            }),
            Err(argon2::password_hash::Error::Password) => Ok(PasswordCheck::Mismatch),
            Err(e) => Err(Error::PasswordHash(e.to_string())),
        }
    }

    /// Spends what a real verification costs, for a username that does not exist.
    pub fn verify_dummy(&self, password: &str) {
        let _ = self.verify(password, self.dummy_hash());
    }

    fn dummy_hash(&self) -> &str {
        self.dummy_hash.get_or_init(|| {
            let mut random = [0u8; 24];
            rand::rng().fill_bytes(&mut random);
            self.hash_unchecked(&format!("{random:?}"))
                .unwrap_or_default()
        })
    }

    fn is_current(&self, parsed: &PasswordHash<'_>) -> bool {
        if parsed.algorithm != Algorithm::Argon2id.ident() {
            return false;
        }
        match Params::try_from(parsed) {
            Ok(p) => {
                p.m_cost() == self.params.m_cost()
                    && p.t_cost() == self.params.t_cost()
                    && p.p_cost() == self.params.p_cost()
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(memory_kib: u32) -> PasswordHasher {
        PasswordHasher::new(&PasswordConfig {
            min_length: 8,
            argon2: Argon2Config {
                memory_kib,
                iterations: 1,
                parallelism: 1,
            },
        })
        .unwrap()
    }

    #[test]
    fn hash_and_verify() {
        let h = hasher(64);
        let stored = h.hash("correct horse").unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(
            h.verify("correct horse", &stored).unwrap(),
            PasswordCheck::Match
        );
        assert_eq!(
            h.verify("correct horsE", &stored).unwrap(),
            PasswordCheck::Mismatch
        );
        assert_ne!(stored, h.hash("correct horse").unwrap(), "salted");
    }

    #[test]
    fn changed_parameters_ask_for_rehash() {
        let old = hasher(64).hash("correct horse").unwrap();
        let new = hasher(128);
        assert_eq!(
            new.verify("correct horse", &old).unwrap(),
            PasswordCheck::MatchNeedsRehash
        );
        assert_eq!(
            new.verify("wrong horse!", &old).unwrap(),
            PasswordCheck::Mismatch
        );
        let rehashed = new.hash("correct horse").unwrap();
        assert_eq!(
            new.verify("correct horse", &rehashed).unwrap(),
            PasswordCheck::Match
        );
    }

    #[test]
    fn rules() {
        let h = hasher(64);
        assert!(matches!(
            h.hash(""),
            Err(Error::Invalid {
                field: "password",
                ..
            })
        ));
        assert!(h.hash("short").is_err());
        assert!(h.hash(&"x".repeat(MAX_PASSWORD_LEN + 1)).is_err());
        assert!(h.hash("eight ch").is_ok());
    }

    #[test]
    fn corrupt_hash_is_an_error() {
        assert!(hasher(64).verify("whatever", "not a PHC string").is_err());
        assert!(!hasher(64)
            .verify("whatever", "$argon2id$garbage")
            .is_ok_and(PasswordCheck::matched));
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(argon2_params(&Argon2Config {
            memory_kib: 1,
            iterations: 1,
            parallelism: 1
        })
        .is_err());
        assert!(argon2_params(&Argon2Config {
            memory_kib: 64,
            iterations: 0,
            parallelism: 1
        })
        .is_err());
    }
}
