//! What the sign-in with TOTP needs besides HTTP: the people with an authenticator bound, the
//! codes their app would show, and the mails that carried the code each binding asked for.
//!
//! A code is single use: keystep accepts each person's time step once (RFC 6238 §5.2), and at
//! most one step ahead of its clock. So a person can sign in with a new code about once every
//! 30 seconds, and the case needs many people. They wait in a queue; a connection takes one
//! whose next code is valid now, and when none is, waits for the next time step (the wait is
//! the benchmark's, and is left out of the latencies).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use totp_rs::{Algorithm, Builder, Secret};

use crate::server::Person;

/// RFC 6238's time step, keystep's.
pub const STEP_SECONDS: u64 = 30;

/// The current Unix time in seconds and its time step.
pub fn now() -> (f64, u64) {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    (unix, unix as u64 / STEP_SECONDS)
}

/// The six-digit code of `secret` for time step `step` (SHA-1, as keystep binds them).
pub fn code(secret: &[u8], step: u64) -> Result<String, String> {
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(STEP_SECONDS)
        .with_skew(0)
        .with_secret(Secret::from(secret.to_vec()))
        .with_account_name("bench".to_owned())
        .build()
        .map_err(|e| format!("a TOTP generator: {e}"))?;
    Ok(totp.generate(step * STEP_SECONDS).to_string())
}

/// A person with an authenticator bound.
#[derive(Debug, Clone)]
pub struct TotpPerson {
    /// Name and password.
    pub person: Person,
    /// The authenticator's secret, as the binding page showed it.
    pub secret: Vec<u8>,
    /// The last time step whose code keystep accepted (or may have: a flow that failed
    /// after sending it counts too, so no code is sent twice).
    pub last_step: u64,
}

/// The people of the case, waiting their turn.
#[derive(Debug, Default)]
pub struct TotpPeople {
    queue: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: VecDeque<TotpPerson>,
    /// Signing in on a connection right now.
    out: usize,
}

impl TotpPeople {
    #[cfg(test)]
    fn new(people: Vec<TotpPerson>) -> Self {
        Self {
            queue: Mutex::new(Queue {
                waiting: people.into(),
                out: 0,
            }),
        }
    }

    /// A person whose next code is valid at time step `step`, and the step of that code: the
    /// current one, or the next (keystep's window reaches one step ahead). Otherwise how long
    /// to wait before asking again.
    pub fn take(&self, step: u64, unix: f64) -> Result<(TotpPerson, u64), Duration> {
        let mut queue = self.queue.lock().map_err(|_| Duration::from_secs(1))?;
        let usable = |p: &TotpPerson| (p.last_step + 1).max(step);
        if let Some(at) = queue.waiting.iter().position(|p| usable(p) <= step + 1) {
            if let Some(person) = queue.waiting.remove(at) {
                queue.out += 1;
                let code_step = usable(&person);
                return Ok((person, code_step));
            }
        }
        if queue.out > 0 {
            // Someone signing in on another connection may come back with a code left in
            // this step (one who used the current step's has the next one's).
            return Err(Duration::from_millis(20));
        }
        // Everyone has used the codes up to the next step: wait for the next step to begin.
        let next = ((step + 1) * STEP_SECONDS) as f64;
        Err(Duration::from_secs_f64((next - unix).max(0.0) + 0.05))
    }

    /// Adds `person`, bound just now, at the end of the queue. One taken with [`Self::take`]
    /// goes back through [`Self::put_back`], which also counts it in again.
    pub fn add(&self, person: TotpPerson) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.waiting.push_back(person);
        }
    }

    /// Puts back `person`, taken with [`Self::take`].
    pub fn put_back(&self, person: TotpPerson) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.out = queue.out.saturating_sub(1);
            queue.waiting.push_back(person);
        }
    }
}

/// The server's outbox folder, read as the people's mailboxes: the confirmation code mailed
/// to each address.
#[derive(Debug)]
pub struct Mailbox {
    dir: PathBuf,
    read: Mutex<(HashSet<PathBuf>, HashMap<String, String>)>,
}

