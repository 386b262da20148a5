//! Passwords: argon2id hashing (RFC 9106), verification, rehash on parameter change, and the
//! rules a new password must meet. Verifying against an unknown user costs one full hash, the
//! same as a wrong password, so response time does not tell which usernames exist.
//!
//! Every hash runs on a small pool of worker threads, each holding one argon2 memory area that
//! it reuses. A hash allocated per call (as `argon2`'s convenience API does) on whichever thread
//! asks makes memory grow with the number of concurrent sign-ins, and the allocator keeps it
//! afterwards: a login form would be a lever for exhausting memory. Callers beyond the workers
//! wait in a bounded queue and, past it or past `password.hashing.max_wait_ms`, get
//! [`Error::Busy`].

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Params, Version};
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::config::{Argon2Config, PasswordConfig};
use crate::error::{Error, Result};

mod pool;

use pool::{compute, HashPool};

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

/// A rule a new password breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRule {
    /// It is empty.
    Empty,
    /// It has fewer than `min` characters.
    TooShort {
        /// `password.min_length`.
        min: usize,
    },
    /// It is longer than `max` bytes.
    TooLong {
        /// The limit in bytes.
        max: usize,
    },
}

/// Hashes and verifies passwords with the configured argon2id cost, on the hashing pool.
pub struct PasswordHasher {
    params: Params,
    min_length: usize,
    pool: HashPool,
    dummy_hash: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .field("workers", &self.pool.workers)
            .finish()
    }
}

/// The longest password accepted: long enough for any passphrase, short enough that hashing
/// it is no denial-of-service lever.
pub const MAX_PASSWORD_LEN: usize = 1024;

impl PasswordHasher {
    /// A hasher with the configured rules and cost; starts its worker threads.
    pub fn new(config: &PasswordConfig) -> Result<Self> {
        let params =
            argon2_params(&config.argon2).map_err(|e| Error::invalid("password.argon2", e))?;
        let mut hasher = Self {
            params,
            min_length: config.min_length,
            pool: HashPool::start(&config.hashing)?,
            dummy_hash: String::new(),
        };
        // Made at start, so a hash that cannot be made stops the start instead of letting
        // unknown names be refused faster than known ones.
        hasher.dummy_hash = hasher.make_dummy_hash()?;
        Ok(hasher)
    }

    /// How many hashes run at once.
    pub fn workers(&self) -> usize {
        self.pool.workers
    }

    /// The first rule a new password breaks, if any: not empty, at least
    /// `password.min_length` characters, at most [`MAX_PASSWORD_LEN`] bytes.
    pub fn broken_rule(&self, password: &str) -> Option<PasswordRule> {
        if password.is_empty() {
            Some(PasswordRule::Empty)
        } else if password.chars().count() < self.min_length {
            Some(PasswordRule::TooShort {
                min: self.min_length,
            })
        } else if password.len() > MAX_PASSWORD_LEN {
            Some(PasswordRule::TooLong {
                max: MAX_PASSWORD_LEN,
            })
        } else {
            None
        }
    }

    /// Checks a new password against the rules, as an [`Error::Invalid`] naming the rule.
    pub fn check_rules(&self, password: &str) -> Result<()> {
        let reason = match self.broken_rule(password) {
            None => return Ok(()),
            Some(PasswordRule::Empty) => "must not be empty".to_owned(),
            Some(PasswordRule::TooShort { min }) => format!("must be at least {min} characters"),
            Some(PasswordRule::TooLong { max }) => format!("must be at most {max} bytes"),
        };
        Err(Error::invalid("password", reason))
    }

    /// Hashes a password (after [`Self::check_rules`]) into a PHC string. Slow: call it
    /// before opening a write transaction, not inside one.
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
        let params = self.params.clone();
        let password = password.as_bytes().to_vec();
        let output = self.pool.run(move |memory| {
            let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
            compute(
                Algorithm::Argon2id,
                Version::V0x13,
                &params,
                &password,
                &salt,
                &mut out,
                memory,
            )?;
            Ok::<_, Error>(out)
        })??;
        self.phc(&salt, &output)
    }

    /// The PHC string of an argon2id hash with the configured parameters.
    fn phc(&self, salt: &[u8], output: &[u8]) -> Result<String> {
        let salt = SaltString::encode_b64(salt).map_err(phc_error)?;
        Ok(PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(phc_error)?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(output).map_err(phc_error)?),
        }
        .to_string())
    }

    /// Verifies a password against a stored PHC hash. Slow, like [`Self::hash`].
    pub fn verify(&self, password: &str, stored: &str) -> Result<PasswordCheck> {
        let parsed = PasswordHash::new(stored).map_err(phc_error)?;
        // Verification uses the parameters stored in the hash itself, so old hashes keep
        // working after the configuration changes.
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(phc_error)?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(phc_error)?
            .unwrap_or_default();
        let params = Params::try_from(&parsed).map_err(phc_error)?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Err(Error::PasswordHash(
                "the stored hash has no salt or output".into(),
            ));
        };
        let mut salt_buf = [0u8; 64];
        let salt = salt.decode_b64(&mut salt_buf).map_err(phc_error)?.to_vec();
        let expected = expected.as_bytes().to_vec();
        let password = password.as_bytes().to_vec();
        let configured_blocks = self.params.block_count();
        let matched = self.pool.run(move |memory| {
            let mut out = vec![0u8; expected.len()];
            let computed = compute(
                algorithm, version, &params, &password, &salt, &mut out, memory,
            );
            // A hash made at a higher cost than today's needed a larger area: give it back, so
            // a worker keeps the configured size rather than the largest it ever saw.
            if memory.len() > configured_blocks {
                memory.truncate(configured_blocks);
                memory.shrink_to_fit();
            }
            computed?;
            Ok::<_, Error>(bool::from(out.ct_eq(&expected)))
        })??;
        Ok(match matched {
            false => PasswordCheck::Mismatch,
            true if self.is_current(&parsed) => PasswordCheck::Match,
            true => PasswordCheck::MatchNeedsRehash,
        })
    }

    /// Spends what a real verification costs, for a username that does not exist. Busy is
    /// passed on: an unknown user must be refused exactly as a known one would be.
    pub fn verify_dummy(&self, password: &str) -> Result<()> {
        match self.verify(password, self.dummy_hash()) {
            Err(Error::Busy) => Err(Error::Busy),
            _ => Ok(()),
        }
    }

    /// What an unknown user's password is checked against: a well-formed argon2id hash with
    /// the configured parameters, a random salt and a random output. Checking a password
    /// against it costs one full hash, like a real one, and matches no password (that would
    /// take finding a 256-bit output). Nothing is hashed to make it, so a start allocates no
    /// hashing area and an operator command does no hashing it does not need.
    fn make_dummy_hash(&self) -> Result<String> {
        let mut salt = [0u8; 16];
        let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
        rand::rng().fill_bytes(&mut salt);
        rand::rng().fill_bytes(&mut output);
        self.phc(&salt, &output)
    }

    fn dummy_hash(&self) -> &str {
        &self.dummy_hash
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

fn phc_error(e: impl std::fmt::Display) -> Error {
    Error::PasswordHash(e.to_string())
}

#[cfg(test)]
mod tests;
