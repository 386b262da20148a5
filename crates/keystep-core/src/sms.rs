//! Outgoing text messages, behind one small trait with two senders: the outbox (the default:
//! one file a message in `{data_dir}/outbox/`, as mail) and a generic HTTP gateway
//! (`sms.http.*`: a URL, a method, headers and a body template with `{to}` and `{text}`),
//! which covers the common SMS providers' HTTP APIs. A send that fails is an error for the
//! caller to show, never a silent success. Numbers are E.164 (`+` and up to 15 digits).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, SmsHttpConfig, SmsHttpMethod};
use crate::error::{Error, Result};

/// A text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sms {
    /// The number, E.164 (`+4915112345678`).
    pub to: String,
    /// The words.
    pub text: String,
}

/// Sends text messages.
pub trait SmsSender: Send + Sync + fmt::Debug {
    /// Sends (or stores) one message; an error means it did not go out.
    fn send(&self, sms: &Sms) -> Result<()>;
}

/// A number in E.164 form from what a person typed: spaces, dashes, dots and brackets go; a
/// leading `00` becomes `+`. `None` unless it is `+`, a first digit other than 0, and 8 to
/// 15 digits in all (ITU-T E.164 allows at most 15).
pub fn normalize_e164(input: &str) -> Option<String> {
    let kept: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}'))
        .collect();
    let digits = match kept.strip_prefix('+') {
        Some(rest) => rest,
        None => kept.strip_prefix("00")?,
    };
    let valid = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    valid.then(|| format!("+{digits}"))
}

/// The number as pages and the CLI show it: the first three characters and the last two
/// (`+49•••••••••78`), so a person recognises it and a passer-by learns little.
pub fn masked_number(e164: &str) -> String {
    let chars: Vec<char> = e164.chars().collect();
    if chars.len() < 6 {
        return "•••".to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "•".repeat(chars.len() - 5))
}

/// Writes each message as a file `sms-{time}-{id}.txt` in the outbox folder: the recipient,
/// a blank line, the text. For development and tests, and for deployments without a gateway.
#[derive(Debug)]
pub struct OutboxSms {
    dir: PathBuf,
}

impl OutboxSms {
    /// An outbox in `dir` (created when missing).
    pub fn new(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating outbox {}", dir.display()), e))?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }
}

impl SmsSender for OutboxSms {
    fn send(&self, sms: &Sms) -> Result<()> {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let name = format!("sms-{millis}-{}.txt", uuid::Uuid::new_v4().simple());
        let path = self.dir.join(&name);
        std::fs::write(&path, format!("To: {}\n\n{}\n", sms.to, sms.text))
            .map_err(|e| Error::Sms(format!("writing {}: {e}", path.display())))?;
        tracing::info!(outbox = %self.dir.display(), file = %name, "text message written to outbox");
        Ok(())
    }
}

/// How a placeholder's value is written into a body or URL: so that a text with quotes or
/// an ampersand cannot break the request it goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// Inside a JSON string.
    Json,
    /// Percent-encoded, for a form body or a URL.
    Form,
    /// As it is (a plain-text body).
    Raw,
}

impl Escape {
    fn of_content_type(content_type: &str) -> Self {
        let content_type = content_type.to_ascii_lowercase();
        if content_type.contains("json") {
            Self::Json
        } else if content_type.contains("x-www-form-urlencoded") {
            Self::Form
        } else {
            Self::Raw
        }
    }

    fn apply(self, value: &str) -> String {
        match self {
            Self::Json => {
                let quoted = serde_json::Value::String(value.to_owned()).to_string();
                quoted[1..quoted.len() - 1].to_owned()
            }
            Self::Form => url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
            Self::Raw => value.to_owned(),
        }
    }
}

/// Fills `{to}`, `{text}` and `{secret}` in `template`, each value escaped by `escape`, in one
/// pass: a value is never read for placeholders, so a text holding `{secret}` stays as it is.
fn fill(template: &str, escape: Escape, sms: &Sms, secret: Option<&str>) -> String {
    let mut filled = String::with_capacity(template.len() + sms.text.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        filled.push_str(&rest[..open]);
        let tail = &rest[open..];
        let value = [
            ("{to}", sms.to.as_str()),
            ("{text}", sms.text.as_str()),
            ("{secret}", secret.unwrap_or_default()),
        ]
        .into_iter()
        .find(|(name, _)| tail.starts_with(name));
        match value {
            Some((name, value)) => {
                filled.push_str(&escape.apply(value));
                rest = &tail[name.len()..];
            }
            None => {
                filled.push('{');
                rest = &tail[1..];
            }
        }
    }
    filled.push_str(rest);
    filled
}