impl Mailbox {
    /// The mails keystep writes to `dir` (its `outbox`, when no SMTP relay is set).
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            read: Mutex::new((HashSet::new(), HashMap::new())),
        }
    }

    /// The confirmation code last mailed to `address`, once its mail is there.
    pub async fn code_for(&self, address: &str) -> Result<String, String> {
        for _ in 0..50 {
            if let Some(code) = self.scan(address)? {
                return Ok(code);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "no confirmation code for {address} in {} after 5 s",
            self.dir.display()
        ))
    }

    /// Reads the mails not read yet; the code for `address`, if one has come.
    fn scan(&self, address: &str) -> Result<Option<String>, String> {
        let mut read = self.read.lock().map_err(|e| e.to_string())?;
        let (seen, codes) = &mut *read;
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", self.dir.display())),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if seen.contains(&path) {
                continue;
            }
            let Ok(raw) = std::fs::read_to_string(&path) else {
                continue;
            };
            // A mail being written may be read half-way: one without its code is read again
            // next time, unless it has ended (a multipart mail ends with its closing MIME
            // boundary) and so is a notice without a code.
            if let (Some(to), Some(code)) = (recipient(&raw), confirmation_code(&raw)) {
                codes.insert(to, code);
                seen.insert(path);
            } else if raw.trim_end().ends_with("--") {
                seen.insert(path);
            }
        }
        Ok(codes.remove(address))
    }
}

/// The address of a mail's `To:` header (`Name <a@b>` or `a@b`).
fn recipient(raw: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next()?;
    let to = head
        .lines()
        .find_map(|line| line.strip_prefix("To:"))?
        .trim();
    let address = match (to.rfind('<'), to.rfind('>')) {
        (Some(open), Some(close)) if open < close => &to[open + 1..close],
        _ => to,
    };
    Some(address.to_owned())
}

/// The six digits after "Your confirmation code is: " in the text part, which lettre may
/// have written as quoted-printable.
fn confirmation_code(raw: &str) -> Option<String> {
    const MARKER: &str = "Your confirmation code is: ";
    let decoded = quoted_printable::decode(raw, quoted_printable::ParseMode::Robust).ok()?;
    let text = String::from_utf8_lossy(&decoded);
    let after = &text[text.find(MARKER)? + MARKER.len()..];
    let code: String = after.chars().take(6).collect();
    (code.len() == 6 && code.chars().all(|c| c.is_ascii_digit())).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B, truncated to six digits (the vectors are eight).
        let secret = b"12345678901234567890";
        assert_eq!(code(secret, 59 / 30).unwrap(), "287082");
        assert_eq!(code(secret, 1_111_111_109 / 30).unwrap(), "081804");
    }

    fn person(last_step: u64) -> TotpPerson {
        TotpPerson {
            person: Person {
                username: format!("p{last_step}"),
                password: String::new(),
                email: String::new(),
            },
            secret: Vec::new(),
            last_step,
        }
    }

    #[test]
    fn a_person_is_taken_only_with_a_code_not_yet_used_and_within_the_window() {
        let people = TotpPeople::new(vec![person(101), person(100)]);
        // At step 100 the one who used 101 has no code left (102 is beyond the window);
        // the one who used 100 has 101's.
        let (mut taken, step) = people.take(100, 3000.0).unwrap();
        assert_eq!((taken.person.username.as_str(), step), ("p100", 101));
        // While they sign in, the others are asked again soon: they may come back with a
        // code left.
        assert_eq!(
            people.take(100, 3000.0).unwrap_err(),
            Duration::from_millis(20)
        );
        taken.last_step = step;
        people.put_back(taken);
        // Back, with every code up to step 101 used: wait for step 101 to begin.
        let wait = people.take(100, 3000.0).unwrap_err();
        assert!(wait > Duration::from_secs(29) && wait < Duration::from_secs(31));
        // A step later the first one's next code is valid.
        let (_, step) = people.take(101, 3030.0).unwrap();
        assert_eq!(step, 102);
        // A person long unused starts at the current step, not at one already past.
        let people = TotpPeople::new(vec![person(7)]);
        assert_eq!(people.take(100, 3000.0).unwrap().1, 100);
    }

    #[test]
    fn mails_give_their_recipient_and_code() {
        let raw = "From: keystep <noreply@localhost>\r\nTo: bench-totp-3@bench.example\r\nSubject: x\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nHello,\r\nYour confirmation code is: 042=\r\n917. It expires.\r\n--b--\r\n";
        assert_eq!(
            recipient(raw).as_deref(),
            Some("bench-totp-3@bench.example")
        );
        assert_eq!(confirmation_code(raw).as_deref(), Some("042917"));
        let named = "To: \"Ada\" <ada@example.com>\r\n\r\nno code here";
        assert_eq!(recipient(named).as_deref(), Some("ada@example.com"));
        assert_eq!(confirmation_code(named), None);
    }
}
