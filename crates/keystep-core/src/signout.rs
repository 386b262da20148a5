//! Ending sessions as one use case, each end written to the audit log: signing out of this
//! browser (RP-initiated logout, OIDC RP-Initiated Logout 1.0), and ending some or all of a
//! person's sessions (from the user center, after a password change, or by an operator).
//! Ending a session revokes the refresh tokens bound to it ([`sessions::end`]) and the access
//! tokens issued in it ([`end_session`]).

use std::time::Duration;

use crate::audit::{self, Actor, AuditKind, NewAuditEvent};
use crate::db::DbConn;
use crate::error::Result;
use crate::sessions::{self, Device, Session};
use crate::Services;

/// Which of a person's sessions to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which<'a> {
    /// This one, unless it is `keep` (the session asking: it signs out instead).
    One {
        /// The session to end.
        id: &'a str,
        /// The session that asks.
        keep: &'a str,
    },
    /// Every one but `keep`.
    AllBut(&'a str),
    /// Every one.
    All,
}

/// Who ends them and from where, and why (for the log).
#[derive(Debug, Clone)]
pub struct Ender<'a> {
    /// The person themselves, or an operator.
    pub actor: Actor,
    /// Where the request came from.
    pub device: Device<'a>,
    /// Why, when it is not the person's own choice ("password changed").
    pub reason: Option<&'a str>,
}

/// Ends a session: its row and its refresh tokens in the transaction, and a mark in the
/// shared ephemeral store that refuses the access tokens issued in it (they name it in `sid`)
/// until they would have expired anyway. The mark is made before the commit: should the
/// transaction fail, tokens of a session that lives on are refused, never the other way round.
pub fn end_session(services: &Services, conn: &mut DbConn, session_id: &str) -> Result<()> {
    sessions::end(conn, services.clock.as_ref(), session_id)?;
    let lifetime = Duration::from_secs(services.config.tokens.access_token_seconds + 1);
    services
        .ephemeral
        .put(&sessions::ended_mark(session_id), b"1", lifetime)
}

/// Signs out of `session` (the browser's own), recording `signed_out`.
pub fn sign_out(
    services: &Services,
    conn: &mut DbConn,
    session: &Session,
    client_id: Option<&str>,
    device: Device<'_>,
) -> Result<()> {
    let clock = services.clock.as_ref();
    end_session(services, conn, &session.id)?;
    audit::record(
        conn,
        clock,
        &NewAuditEvent::by_user(AuditKind::SignedOut, &session.user_id, device, client_id),
    )
}

/// Ends the chosen sessions of `user_id`, one `session_ended` event each; returns how many.
pub fn end_sessions(
    services: &Services,
    conn: &mut DbConn,
    user_id: &str,
    which: Which<'_>,
    by: &Ender<'_>,
) -> Result<usize> {
    let clock = services.clock.as_ref();
    let mut ended = 0;
    for session in sessions::list_for_user(conn, clock, user_id)? {
        let chosen = match which {
            Which::One { id, keep } => session.id == id && session.id != keep,
            Which::AllBut(keep) => session.id != keep,
            Which::All => true,
        };
        if !chosen {
            continue;
        }
        end_session(services, conn, &session.id)?;
        let mut event =
            NewAuditEvent::new(by.actor.clone(), AuditKind::SessionEnded, Some(user_id));
        event.ip = by.device.ip;
        event.user_agent = by.device.user_agent;
        event.detail = match by.reason {
            Some(reason) => serde_json::json!({"session": session.id, "reason": reason}),
            None => serde_json::json!({"session": session.id}),
        };
        audit::record(conn, clock, &event)?;
        ended += 1;
    }
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    fn signed_in(t: &testing::TestServices) -> Session {
        t.sign_in("ada").session
    }

    #[test]
    fn one_all_but_and_all_end_what_they_say_and_each_is_audited() {
        let t = testing::services();
        let ada = t.user("ada");
        let [a, b, c, d] = [(); 4].map(|()| signed_in(&t));
        let by = Ender {
            actor: Actor::User(ada.id.clone()),
            device: Device::default(),
            reason: None,
        };
        let end = |which| t.write(|conn| end_sessions(&t.services, conn, &ada.id, which, &by));
        assert_eq!(
            end(Which::One {
                id: &a.id,
                keep: &a.id
            }),
            0,
            "not the asking session"
        );
        assert_eq!(
            end(Which::One {
                id: &b.id,
                keep: &a.id
            }),
            1
        );
        assert!(!t.live_sessions(&ada.id).contains(&b.id));
        assert_eq!(end(Which::AllBut(&a.id)), 2);
        assert_eq!(t.live_sessions(&ada.id), vec![a.id.clone()]);
        assert_eq!(end(Which::All), 1);
        assert!(t.live_sessions(&ada.id).is_empty());
        let ended = t
            .events(&ada.id)
            .into_iter()
            .filter(|e| e == "session_ended");
        assert_eq!(ended.count(), 4);
        let _ = (c, d);
    }

    #[test]
    fn signing_out_ends_the_session_and_says_so() {
        let t = testing::services();
        let ada = t.user("ada");
        let session = signed_in(&t);
        t.write(|conn| sign_out(&t.services, conn, &session, Some("shop"), Device::default()));
        assert!(t.live_sessions(&ada.id).is_empty());
        let last = t.read(|conn| audit::list_for_user(conn, &ada.id, 1));
        assert_eq!(last[0].event, "signed_out");
        assert_eq!(last[0].client_id.as_deref(), Some("shop"));
    }
}
