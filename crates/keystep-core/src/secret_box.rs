//! The secret box: AES-256-GCM for secrets at rest (TOTP secrets, signing keys). Each sealed
//! value carries its own random 96-bit nonce and is bound to a purpose string (the AEAD's
//! associated data), so a value sealed for one column cannot be replayed into another.
//! Anything that does not authenticate is [`Error::SecretTampered`], never garbage.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;

use crate::config::Config;
use crate::error::{Error, Result};

/// Version tag of the sealed format; a later key-rotation scheme gets a new tag.
const FORMAT: &str = "v1.";
const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;

/// Encrypts and decrypts secrets at rest with the master key.
pub struct SecretBox {
    cipher: Aes256Gcm,
    mac_key: [u8; KEY_LEN],
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox([redacted])")
    }
}

/// Where the master key came from, for the start-up log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// `master_key` in the configuration or `KEYSTEP_MASTER_KEY`.
    Config,
    /// An existing key file.
    File(PathBuf),
    /// A key generated now and written to this file.
    Generated(PathBuf),
}

/// Parses a base64 master key, checking its length.
pub fn parse_master_key(encoded: &str) -> std::result::Result<[u8; KEY_LEN], String> {
    let bytes = STANDARD.decode(encoded.trim()).map_err(|_| {
        "must be 32 bytes, base64-encoded (e.g. `openssl rand -base64 32`)".to_owned()
    })?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "must be 32 bytes, base64-encoded (e.g. `openssl rand -base64 32`); this one is {} bytes",
            bytes.len()
        )
    })
}

impl SecretBox {
    /// A box with the given 256-bit key.
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        // A separate key for MACs, derived so the encryption key is never used for two jobs.
        let mac_key = hmac_sha256(key, &[b"keystep mac key v1"]);
        Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
            mac_key,
        }
    }

    /// A keyed hash (HMAC-SHA-256, base64url) of `message` for `purpose`: what is stored to
    /// look up a secret that is not random enough to store as a plain hash (recovery codes,
    /// mailed codes). Without the master key, a stolen database does not allow offline guessing.
    pub fn mac(&self, purpose: &str, message: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(hmac_sha256(
            &self.mac_key,
            &[purpose.as_bytes(), &[0], message],
        ))
    }

    /// The box for this configuration: `master_key`, else `master_key_file`, else
    /// `{data_dir}/master.key`, generated (mode 0600) when it does not exist yet.
    pub fn from_config(config: &Config) -> Result<(Self, MasterKeySource)> {
        if let Some(key) = &config.master_key {
            let key = parse_master_key(key.expose()).map_err(Error::MasterKey)?;
            return Ok((Self::new(&key), MasterKeySource::Config));
        }
        if let Some(path) = &config.master_key_file {
            let key = read_key_file(path)?;
            return Ok((Self::new(&key), MasterKeySource::File(path.clone())));
        }
        let path = config.data_dir.join("master.key");
        match create_key_file(&path)? {
            Some(key) => Ok((Self::new(&key), MasterKeySource::Generated(path))),
            None => {
                let key = read_key_file(&path)?;
                Ok((Self::new(&key), MasterKeySource::File(path)))
            }
        }
    }

    /// Encrypts `plaintext` for `purpose` (for instance `"totp_secret"`).
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| Error::MasterKey("encryption failed".into()))?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(format!("{FORMAT}{}", STANDARD.encode(sealed)))
    }

    /// Decrypts a value sealed for `purpose`; anything else is [`Error::SecretTampered`].
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<Vec<u8>> {
        let encoded = sealed.strip_prefix(FORMAT).ok_or(Error::SecretTampered)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| Error::SecretTampered)?;
        if bytes.len() < NONCE_LEN {
            return Err(Error::SecretTampered);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| Error::SecretTampered)
    }
}

/// HMAC-SHA-256 over the concatenated parts.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; KEY_LEN] {
    use hmac::{Hmac, Mac};
    // HMAC takes keys of any length, so `new_from_slice` cannot fail; the fallback only
    // satisfies the type.
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<sha2::Sha256> as Mac>::new(&Default::default()));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn read_key_file(path: &Path) -> Result<[u8; KEY_LEN]> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading master key {}", path.display()), e))?;
    warn_if_readable_by_others(path);
    parse_master_key(&text).map_err(|e| Error::MasterKey(format!("{}: {e}", path.display())))
}

