//! The configuration tree. Loading (defaults -> `keystep.toml` -> `KEYSTEP_*`) happens in
//! keystep-server with figment; this module owns the types, their defaults and the checks
//! that turn a bad value into a message naming its key. Every key is documented here and in
//! docs/configuration.md (a test keeps the two in step).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

/// A secret configuration value (master key, SMTP password): never printed by `Debug`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

/// A configuration value that breaks a rule, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration key `{key}`: {message}")]
pub struct ConfigError {
    /// The dotted key, as written in keystep.toml (`mail.smtp.port`).
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl ConfigError {
    fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// The whole configuration. Every field has a default, so keystep runs with nothing set.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The URL people and relying parties reach keystep at; the issuer is `{public_url}/oidc`.
    /// Cookies are marked Secure when it is https.
    pub public_url: Url,
    /// The address and port the HTTP server listens on.
    pub listen: SocketAddr,
    /// Where keystep keeps its files: the SQLite database, the generated master key and the
    /// mail outbox. Created at start when missing.
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL, `sqlite://PATH` for another SQLite file; unset means
    /// SQLite at `{data_dir}/keystep.db`.
    pub database_url: Option<SecretString>,
    /// Connections in the database pool of each process.
    pub database_pool_size: u32,
    /// `redis://…` (or `rediss://…`) for a shared ephemeral store; unset means in-process
    /// memory, which is right for a single node only.
    pub redis_url: Option<SecretString>,
    /// The prefix of every Redis key keystep writes, so several deployments can share a Redis.
    pub redis_key_prefix: String,
    /// The 32-byte key of the secret box, base64-encoded. Unset: read from `master_key_file`,
    /// else from `{data_dir}/master.key`, which is generated on first start (mode 0600).
    pub master_key: Option<SecretString>,
    /// A file holding the base64 master key (for Docker or Kubernetes secrets).
    pub master_key_file: Option<PathBuf>,
    /// Log output.
    pub log: LogConfig,
    /// Password rules and hashing cost.
    pub password: PasswordConfig,
    /// Outgoing mail.
    pub mail: MailConfig,
    /// SSO session lifetimes.
    pub session: SessionConfig,
    /// Token lifetimes.
    pub tokens: TokensConfig,
    /// Sign-in throttling.
    pub login: LoginConfig,
    /// Second factors.
    pub mfa: MfaConfig,
    /// A folder whose `templates/*.hbs` and `static/*` override the built-in ones (theming);
    /// unset means the pages embedded in the binary.
    pub web_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            public_url: default_public_url(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            database_pool_size: 10,
            redis_url: None,
            redis_key_prefix: "keystep:".to_owned(),
            master_key: None,
            master_key_file: None,
            log: LogConfig::default(),
            password: PasswordConfig::default(),
            mail: MailConfig::default(),
            session: SessionConfig::default(),
            tokens: TokensConfig::default(),
            login: LoginConfig::default(),
            mfa: MfaConfig::default(),
            web_dir: None,
        }
    }
}

#[allow(clippy::expect_used)] // a literal that always parses
fn default_public_url() -> Url {
    Url::parse("http://127.0.0.1:8080").expect("built-in default URL parses")
}

/// How log lines are written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `human` (readable lines) or `json` (one object per line, for log shippers).
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `keystep=debug,actix_web=info`; `RUST_LOG`
    /// overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".to_owned(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line.
    Json,
}

/// Password rules and the argon2id cost.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// The shortest password accepted when one is set (NIST SP 800-63B asks for at least 8).
    pub min_length: usize,
    /// argon2id cost parameters. Changing them rehashes each password at its next sign-in.
    pub argon2: Argon2Config,
    /// How many hashes run at once, and how long the rest may wait.
    pub hashing: HashingConfig,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            min_length: 8,
            argon2: Argon2Config::default(),
            hashing: HashingConfig::default(),
        }
    }
}

