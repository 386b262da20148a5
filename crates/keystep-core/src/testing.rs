//! Services for the unit tests of use cases here and in keystep-mfa: a temporary SQLite
//! database (the real store, migrations applied), the memory ephemeral store, the outbox
//! mailer, a manual clock and a cheap argon2 cost. Compiled only for tests
//! (`feature = "test-support"`), never into the binary.

use std::sync::Arc;

use tempfile::TempDir;

use crate::audit;
use crate::clock::{Clock, ManualClock};
use crate::config::Config;
use crate::db::DbConn;
use crate::mail::{Composer, Mail, Notice};
use crate::sessions::{self, Device};
use crate::signin::{self, PasswordAttempt, SignedIn};
use crate::users::{self, NewUser, User};
use crate::Services;

/// The password of every test user.
pub const PASSWORD: &str = "correct horse battery";

/// `username`'s right password, from no particular device.
pub fn attempt(username: &str) -> PasswordAttempt<'_> {
    PasswordAttempt {
        username,
        password: PASSWORD,
        client_id: None,
        device: Device::default(),
    }
}

/// Services over a temporary data directory, removed when this is dropped.
#[derive(Debug)]
pub struct TestServices {
    /// The services.
    pub services: Services,
    /// The clock they use.
    pub clock: Arc<ManualClock>,
    /// The data directory (SQLite file, master key, outbox).
    pub dir: TempDir,
}

/// Fresh services with the default configuration (cheap password hashing).
pub fn services() -> TestServices {
    services_with(|_| {})
}

/// Fresh services with the configuration adjusted by `adjust`.
#[allow(clippy::expect_used)]
pub fn services_with(adjust: impl FnOnce(&mut Config)) -> TestServices {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.password.argon2.memory_kib = 64;
    config.password.argon2.iterations = 1;
    adjust(&mut config);
    let clock = Arc::new(ManualClock::at(1_800_000_000));
    let services = Services::open(config, clock.clone() as Arc<dyn Clock>)
        .expect("test services open")
        .with_composer(Arc::new(NoticeNames));
    TestServices {
        services,
        clock,
        dir,
    }
}

/// Writes each mail as its notice's name and facts (the real words are keystep-web's
/// templates, out of this crate's reach): `confirmation_code in en: code is: 123456`.
#[derive(Debug)]
pub struct NoticeNames;

impl Composer for NoticeNames {
    fn compose(&self, user: &User, notice: &Notice, lang: &str) -> crate::Result<Mail> {
        let text = match notice {
            Notice::ConfirmationCode { code, .. } => {
                format!("{} in {lang}: code is: {code}", notice.name())
            }
            other => format!("{} in {lang}", other.name()),
        };
        Ok(Mail {
            to: user.email.clone(),
            subject: notice.name().to_owned(),
            text,
            html: None,
        })
    }
}

impl TestServices {
    /// Creates a person named `username` with [`PASSWORD`].
    #[allow(clippy::expect_used)]
    pub fn user(&self, username: &str) -> User {
        let email = format!("{username}@example.com");
        let hash = self.services.passwords.hash(PASSWORD).expect("hash");
        self.services
            .db
            .write(|conn| {
                users::insert_user(
                    conn,
                    self.clock.as_ref(),
                    &NewUser {
                        username,
                        email: &email,
                        display_name: username,
                        password: PASSWORD,
                    },
                    hash,
                )
            })
            .expect("user created")
    }

    /// Signs `username` in with the right password: a new session.
    #[allow(clippy::expect_used)]
    pub fn sign_in(&self, username: &str) -> SignedIn {
        signin::sign_in(&self.services, &attempt(username), None)
            .expect("sign-in runs")
            .expect("the password is right")
    }

    /// Runs `f` in a read transaction; a failure fails the test.
    #[allow(clippy::expect_used)]
    pub fn read<T>(&self, f: impl FnOnce(&mut DbConn) -> crate::Result<T>) -> T {
        self.services.db.read(f).expect("read transaction")
    }

    /// Runs `f` in a write transaction; a failure fails the test.
    #[allow(clippy::expect_used)]
    pub fn write<T>(&self, f: impl FnOnce(&mut DbConn) -> crate::Result<T>) -> T {
        self.services.db.write(f).expect("write transaction")
    }

    /// The names of the person's audit events, newest first (as the security log shows them).
    pub fn events(&self, user_id: &str) -> Vec<String> {
        self.read(|conn| audit::list_for_user(conn, user_id, 100))
            .into_iter()
            .map(|e| e.event)
            .collect()
    }

    /// The ids of the person's live sessions.
    pub fn live_sessions(&self, user_id: &str) -> Vec<String> {
        self.read(|conn| sessions::list_for_user(conn, self.clock.as_ref(), user_id))
            .into_iter()
            .map(|s| s.id)
            .collect()
    }

    /// The mails in the outbox, which is emptied: a later call sees only newer ones (the
    /// files' order says nothing of when they were written).
    #[allow(clippy::expect_used)]
    pub fn take_outbox(&self) -> Vec<String> {
        let mails = self.outbox();
        let dir = self.dir.path().join("outbox");
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            std::fs::remove_file(entry.path()).expect("mail removable");
        }
        mails
    }

    /// The mails in the outbox, in the order of their file names, as their raw text.
    #[allow(clippy::expect_used)]
    pub fn outbox(&self) -> Vec<String> {
        let dir = self.dir.path().join("outbox");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .into_iter()
            .map(|f| std::fs::read_to_string(f).expect("mail readable"))
            .collect()
    }
}
