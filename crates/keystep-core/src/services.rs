//! The bundle of what every use case needs (database, ephemeral store, secret box, mailer,
//! password hasher, clock, configuration), built once from the configuration by the server or
//! the CLI. Holding it in one value keeps configuration passed down, never global, so a test
//! process can run several differently configured servers.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Config;
use crate::db::Database;
use crate::ephemeral::{EphemeralStore, MemoryStore, RedisStore, RelayedStore};
use crate::error::{Error, Result};
use crate::mail::{self, mailer_from_config, Composer, Mailer, NoComposer, Notice};
use crate::password::PasswordHasher;
use crate::secret_box::{MasterKeySource, SecretBox};
use crate::sms::{self, SmsSender};
use crate::users::User;

/// Everything a use case may need.
#[derive(Debug, Clone)]
pub struct Services {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The durable store.
    pub db: Database,
    /// The ephemeral store (memory or Redis).
    pub ephemeral: Arc<dyn EphemeralStore>,
    /// Encryption of secrets at rest.
    pub secret_box: Arc<SecretBox>,
    /// Outgoing mail.
    pub mailer: Arc<dyn Mailer>,
    /// Outgoing text messages.
    pub sms: Arc<dyn SmsSender>,
    /// Writes mails from their templates; provided by the server once its templates load.
    pub composer: Arc<dyn Composer>,
    /// Password hashing.
    pub passwords: Arc<PasswordHasher>,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

impl Services {
    /// Opens everything the configuration names and applies pending migrations. Fails with a
    /// message that says which part could not be had.
    pub fn open(config: Config, clock: Arc<dyn Clock>) -> Result<Self> {
        config.validate().map_err(|e| Error::Invalid {
            field: "configuration",
            reason: e.to_string(),
        })?;
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            Error::io(
                format!("creating data_dir {}", config.data_dir.display()),
                e,
            )
        })?;
        let (secret_box, key_source) = SecretBox::from_config(&config)?;
        match &key_source {
            MasterKeySource::Generated(path) => {
                tracing::warn!(path = %path.display(), "generated a new master key; back it up: without it, stored secrets cannot be read")
            }
            MasterKeySource::File(path) => {
                tracing::debug!(path = %path.display(), "master key read from file")
            }
            MasterKeySource::Config => tracing::debug!("master key from configuration"),
        }
        let target = config
            .database_target()
            .map_err(|e| Error::invalid("database_url", e.message))?;
        let db = Database::connect(&target, config.database_pool_size)?;
        let applied = db.migrate()?;
        if !applied.is_empty() {
            tracing::info!(database = %target, migrations = ?applied, "applied database migrations");
        }
        let ephemeral: Arc<dyn EphemeralStore> = match &config.redis_url {
            Some(url) => Arc::new(RedisStore::connect(
                url.expose(),
                &config.redis_key_prefix,
                config.database_pool_size,
            )?),
            None => Arc::new(MemoryStore::with_max_bytes(
                clock.clone(),
                usize::try_from(config.memory_store_max_mib.saturating_mul(1024 * 1024))
                    .unwrap_or(usize::MAX),
            )),
        };
        let mailer = mailer_from_config(&config)?;
        let sms = sms::sender_from_config(&config)?;
        let passwords = Arc::new(PasswordHasher::new(&config.password)?);
        Ok(Self {
            config: Arc::new(config),
            db,
            ephemeral,
            secret_box: Arc::new(secret_box),
            mailer,
            sms,
            composer: Arc::new(NoComposer),
            passwords,
            clock,
        })
    }

    /// These services as an operator command uses them, in a process of its own. When the
    /// store is this process's memory (no Redis), a server cannot see it: the command writes
    /// to a [`RelayedStore`] instead, returned to be flushed when the command is done.
    pub fn for_operator(self) -> (Self, Option<Arc<RelayedStore>>) {
        if !self.ephemeral.is_process_local() {
            return (self, None);
        }
        let relay = Arc::new(RelayedStore::new(self.clock.clone()));
        let services = Self {
            ephemeral: relay.clone(),
            ..self
        };
        (services, Some(relay))
    }

    /// These services, writing mails with `composer`.
    pub fn with_composer(self, composer: Arc<dyn Composer>) -> Self {
        Self { composer, ..self }
    }

    /// Mails `user` about `notice` in `lang` (the page's language of the request that caused
    /// it, which already weighs `ui_locales`, the person's choice and the browser's), else in
    /// the language the person chose (an operator's command), else English. A relay that
    /// fails is tried again twice.
    pub fn notify(&self, user: &User, notice: &Notice, lang: Option<&str>) -> Result<()> {
        let lang = lang.or(user.locale.as_deref()).unwrap_or("en");
        let mail = self.composer.compose(user, notice, lang)?;
        mail::send_with_retry(self.mailer.as_ref(), &mail)
    }

    /// Mails `user` about a change that has committed (a security mail). The change stands
    /// whatever the relay does, so a failure is logged, not returned.
    pub fn notify_after_commit(&self, user: &User, notice: &Notice, lang: Option<&str>) {
        if let Err(e) = self.notify(user, notice, lang) {
            tracing::warn!(error = %e, notice = notice.name(), "could not send a security mail");
        }
    }
}