/// The password-hashing pool: each worker holds one argon2 memory area of `memory_kib` and
/// reuses it, so hashing takes `workers × memory_kib` however many people sign in at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HashingConfig {
    /// Hashes computed at once; 0 means one per CPU core.
    pub workers: usize,
    /// Hashes that may wait for a worker; one more is refused at once as busy.
    pub queue: usize,
    /// How long a hash may wait for a worker before it is refused as busy (milliseconds).
    pub max_wait_ms: u64,
}

impl Default for HashingConfig {
    fn default() -> Self {
        Self {
            workers: 0,
            queue: 128,
            max_wait_ms: 5_000,
        }
    }
}

/// argon2id parameters (RFC 9106); the defaults are OWASP's minimum (19 MiB, t=2, p=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2Config {
    /// Memory per hash in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Config {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Outgoing mail: the outbox folder by default, SMTP when `mail.smtp` is set.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// The From address of every mail keystep sends.
    pub from: String,
    /// An SMTP relay; unset means mails are written as `.eml` files to `{data_dir}/outbox/`.
    pub smtp: Option<SmtpConfig>,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            from: "keystep <keystep@localhost>".to_owned(),
            smtp: None,
        }
    }
}

/// An SMTP relay.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The relay's host name.
    pub host: String,
    /// The relay's port; unset means 465 for `tls`, 587 for `starttls`, 25 for `none`.
    #[serde(default)]
    pub port: Option<u16>,
    /// How the connection is protected.
    #[serde(default)]
    pub tls: SmtpTls,
    /// The user name for SMTP authentication; unset means no authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// The password for SMTP authentication.
    #[serde(default)]
    pub password: Option<SecretString>,
    /// A file holding the SMTP password (instead of `password`).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// Transport security towards the SMTP relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption: only for a relay on the same host or a test server.
    None,
}

/// SSO session lifetimes.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A session unused for this many seconds ends (default 12 hours).
    pub idle_timeout_seconds: u64,
    /// Every session ends this many seconds after sign-in, used or not (default 7 days).
    pub absolute_timeout_seconds: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout_seconds: 12 * 3600,
            absolute_timeout_seconds: 7 * 24 * 3600,
        }
    }
}

/// Token lifetimes.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    /// Lifetime of access tokens (JWT, RFC 9068), in seconds.
    pub access_token_seconds: u64,
    /// Lifetime of ID tokens, in seconds.
    pub id_token_seconds: u64,
    /// Lifetime of a refresh token, renewed at each rotation, in seconds (default 30 days).
    pub refresh_token_seconds: u64,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            access_token_seconds: 600,
            id_token_seconds: 3600,
            refresh_token_seconds: 30 * 24 * 3600,
        }
    }
}

/// Throttling of wrong passwords, counted in the ephemeral store so every node sees them.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Wrong passwords for one account within the window before it is locked for the rest
    /// of the window.
    pub max_failures_per_account: u64,
    /// Wrong passwords from one IP address within the window before it is refused.
    pub max_failures_per_ip: u64,
    /// The counting window in seconds.
    pub failure_window_seconds: u64,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            max_failures_per_account: 5,
            max_failures_per_ip: 50,
            failure_window_seconds: 15 * 60,
        }
    }
}