/// Writes a fresh key to `path` unless the file exists (then `None`). `create_new` makes two
/// processes starting at once agree on one key: the loser reads the winner's file.
fn create_key_file(path: &Path) -> Result<Option<[u8; KEY_LEN]>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(Error::io(format!("creating {}", path.display()), e)),
    };
    let mut key = [0u8; KEY_LEN];
    rand::rng().fill_bytes(&mut key);
    writeln!(file, "{}", STANDARD.encode(key))
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    Ok(Some(key))
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "master key file is readable by group or others; chmod 600 it");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_box() -> SecretBox {
        SecretBox::new(&[7u8; KEY_LEN])
    }

    #[test]
    fn macs_depend_on_key_and_purpose() {
        let a = test_box();
        assert_eq!(
            a.mac("recovery_code", b"abcd"),
            a.mac("recovery_code", b"abcd")
        );
        assert_ne!(
            a.mac("recovery_code", b"abcd"),
            a.mac("email_code", b"abcd")
        );
        assert_ne!(
            a.mac("recovery_code", b"abcd"),
            SecretBox::new(&[8u8; KEY_LEN]).mac("recovery_code", b"abcd")
        );
        assert_eq!(a.mac("p", b"m").len(), 43);
    }

    #[test]
    fn round_trip() {
        let sb = test_box();
        let sealed = sb.seal("totp_secret", b"JBSWY3DPEHPK3PXP").unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("JBSWY3DP"));
        assert_eq!(
            sb.open("totp_secret", &sealed).unwrap(),
            b"JBSWY3DPEHPK3PXP"
        );
        // Fresh nonce each time: the same plaintext never seals to the same text.
        assert_ne!(sealed, sb.seal("totp_secret", b"JBSWY3DPEHPK3PXP").unwrap());
    }

    #[test]
    fn tampering_is_an_error_never_garbage() {
        let sb = test_box();
        let sealed = sb.seal("totp_secret", b"secret").unwrap();
        let mut bytes = STANDARD.decode(&sealed[3..]).unwrap();
        for i in 0..bytes.len() {
            bytes[i] ^= 0x01;
            let tampered = format!("v1.{}", STANDARD.encode(&bytes));
            assert!(matches!(
                sb.open("totp_secret", &tampered),
                Err(Error::SecretTampered)
            ));
            bytes[i] ^= 0x01;
        }
        assert!(matches!(
            sb.open("signing_key", &sealed),
            Err(Error::SecretTampered)
        ));
        assert!(matches!(
            SecretBox::new(&[8u8; KEY_LEN]).open("totp_secret", &sealed),
            Err(Error::SecretTampered)
        ));
        assert!(matches!(
            sb.open("totp_secret", "v1.!!"),
            Err(Error::SecretTampered)
        ));
        assert!(matches!(
            sb.open("totp_secret", "v1.AAAA"),
            Err(Error::SecretTampered)
        ));
        assert!(matches!(
            sb.open("totp_secret", "plain"),
            Err(Error::SecretTampered)
        ));
    }

    #[test]
    fn generated_key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        let (first, source) = SecretBox::from_config(&config).unwrap();
        let path = dir.path().join("data/master.key");
        assert_eq!(source, MasterKeySource::Generated(path.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sealed = first.seal("p", b"x").unwrap();
        let (second, source) = SecretBox::from_config(&config).unwrap();
        assert_eq!(source, MasterKeySource::File(path));
        assert_eq!(second.open("p", &sealed).unwrap(), b"x");
    }

    #[test]
    fn configured_key_wins_and_is_checked() {
        assert!(parse_master_key("dG9vIHNob3J0").is_err());
        let key = STANDARD.encode([1u8; 32]);
        let config = Config {
            master_key: Some(crate::config::SecretString::new(key)),
            ..Config::default()
        };
        let (_, source) = SecretBox::from_config(&config).unwrap();
        assert_eq!(source, MasterKeySource::Config);
    }
}