/// Sends through a provider's HTTP API: `sms.http.method` to `sms.http.url`, with
/// `sms.http.headers` and the body `sms.http.body`, where `{to}`, `{text}` and `{secret}` (the
/// content of `sms.http.secret_file`) are filled in. Any 2xx answer is a sent message.
pub struct HttpGateway {
    config: SmsHttpConfig,
    secret: Option<String>,
    client: reqwest::blocking::Client,
}

impl fmt::Debug for HttpGateway {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpGateway")
            .field("url", &self.config.url)
            .field("method", &self.config.method)
            .finish_non_exhaustive()
    }
}

impl HttpGateway {
    /// The gateway `config` describes; reads the secret file now, so a missing one fails at
    /// start and names its key.
    pub fn new(config: &SmsHttpConfig) -> Result<Self> {
        let secret = match &config.secret_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| {
                        Error::invalid(
                            "sms.http.secret_file",
                            format!("cannot read {}: {e}", path.display()),
                        )
                    })?
                    .trim_end()
                    .to_owned(),
            ),
            None => None,
        };
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(config.timeout_seconds))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::invalid("sms.http", format!("cannot build a client: {e}")))?;
        Ok(Self {
            config: config.clone(),
            secret,
            client,
        })
    }
}

impl SmsSender for HttpGateway {
    fn send(&self, sms: &Sms) -> Result<()> {
        let secret = self.secret.as_deref();
        let url = fill(&self.config.url, Escape::Form, sms, secret);
        let method = match self.config.method {
            SmsHttpMethod::Get => reqwest::Method::GET,
            SmsHttpMethod::Post => reqwest::Method::POST,
            SmsHttpMethod::Put => reqwest::Method::PUT,
        };
        let mut request = self.client.request(method, &url);
        for (name, value) in &self.config.headers {
            request = request.header(name, fill(value, Escape::Raw, sms, secret));
        }
        if self.config.method != SmsHttpMethod::Get {
            let escape = Escape::of_content_type(&self.config.content_type);
            request = request
                .header(reqwest::header::CONTENT_TYPE, &self.config.content_type)
                .body(fill(&self.config.body, escape, sms, secret));
        }
        // The URL may hold the secret or the number: the log names the host only.
        let host = url::Url::parse(&url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        let response = request
            .send()
            .map_err(|e| Error::Sms(format!("gateway {host}: {}", e.without_url())))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::Sms(format!("gateway {host} answered {status}")));
        }
        tracing::info!(gateway = %host, status = status.as_u16(), "text message sent");
        Ok(())
    }
}