/// Second factors.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaConfig {
    /// `optional`: a second factor when the client, the request or the person's own binding
    /// asks for it; `required`: everyone signs in with a second factor (aal2).
    pub policy: MfaPolicyConfig,
    /// `always`: a person with a second factor is asked for it at every sign-in;
    /// `on_demand`: only when aal2 is needed.
    pub login: MfaLoginMode,
    /// Lead a person without a second factor through binding one when aal2 is needed; when
    /// false, the relying party gets `unmet_authentication_requirements` instead.
    pub enroll_at_login: bool,
    /// The issuer label authenticator apps show next to the account name.
    pub issuer: String,
    /// TOTP time steps accepted before and after the current one (RFC 6238 §5.2: at most 1).
    pub totp_skew_steps: u8,
    /// Wrong second-factor codes within the window before the person's second factor is
    /// locked for the rest of the window.
    pub max_failures: u64,
    /// The counting window for wrong codes, in seconds.
    pub failure_window_seconds: u64,
    /// How long a verified second factor keeps a session at aal2, in seconds (default 12
    /// hours); after that, new tokens say aal1 and the next aal2 request steps up again.
    pub aal2_lifetime_seconds: u64,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self {
            policy: MfaPolicyConfig::Optional,
            login: MfaLoginMode::Always,
            enroll_at_login: true,
            issuer: "keystep".to_owned(),
            totp_skew_steps: 1,
            max_failures: 5,
            failure_window_seconds: 15 * 60,
            aal2_lifetime_seconds: 12 * 3600,
        }
    }
}

/// The global second-factor policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaPolicyConfig {
    /// Second factors when asked for.
    Optional,
    /// Second factors for everyone.
    Required,
}

/// When a person with a second factor is asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaLoginMode {
    /// At every sign-in.
    Always,
    /// Only when aal2 is needed.
    OnDemand,
}

/// Where the durable store lives, decided from `database_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl fmt::Display for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "SQLite at {}", path.display()),
            Self::Postgres(url) => match Url::parse(url) {
                Ok(url) => write!(
                    f,
                    "PostgreSQL at {}{}",
                    url.host_str().unwrap_or("local socket"),
                    url.path()
                ),
                Err(_) => f.write_str("PostgreSQL"),
            },
        }
    }
}

impl DatabaseTarget {
    /// Parses a `database_url`: `postgres://` / `postgresql://`, `sqlite://PATH`,
    /// `sqlite:PATH`, or a bare file path.
    pub fn parse(url: &str) -> Result<Self, ConfigError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(ConfigError::new("database_url", "must not be empty"));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Url::parse(url).map_err(|e| {
                ConfigError::new("database_url", format!("not a valid PostgreSQL URL: {e}"))
            })?;
            return Ok(Self::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.contains("://") {
            return Err(ConfigError::new(
                "database_url",
                "unsupported scheme: use postgres://…, sqlite://PATH or a file path",
            ));
        }
        if path.is_empty() || path == ":memory:" {
            return Err(ConfigError::new(
                "database_url",
                "needs a file path (an in-memory SQLite database would not be shared by the pool)",
            ));
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }
}

impl Config {
    /// The database this configuration points at.
    pub fn database_target(&self) -> Result<DatabaseTarget, ConfigError> {
        match &self.database_url {
            Some(url) => DatabaseTarget::parse(url.expose()),
            None => Ok(DatabaseTarget::Sqlite(self.data_dir.join("keystep.db"))),
        }
    }

    /// The session lifetimes in the form the session store takes.
    pub fn session_lifetimes(&self) -> crate::sessions::SessionLifetimes {
        let secs = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
        crate::sessions::SessionLifetimes {
            idle: secs(self.session.idle_timeout_seconds),
            absolute: secs(self.session.absolute_timeout_seconds),
            aal2: secs(self.mfa.aal2_lifetime_seconds),
        }
    }

    /// The OpenID Connect issuer: `{public_url}/oidc`, without a trailing slash.
    pub fn issuer(&self) -> String {
        format!("{}/oidc", self.public_url.as_str().trim_end_matches('/'))
    }

