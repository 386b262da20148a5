//! Ending sessions as one use case, each end written to the audit log: signing out of this
//! browser (RP-initiated logout, OIDC RP-Initiated Logout 1.0), and ending some or all of a
//! person's sessions (from the user center, after a password change, or by an operator).
//! Ending a session revokes the refresh tokens bound to it ([`sessions::end`]) and the access
//! tokens issued in it ([`end_session`]). `offline_access` grants are bound to no session:
//! they end when the person revokes them in the user center, and with every session at once
//! ("sign out all other sessions", a password change, an operator's disable or reset), see
//! [`revoke_offline_access`].

use std::time::Duration;

use crate::audit::{self, Actor, AuditKind, NewAuditEvent};
use crate::db::DbConn;
use crate::error::Result;
use crate::refresh_tokens;
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

/// Revokes a person's `offline_access` grants (every one, or one client's) and the access
/// tokens issued under them, one `offline_access_revoked` event each; returns how many.
pub fn revoke_offline_access(
    services: &Services,
    conn: &mut DbConn,
    user_id: &str,
    client_id: Option<&str>,
    by: &Ender<'_>,
) -> Result<usize> {
    let clock = services.clock.as_ref();
    let lifetime = Duration::from_secs(services.config.tokens.access_token_seconds + 1);
    let grants = refresh_tokens::live_offline(conn, clock, user_id, client_id)?;
    for grant in &grants {
        refresh_tokens::revoke_family(conn, clock, &grant.family_id)?;
        services.ephemeral.put(
            &refresh_tokens::family_revoked_mark(&grant.family_id),
            b"1",
            lifetime,
        )?;
        let mut event = NewAuditEvent::new(
            by.actor.clone(),
            AuditKind::OfflineAccessRevoked,
            Some(user_id),
        );
        event.ip = by.device.ip;
        event.user_agent = by.device.user_agent;
        event.client_id = Some(&grant.client_id);
        if let Some(reason) = by.reason {
            event.detail = serde_json::json!({ "reason": reason });
        }
        audit::record(conn, clock, &event)?;
    }
    Ok(grants.len())
}

/// Ends the chosen sessions of `user_id`, one `session_ended` event each; returns how many.
/// Ending all of them, or all but the asking one, also revokes every `offline_access` grant:
/// "everywhere" includes the applications that hold the person's access without a session.
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
    if matches!(which, Which::All | Which::AllBut(_)) {
        revoke_offline_access(services, conn, user_id, None, by)?;
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

    #[test]
    fn offline_access_is_revoked_per_client_and_with_every_session() {
        let t = testing::services();
        let ada = t.user("ada");
        let issue = |client_id: &str| {
            t.write(|conn| {
                let client = crate::clients::NewClient {
                    id: client_id.to_owned(),
                    redirect_uris: vec!["https://app.example/cb".to_owned()],
                    offline_access: true,
                    ..Default::default()
                };
                crate::clients::create_client(conn, t.services.clock.as_ref(), &client)?;
                let new = refresh_tokens::NewRefreshGrant {
                    family_id: None,
                    client_id,
                    user_id: &ada.id,
                    session_id: None,
                    scope: "openid offline_access",
                    auth_time: 0,
                    acr: "aal1",
                    amr: &[],
                    lifetime: 3600,
                };
                refresh_tokens::issue(conn, t.services.clock.as_ref(), &new).map(|(g, _)| g)
            })
        };
        let live = || {
            t.read(|conn| {
                refresh_tokens::live_offline(conn, t.services.clock.as_ref(), &ada.id, None)
            })
            .into_iter()
            .map(|g| g.client_id)
            .collect::<Vec<_>>()
        };
        let (_mail, notes) = (issue("mail"), issue("notes"));
        let by = Ender {
            actor: Actor::Cli,
            device: Device::default(),
            reason: Some("account disabled"),
        };
        let revoked =
            t.write(|conn| revoke_offline_access(&t.services, conn, &ada.id, Some("mail"), &by));
        assert_eq!(revoked, 1);
        assert_eq!(live(), vec!["notes".to_owned()]);
        t.write(|conn| end_sessions(&t.services, conn, &ada.id, Which::All, &by));
        assert!(live().is_empty(), "every session ended: offline access too");
        let mark = refresh_tokens::family_revoked_mark(&notes.family_id);
        assert!(t.services.ephemeral.get(&mark).unwrap().is_some());
        let events = t.events(&ada.id);
        let revocations = events.iter().filter(|e| *e == "offline_access_revoked");
        assert_eq!(revocations.count(), 2);
    }
}
