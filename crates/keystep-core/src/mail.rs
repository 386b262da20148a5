//! Outgoing mail behind one trait: the outbox (one `.eml` file per mail in
//! `{data_dir}/outbox/`, the default, so a fresh install needs no relay and tests can read
//! what was sent) or an SMTP relay through lettre when `mail.smtp` is configured. Every mail
//! is MIME: `multipart/alternative` with a UTF-8 text part and an HTML part, with `Date` and a
//! `Message-ID`.
//!
//! The domain says *what* to tell a person ([`Notice`]); the words are templates in the
//! person's language, written by a [`Composer`] that the server provides (keystep-web), so
//! no mail text lives in Rust.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{FileTransport, Message, SmtpTransport, Transport};

use crate::config::{Config, SmtpConfig, SmtpTls};
use crate::error::{Error, Result};
use crate::users::User;

/// A mail to one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part, sent as the richer alternative to the text.
    pub html: Option<String>,
}

/// What a mailed confirmation code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    /// Filing a lost-device request from the sign-in pages.
    ResetSecondFactor,
    /// Binding an authenticator in the user center.
    BindAuthenticator,
    /// Turning on codes by mail in the user center.
    BindEmail,
    /// The second step of a sign-in, by mailed code.
    SignIn,
    /// A change to the sign-in settings in the user center, by mailed code.
    ConfirmChange,
}

/// Why an operator removed a person's second factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// `keystep mfa reset`.
    Operator,
    /// An approved lost-device request.
    RequestApproved,
}

impl ResetReason {
    /// As the audit log records it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "reset by an operator",
            Self::RequestApproved => "reset request approved",
        }
    }
}

/// What keystep tells a person by mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A one-time code that proves the mailbox.
    ConfirmationCode {
        /// Six digits.
        code: String,
        /// What it is for.
        purpose: CodePurpose,
        /// How long it lives.
        minutes: u64,
    },
    /// A second-factor method was bound (or an authenticator replaced).
    SecondFactorBound {
        /// The method's stored name (`totp`, `email`).
        method: &'static str,
    },
    /// One second-factor method was removed; others remain.
    MethodRemoved {
        /// The method's stored name.
        method: &'static str,
    },
    /// The person chose the method their sign-ins offer first.
    PreferredMethodChanged {
        /// The method's stored name.
        method: &'static str,
    },
    /// The person turned two-step verification off.
    SecondFactorRemoved,
    /// Too many wrong second-factor codes in a day: the second factor is locked for the rest
    /// of it.
    SecondFactorLocked,
    /// An operator removed the person's second factors.
    ResetByOperator {
        /// Why.
        reason: ResetReason,
    },
    /// An operator declined the person's reset request.
    ResetDeclined,
    /// The person changed their password (in the user center).
    PasswordChanged,
}

impl Notice {
    /// The name of its templates (`mail/{name}.txt`, `mail/{name}.html`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::ConfirmationCode { .. } => "confirmation_code",
            Self::SecondFactorBound { .. } => "second_factor_bound",
            Self::MethodRemoved { .. } => "method_removed",
            Self::PreferredMethodChanged { .. } => "preferred_method_changed",
            Self::SecondFactorRemoved => "second_factor_removed",
            Self::SecondFactorLocked => "second_factor_locked",
            Self::ResetByOperator { .. } => "reset_by_operator",
            Self::ResetDeclined => "reset_declined",
            Self::PasswordChanged => "password_changed",
        }
    }
}

/// Writes the mail for a notice, in a language.
pub trait Composer: Send + Sync + std::fmt::Debug {
    /// The mail telling `user` about `notice`, in `lang` (a catalogue's tag).
    fn compose(&self, user: &User, notice: &Notice, lang: &str) -> Result<Mail>;
}

/// The composer until the server provides one: every mail fails, loudly, rather than go out
/// with words keystep does not have.
#[derive(Debug, Default)]
pub struct NoComposer;

impl Composer for NoComposer {
    fn compose(&self, _: &User, notice: &Notice, _: &str) -> Result<Mail> {
        Err(Error::Mail(format!(
            "no mail templates are loaded to write {}",
            notice.name()
        )))
    }
}

/// Sends `mail`, trying again twice after short pauses when the relay fails: a relay that
/// hiccups (a dropped connection, a greylisting 4xx) usually takes the mail a moment later.
pub fn send_with_retry(mailer: &dyn Mailer, mail: &Mail) -> Result<()> {
    let mut pauses = [Duration::from_millis(200), Duration::from_secs(1)].into_iter();
    loop {
        match mailer.send(mail) {
            Ok(()) => return Ok(()),
            Err(e) => match pauses.next() {
                Some(pause) => {
                    tracing::warn!(error = %e, subject = %mail.subject, "sending a mail failed; trying again");
                    std::thread::sleep(pause);
                }
                None => return Err(e),
            },
        }
    }
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
    let builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .message_id(None)
        .date_now();
    match &mail.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            html.clone(),
        )),
        None => builder.singlepart(SinglePart::plain(mail.text.clone())),
    }
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
                text: "123456".into(),
                html: Some("<p>123456</p>".into()),
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
        // What real clients need to render it: RFC 2045 MIME, both parts in UTF-8, a Date
        // and a Message-ID (RFC 5322 §3.6).
        assert!(text.contains("MIME-Version: 1.0"), "{text}");
        assert!(
            text.contains("Content-Type: multipart/alternative"),
            "{text}"
        );
        assert!(
            text.contains("Content-Type: text/plain; charset=utf-8"),
            "{text}"
        );
        assert!(
            text.contains("Content-Type: text/html; charset=utf-8"),
            "{text}"
        );
        assert!(text.contains("\r\nDate: "), "{text}");
        assert!(text.contains("\r\nMessage-ID: <"), "{text}");
        assert!(text.contains("123456"));
    }

    #[test]
    fn bad_recipient_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = OutboxMailer::new("k@example.com".parse().unwrap(), dir.path()).unwrap();
        let mail = Mail {
            to: "not an address".into(),
            subject: "s".into(),
            text: "b".into(),
            html: None,
        };
        assert!(matches!(mailer.send(&mail), Err(Error::Mail(_))));
    }
}