    /// Checks what serde cannot: ranges, schemes, addresses. The first problem found is
    /// returned, naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.public_url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(ConfigError::new(
                    "public_url",
                    format!("scheme must be http or https, not {other:?}"),
                ))
            }
        }
        if self.public_url.query().is_some() || self.public_url.fragment().is_some() {
            return Err(ConfigError::new(
                "public_url",
                "must not have a query or fragment (the issuer must be a plain https URL)",
            ));
        }
        self.database_target()?;
        if !(1..=1000).contains(&self.database_pool_size) {
            return Err(ConfigError::new(
                "database_pool_size",
                "must be between 1 and 1000",
            ));
        }
        if let Some(url) = &self.redis_url {
            let parsed = Url::parse(url.expose())
                .map_err(|e| ConfigError::new("redis_url", format!("not a valid URL: {e}")))?;
            if !matches!(parsed.scheme(), "redis" | "rediss" | "redis+unix" | "unix") {
                return Err(ConfigError::new(
                    "redis_url",
                    "scheme must be redis://, rediss:// or redis+unix://",
                ));
            }
        }
        if self.redis_key_prefix.is_empty() {
            return Err(ConfigError::new("redis_key_prefix", "must not be empty"));
        }
        if self.master_key.is_some() && self.master_key_file.is_some() {
            return Err(ConfigError::new(
                "master_key_file",
                "set either master_key or master_key_file, not both",
            ));
        }
        if let Some(key) = &self.master_key {
            crate::secret_box::parse_master_key(key.expose())
                .map_err(|e| ConfigError::new("master_key", e))?;
        }
        if !(1..=1024).contains(&self.password.min_length) {
            return Err(ConfigError::new(
                "password.min_length",
                "must be between 1 and 1024",
            ));
        }
        crate::password::argon2_params(&self.password.argon2)
            .map_err(|e| ConfigError::new("password.argon2", e))?;
        let hashing = &self.password.hashing;
        if hashing.workers > 1024 {
            return Err(ConfigError::new(
                "password.hashing.workers",
                "must be between 0 (one per CPU core) and 1024",
            ));
        }
        if !(1..=1_000_000).contains(&hashing.queue) {
            return Err(ConfigError::new(
                "password.hashing.queue",
                "must be between 1 and 1000000",
            ));
        }
        if !(1..=600_000).contains(&hashing.max_wait_ms) {
            return Err(ConfigError::new(
                "password.hashing.max_wait_ms",
                "must be between 1 and 600000 (10 minutes)",
            ));
        }
        let ranges: [(&str, u64, u64, u64); 12] = [
            (
                "mfa.totp_skew_steps",
                u64::from(self.mfa.totp_skew_steps),
                0,
                1,
            ),
            ("mfa.max_failures", self.mfa.max_failures, 1, 1000),
            (
                "mfa.failure_window_seconds",
                self.mfa.failure_window_seconds,
                1,
                86400,
            ),
            (
                "session.idle_timeout_seconds",
                self.session.idle_timeout_seconds,
                60,
                366 * 86400,
            ),
            (
                "session.absolute_timeout_seconds",
                self.session.absolute_timeout_seconds,
                60,
                366 * 86400,
            ),
            (
                "tokens.access_token_seconds",
                self.tokens.access_token_seconds,
                30,
                86400,
            ),
            (
                "tokens.id_token_seconds",
                self.tokens.id_token_seconds,
                30,
                86400,
            ),
            (
                "tokens.refresh_token_seconds",
                self.tokens.refresh_token_seconds,
                60,
                366 * 86400,
            ),
            (
                "login.max_failures_per_account",
                self.login.max_failures_per_account,
                1,
                1_000_000,
            ),
            (
                "login.max_failures_per_ip",
                self.login.max_failures_per_ip,
                1,
                1_000_000,
            ),
            (
                "login.failure_window_seconds",
                self.login.failure_window_seconds,
                1,
                86400,
            ),
            (
                "mfa.aal2_lifetime_seconds",
                self.mfa.aal2_lifetime_seconds,
                60,
                366 * 86400,
            ),
        ];
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err(ConfigError::new(
                    key,
                    format!("must be between {min} and {max}"),
                ));
            }
        }
        if self.session.idle_timeout_seconds > self.session.absolute_timeout_seconds {
            return Err(ConfigError::new(
                "session.idle_timeout_seconds",
                "must not exceed session.absolute_timeout_seconds",
            ));
        }
        if self.mfa.issuer.trim().is_empty() || self.mfa.issuer.contains(':') {
            return Err(ConfigError::new(
                "mfa.issuer",
                "must be non-empty and contain no ':'",
            ));
        }
        if let Some(dir) = &self.web_dir {
            if !dir.is_dir() {
                return Err(ConfigError::new(
                    "web_dir",
                    format!("{} is not a directory", dir.display()),
                ));
            }
        }
        if self.log.level.trim().is_empty() {
            return Err(ConfigError::new("log.level", "must not be empty"));
        }
        self.mail
            .from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| ConfigError::new("mail.from", format!("not a mail address: {e}")))?;
        if let Some(smtp) = &self.mail.smtp {
            if smtp.host.trim().is_empty() {
                return Err(ConfigError::new("mail.smtp.host", "must not be empty"));
            }
            if smtp.port == Some(0) {
                return Err(ConfigError::new("mail.smtp.port", "must be 1 to 65535"));
            }
            if smtp.password.is_some() && smtp.password_file.is_some() {
                return Err(ConfigError::new(
                    "mail.smtp.password_file",
                    "set either password or password_file, not both",
                ));
            }
            let has_password = smtp.password.is_some() || smtp.password_file.is_some();
            if smtp.username.is_some() && !has_password {
                return Err(ConfigError::new(
                    "mail.smtp.password",
                    "a username is set but no password (set password or password_file)",
                ));
            }
            if smtp.username.is_none() && has_password {
                return Err(ConfigError::new(
                    "mail.smtp.username",
                    "a password is set but no username",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let config = Config::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.issuer(), "http://127.0.0.1:8080/oidc");
        assert_eq!(
            config.database_target(),
            Ok(DatabaseTarget::Sqlite(PathBuf::from("./data/keystep.db")))
        );
    }

    #[test]
    fn database_urls_choose_the_backend() {
        assert_eq!(
            DatabaseTarget::parse("postgres://u@h/db"),
            Ok(DatabaseTarget::Postgres("postgres://u@h/db".into()))
        );
        assert_eq!(
            DatabaseTarget::parse("sqlite:///var/lib/k.db"),
            Ok(DatabaseTarget::Sqlite(PathBuf::from("/var/lib/k.db")))
        );
        assert_eq!(
            DatabaseTarget::parse("k.db"),
            Ok(DatabaseTarget::Sqlite(PathBuf::from("k.db")))
        );
        let err = DatabaseTarget::parse("mysql://x").err();
        assert_eq!(err.map(|e| e.key), Some("database_url".to_owned()));
        assert!(DatabaseTarget::parse("sqlite::memory:").is_err());
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut config = Config::default();
        config.password.argon2.memory_kib = 1;
        assert_eq!(
            config.validate().err().map(|e| e.key),
            Some("password.argon2".into())
        );

        let config = Config {
            public_url: Url::parse("ftp://example.com").expect("url"),
            ..Config::default()
        };
        assert_eq!(
            config.validate().err().map(|e| e.key),
            Some("public_url".into())
        );

        let mut config = Config::default();
        config.mail.from = "not an address".into();
        assert_eq!(
            config.validate().err().map(|e| e.key),
            Some("mail.from".into())
        );

        let config = Config {
            master_key: Some(SecretString::new("c2hvcnQ=")),
            ..Config::default()
        };
        assert_eq!(
            config.validate().err().map(|e| e.key),
            Some("master_key".into())
        );

        let config = Config {
            redis_url: Some(SecretString::new("http://x")),
            ..Config::default()
        };
        assert_eq!(
            config.validate().err().map(|e| e.key),
            Some("redis_url".into())
        );
    }

    #[test]
    fn secrets_are_redacted() {
        let secret = SecretString::new("hunter2");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        let json = serde_json::to_string(&secret).unwrap();
        assert!(!json.contains("hunter2"));
    }
}
