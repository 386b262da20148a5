//! The one error type of keystep-core. Variants name what happened; the HTTP crates map each
//! to one response, the CLI to one message.

/// Everything that can go wrong in the domain and its storage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query failed (after a connection was had).
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
    /// No connection could be had from the pool, or a new one could not be opened.
    #[error("database unavailable: {0}")]
    DatabaseUnavailable(String),
    /// Applying the embedded migrations failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The ephemeral store (memory or Redis) failed.
    #[error("ephemeral store unavailable: {0}")]
    EphemeralUnavailable(String),
    /// A sealed secret did not authenticate: wrong key, wrong purpose or tampered bytes.
    #[error("sealed secret failed authentication (tampered, or sealed with another key)")]
    SecretTampered,
    /// The master key could not be read, created or parsed.
    #[error("master key: {0}")]
    MasterKey(String),
    /// Sending or storing a mail failed.
    #[error("mail: {0}")]
    Mail(String),
    /// A text message did not go out.
    #[error("text message: {0}")]
    Sms(String),
    /// `keystep user add` or an import named a username that exists (case-insensitively).
    #[error("a user named {0:?} already exists")]
    UsernameTaken(String),
    /// A client id is registered already.
    #[error("a client with id {0:?} already exists")]
    ClientIdTaken(String),
    /// No user has this name or id.
    #[error("no user named {0:?}")]
    UserNotFound(String),
    /// No client has this id.
    #[error("no client with id {0:?}")]
    ClientNotFound(String),
    /// A session that was there a moment ago is gone (ended concurrently).
    #[error("the session has ended")]
    SessionNotFound,
    /// Wrong username or wrong password: deliberately one error for both (no enumeration).
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The password was right but the account is disabled.
    #[error("the account is disabled")]
    UserDisabled,
    /// A value given by a person or an operator breaks a rule; `field` names which.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, flag or configuration key at fault.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// Too many passwords are being checked at once: the hashing queue is full, or this one
    /// waited past `password.hashing.max_wait_ms`. Try again shortly.
    #[error("busy: too many sign-ins at once")]
    Busy,
    /// The password hasher failed (bad parameters or a corrupt stored hash).
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
    /// A file under `data_dir` could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl Error {
    /// Builds an [`Error::Invalid`] for `field`.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::Io`] with a context that names what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// True when the failure is the infrastructure's (database, ephemeral store), so the
    /// request may succeed later: an HTTP layer answers 503, never 500 or a crash.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Database(_)
                | Self::DatabaseUnavailable(_)
                | Self::EphemeralUnavailable(_)
                | Self::Busy
        )
    }
}

/// keystep-core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
