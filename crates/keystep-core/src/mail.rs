//! Outgoing mail behind one trait: the outbox (one `.eml` file per mail in
//! `{data_dir}/outbox/`, the default, so a fresh install needs no relay and tests can read
//! what was sent) or an SMTP relay through lettre when `mail.smtp` is configured.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{FileTransport, Message, SmtpTransport, Transport};

use crate::config::{Config, SmtpConfig, SmtpTls};
use crate::error::{Error, Result};

/// A plain-text mail to one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
}

/// Sends mail. Blocking: call it on the blocking pool.
pub trait Mailer: Send + Sync + std::fmt::Debug {
    /// Sends (or stores) one mail.
    fn send(&self, mail: &Mail) -> Result<()>;
}

fn build_message(from: &Mailbox, mail: &Mail) -> Result<Message> {
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|e| Error::Mail(format!("bad recipient address: {e}")))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .body(mail.body.clone())
        .map_err(|e| Error::Mail(format!("building message: {e}")))
}

/// Writes each mail as an `.eml` file and logs a line about it.
#[derive(Debug)]
pub struct OutboxMailer {
    from: Mailbox,
    dir: PathBuf,
    transport: FileTransport,
}

impl OutboxMailer {
    /// An outbox in `dir` (created when missing).
    pub fn new(from: Mailbox, dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating outbox {}", dir.display()), e))?;
        Ok(Self {
            from,
            dir: dir.to_owned(),
            transport: FileTransport::new(dir),
        })
    }
}

impl Mailer for OutboxMailer {
    fn send(&self, mail: &Mail) -> Result<()> {
        let message = build_message(&self.from, mail)?;
        let id = self
            .transport
            .send(&message)
            .map_err(|e| Error::Mail(format!("writing to outbox {}: {e}", self.dir.display())))?;
        tracing::info!(outbox = %self.dir.display(), file = %format!("{id}.eml"), subject = %mail.subject, "mail written to outbox");
        Ok(())
    }
}

/// Sends through an SMTP relay.
#[derive(Debug)]
pub struct SmtpMailer {
    from: Mailbox,
    transport: SmtpTransport,
}

impl SmtpMailer {
    /// A mailer for the configured relay. Nothing is sent until the first mail.
    pub fn new(from: Mailbox, config: &SmtpConfig) -> Result<Self> {
        let builder = match config.tls {
            SmtpTls::Tls => SmtpTransport::relay(&config.host),
            SmtpTls::Starttls => SmtpTransport::starttls_relay(&config.host),
            SmtpTls::None => Ok(SmtpTransport::builder_dangerous(&config.host)),
        }
        .map_err(|e| Error::Mail(format!("mail.smtp: {e}")))?;
        let port = config.port.unwrap_or(match config.tls {
            SmtpTls::Tls => 465,
            SmtpTls::Starttls => 587,
            SmtpTls::None => 25,
        });
        let mut builder = builder
            .port(port)
            .timeout(Some(std::time::Duration::from_secs(10)));
        if let Some(username) = &config.username {
            let password = match (&config.password, &config.password_file) {
                (Some(p), _) => p.expose().to_owned(),
                (None, Some(path)) => std::fs::read_to_string(path)
                    .map_err(|e| {
                        Error::io(
                            format!("reading mail.smtp.password_file {}", path.display()),
                            e,
                        )
                    })?
                    .trim_end()
                    .to_owned(),
                (None, None) => String::new(),
            };
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        Ok(Self {
            from,
            transport: builder.build(),
        })
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, mail: &Mail) -> Result<()> {
        let message = build_message(&self.from, mail)?;
        self.transport
            .send(&message)
            .map_err(|e| Error::Mail(format!("SMTP: {e}")))?;
        tracing::info!(subject = %mail.subject, "mail sent through SMTP");
        Ok(())
    }
}

/// The mailer the configuration asks for.
pub fn mailer_from_config(config: &Config) -> Result<Arc<dyn Mailer>> {
    let from: Mailbox = config
        .mail
        .from
        .parse()
        .map_err(|e| Error::invalid("mail.from", format!("not a mail address: {e}")))?;
    Ok(match &config.mail.smtp {
        Some(smtp) => Arc::new(SmtpMailer::new(from, smtp)?),
        None => Arc::new(OutboxMailer::new(from, &config.data_dir.join("outbox"))?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_writes_one_eml_per_mail() {
        let dir = tempfile::tempdir().unwrap();
        let from: Mailbox = "keystep <k@example.com>".parse().unwrap();
        let mailer = OutboxMailer::new(from, dir.path()).unwrap();
        mailer
            .send(&Mail {
                to: "ada@example.com".into(),
                subject: "Your code".into(),
                body: "123456".into(),
            })
            .unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.contains("To: ada@example.com"));
        assert!(text.contains("Subject: Your code"));
        assert!(text.contains("123456"));
    }

    #[test]
    fn bad_recipient_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = OutboxMailer::new("k@example.com".parse().unwrap(), dir.path()).unwrap();
        let mail = Mail {
            to: "not an address".into(),
            subject: "s".into(),
            body: "b".into(),
        };
        assert!(matches!(mailer.send(&mail), Err(Error::Mail(_))));
    }
}
