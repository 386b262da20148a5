//! The sections of the configuration tree below the top level (`[log]`, `[http]`,
//! `[password]`, `[mail]`, `[session]`, `[tokens]`, `[login]`, `[mfa]`), with their defaults.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::SecretString;

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
    /// After `keystep keys rotate`, how long the new keys are only published before they
    /// sign, so relying parties that cache the JWKS have them when the first token comes.
    pub signing_key_delay_seconds: u64,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            access_token_seconds: 600,
            id_token_seconds: 3600,
            refresh_token_seconds: 30 * 24 * 3600,
            signing_key_delay_seconds: 3600,
        }
    }
}

/// How keystep sees the requests that reach it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// The reverse proxies (CIDRs such as `10.0.0.0/8` or `::1/128`) whose `Forwarded` or
    /// `X-Forwarded-For` header names the client. Empty: the TCP peer is the client, and the
    /// headers are ignored (anyone could send them).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header the trusted proxies write: `x-forwarded-for` or `forwarded` (RFC 7239).
    /// Only that one is read, so a client cannot name itself in the other one, which a proxy
    /// passes through untouched.
    pub forwarded_header: ForwardedHeader,
}

/// Which forwarding header the trusted proxies write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded` (RFC 7239).
    Forwarded,
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
    /// Sign-ins one IP address may start (pending interactions created at `/oidc/auth`) within
    /// their 10-minute lifetime; the next gets `temporarily_unavailable`. Each one is kept in
    /// the ephemeral store, so this bounds what one address can make it hold.
    pub max_started_per_ip: u64,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            max_failures_per_account: 5,
            max_failures_per_ip: 50,
            failure_window_seconds: 15 * 60,
            max_started_per_ip: 300,
        }
    }
}

/// Outgoing text messages: the outbox folder by default, a provider's HTTP API when
/// `sms.http` is set.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// A provider's HTTP API; unset means texts are written to `{data_dir}/outbox/`.
    pub http: Option<SmsHttpConfig>,
}

/// A provider's HTTP API for text messages. `{to}` (the E.164 number), `{text}` and `{secret}`
/// (the content of `secret_file`) are filled into the URL, the header values and the body.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmsHttpConfig {
    /// Where to send each message (`http://` or `https://`).
    pub url: String,
    /// The request method.
    #[serde(default)]
    pub method: SmsHttpMethod,
    /// Request headers, such as `Authorization = "Bearer {secret}"`.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// A file holding the API key or token, read at start.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// The request body (not sent with `get`).
    #[serde(default)]
    pub body: String,
    /// The body's type; the values filled into the body are escaped for it (JSON string,
    /// form encoding, or as they are).
    #[serde(default = "default_sms_content_type")]
    pub content_type: String,
    /// How long a request may take, in seconds.
    #[serde(default = "default_sms_timeout")]
    pub timeout_seconds: u64,
}

fn default_sms_content_type() -> String {
    "application/x-www-form-urlencoded".to_owned()
}

fn default_sms_timeout() -> u64 {
    10
}

/// The request method of an SMS gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsHttpMethod {
    /// POST (the default).
    #[default]
    Post,
    /// PUT.
    Put,
    /// GET: the values go in the URL only.
    Get,
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
    /// Whether a request's own `acr_values=aal2` (or essential `acr`) may lead to binding at
    /// sign-in. Off: only `mfa.policy = required` or a client registered with
    /// `--mfa required` does, since anyone can add a parameter to a URL and binding at
    /// sign-in needs only the password.
    pub enroll_on_request: bool,
    /// The issuer label authenticator apps show next to the account name.
    pub issuer: String,
    /// TOTP time steps accepted before and after the current one (RFC 6238 §5.2: at most 1).
    pub totp_skew_steps: u8,
    /// Wrong second-factor codes within the window before the person's second factor is
    /// locked for the rest of the window.
    pub max_failures: u64,
    /// Wrong second-factor codes from one IP address within the window, whoever they were
    /// for, before codes from that address are refused for the rest of the window.
    pub max_failures_per_ip: u64,
    /// The counting window for wrong codes, in seconds.
    pub failure_window_seconds: u64,
    /// Wrong second-factor codes for one person within a day (counted from the first one,
    /// forgotten at a right code) before their second factor is locked for the rest of that
    /// day: the short window alone still allows hundreds of guesses a day. The person is
    /// mailed when it trips; `keystep mfa reset` lifts it (when the counters are in Redis).
    pub max_failures_per_day: u64,
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
            enroll_on_request: false,
            issuer: "keystep".to_owned(),
            totp_skew_steps: 1,
            max_failures: 5,
            max_failures_per_ip: 50,
            failure_window_seconds: 15 * 60,
            max_failures_per_day: 20,
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
