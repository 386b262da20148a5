//! The configuration tree. Loading (defaults -> `keystep.toml` -> `KEYSTEP_*`) happens in
//! keystep-server with figment; this module owns the types, their defaults and the checks
//! that turn a bad value into a message naming its key. Every key is documented here and in
//! docs/configuration.md (a test keeps the two in step).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

mod sections;

pub use sections::*;

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
    /// Without Redis: the most memory, in MiB, the in-process ephemeral store holds. Beyond
    /// it the oldest pending sign-ins, codes and markers go first; throttle counters stay.
    pub memory_store_max_mib: u64,
    /// The 32-byte key of the secret box, base64-encoded. Unset: read from `master_key_file`,
    /// else from `{data_dir}/master.key`, which is generated on first start (mode 0600).
    pub master_key: Option<SecretString>,
    /// A file holding the base64 master key (for Docker or Kubernetes secrets).
    pub master_key_file: Option<PathBuf>,
    /// Log output.
    pub log: LogConfig,
    /// How requests reach keystep (reverse proxies).
    pub http: HttpConfig,
    /// Password rules and hashing cost.
    pub password: PasswordConfig,
    /// Outgoing mail.
    pub mail: MailConfig,
    /// Outgoing text messages.
    pub sms: SmsConfig,
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
            memory_store_max_mib: 256,
            master_key: None,
            master_key_file: None,
            log: LogConfig::default(),
            http: HttpConfig::default(),
            password: PasswordConfig::default(),
            mail: MailConfig::default(),
            sms: SmsConfig::default(),
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
        format!("{}/oidc", self.public_base())
    }

    /// `public_url` without a trailing slash: what paths are appended to.
    pub fn public_base(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
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
        let ranges: [(&str, u64, u64, u64); 17] = [
            (
                "mfa.max_failures_per_ip",
                self.mfa.max_failures_per_ip,
                1,
                1_000_000,
            ),
            (
                "tokens.signing_key_delay_seconds",
                self.tokens.signing_key_delay_seconds,
                0,
                7 * 86400,
            ),
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
                "mfa.max_failures_per_day",
                self.mfa.max_failures_per_day,
                1,
                1_000_000,
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
                "login.max_started_per_ip",
                self.login.max_started_per_ip,
                1,
                1_000_000,
            ),
            (
                "memory_store_max_mib",
                self.memory_store_max_mib,
                16,
                1024 * 1024,
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
        self.validate_sms()
    }

    fn validate_sms(&self) -> Result<(), ConfigError> {
        let Some(http) = &self.sms.http else {
            return Ok(());
        };
        let scheme = Url::parse(&http.url.replace(['{', '}'], "")).map(|u| u.scheme().to_owned());
        if !matches!(scheme.as_deref(), Ok("http" | "https")) {
            return Err(ConfigError::new(
                "sms.http.url",
                "must be an http:// or https:// URL",
            ));
        }
        if http.method != SmsHttpMethod::Get && !http.body.contains("{text}") {
            return Err(ConfigError::new(
                "sms.http.body",
                "must hold {text} (and usually {to})",
            ));
        }
        if http.method == SmsHttpMethod::Get && !http.url.contains("{text}") {
            return Err(ConfigError::new(
                "sms.http.url",
                "with method get, the URL must hold {text} (and usually {to})",
            ));
        }
        if !(1..=120).contains(&http.timeout_seconds) {
            return Err(ConfigError::new(
                "sms.http.timeout_seconds",
                "must be 1 to 120",
            ));
        }
        if let Some(name) = http
            .headers
            .keys()
            .find(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return Err(ConfigError::new(
                "sms.http.headers",
                format!("{name:?} is not a header name"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