/// The sender the configuration asks for.
pub fn sender_from_config(config: &Config) -> Result<Arc<dyn SmsSender>> {
    Ok(match &config.sms.http {
        Some(http) => Arc::new(HttpGateway::new(http)?),
        None => Arc::new(OutboxSms::new(&config.data_dir.join("outbox"))?),
    })
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn numbers_are_e164_and_shown_masked() {
        for (typed, e164) in [
            ("+49 151 1234 5678", Some("+4915112345678")),
            ("0049 (151) 1234-5678", Some("+4915112345678")),
            ("+86 138 0013 8000", Some("+8613800138000")),
            ("+1 555 0100", Some("+15550100")),
            ("0151 12345678", None),
            ("+0 123 456 789", None),
            ("+49 151 1234 5678 9999", None),
            ("+49 15x 1234 5678", None),
            ("", None),
        ] {
            assert_eq!(normalize_e164(typed).as_deref(), e164, "{typed:?}");
        }
        assert_eq!(masked_number("+4915112345678"), "+49•••••••••78");
    }

    #[test]
    fn the_outbox_writes_one_file_a_message() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = OutboxSms::new(dir.path()).unwrap();
        let sms = Sms {
            to: "+4915112345678".into(),
            text: "Your code: 123456".into(),
        };
        outbox.send(&sms).unwrap();
        outbox.send(&sms).unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(files.len(), 2);
        let text = std::fs::read_to_string(files[0].path()).unwrap();
        assert_eq!(text, "To: +4915112345678\n\nYour code: 123456\n");
    }

    /// A one-request HTTP server on a free port that answers `status` and hands back what it
    /// received: the request line, the headers and the body.
    fn receiver(
        status: u16,
    ) -> (
        String,
        std::thread::JoinHandle<(String, Vec<String>, String)>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut headers = Vec::new();
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                let header = header.trim_end().to_owned();
                if header.is_empty() {
                    break;
                }
                if let Some(n) = header.to_ascii_lowercase().strip_prefix("content-length: ") {
                    length = n.parse().unwrap();
                }
                headers.push(header);
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let answer =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            reader.get_mut().write_all(answer.as_bytes()).unwrap();
            (
                line.trim_end().to_owned(),
                headers,
                String::from_utf8(body).unwrap(),
            )
        });
        (url, handle)
    }

    fn gateway(url: String, body: &str, content_type: &str, secret: Option<&Path>) -> HttpGateway {
        HttpGateway::new(&SmsHttpConfig {
            url,
            method: SmsHttpMethod::Post,
            headers: [("Authorization".to_owned(), "Bearer {secret}".to_owned())].into(),
            secret_file: secret.map(Path::to_owned),
            body: body.to_owned(),
            content_type: content_type.to_owned(),
            timeout_seconds: 5,
        })
        .unwrap()
    }

    fn tricky() -> Sms {
        Sms {
            to: "+4915112345678".into(),
            text: "Code \"123456\" & more".into(),
        }
    }

    #[test]
    fn the_gateway_fills_a_json_body_and_the_secret_header() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("token");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let (url, received) = receiver(201);
        let body = r#"{"to":"{to}","message":"{text}"}"#;
        let sender = gateway(
            format!("{url}/send"),
            body,
            "application/json",
            Some(&secret),
        );
        sender.send(&tricky()).unwrap();
        let (line, headers, body) = received.join().unwrap();
        assert_eq!(line, "POST /send HTTP/1.1");
        assert!(
            headers.iter().any(|h| h == "authorization: Bearer s3cret"),
            "{headers:?}"
        );
        assert!(headers
            .iter()
            .any(|h| h == "content-type: application/json"));
        let sent: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(sent["to"], "+4915112345678");
        assert_eq!(sent["message"], "Code \"123456\" & more");
        assert!(
            !format!("{sender:?}").contains("s3cret"),
            "Debug hides the secret"
        );
    }

    #[test]
    fn the_gateway_fills_a_form_body_and_a_refusal_is_an_error() {
        let (url, received) = receiver(200);
        let content_type = "application/x-www-form-urlencoded";
        let sender = gateway(url, "To={to}&Body={text}", content_type, None);
        sender.send(&tricky()).unwrap();
        let (_, _, body) = received.join().unwrap();
        let fields: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(
            fields,
            [
                ("To".to_owned(), "+4915112345678".to_owned()),
                ("Body".to_owned(), "Code \"123456\" & more".to_owned())
            ]
        );

        let (url, received) = receiver(500);
        let sender = gateway(url, "To={to}&Body={text}", content_type, None);
        let refused = sender.send(&tricky()).unwrap_err();
        assert!(
            matches!(refused, Error::Sms(ref m) if m.contains("500")),
            "{refused}"
        );
        received.join().unwrap();
        let closed = gateway("http://127.0.0.1:9".into(), "{text}", "text/plain", None);
        assert!(matches!(closed.send(&tricky()), Err(Error::Sms(_))));
    }

    #[test]
    fn placeholders_are_filled_once_and_values_are_not_read_again() {
        let sms = Sms {
            to: "+4915112345678".into(),
            text: "say {secret} or {to}".into(),
        };
        let filled = fill(
            r#"{"t":"{text}","n":"{to}"} {x"#,
            Escape::Json,
            &sms,
            Some("key"),
        );
        assert_eq!(
            filled,
            r#"{"t":"say {secret} or {to}","n":"+4915112345678"} {x"#
        );
    }

    #[test]
    fn a_missing_secret_file_names_its_key() {
        let config = SmsHttpConfig {
            url: "http://127.0.0.1:9".into(),
            method: SmsHttpMethod::Post,
            headers: Default::default(),
            secret_file: Some("/nonexistent/token".into()),
            body: "{text}".into(),
            content_type: "text/plain".into(),
            timeout_seconds: 5,
        };
        let error = HttpGateway::new(&config).unwrap_err();
        assert!(
            error.to_string().contains("sms.http.secret_file"),
            "{error}"
        );
    }
}
