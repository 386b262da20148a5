//! The lost-device path and operator resets. A person who lost both their authenticator and
//! their recovery codes confirms a code mailed to their address and files a reset request (the
//! equivalent of a support ticket); an operator approves or denies it with
//! `keystep mfa requests`. Approval — like `keystep mfa reset` — removes the second factors,
//! ends the person's sessions, writes an audit event and mails the person.

use diesel::prelude::*;
use keystep_core::audit::{self, Actor, AuditKind, NewAuditEvent};
use keystep_core::db::DbConn;
use keystep_core::mail::{Notice, ResetReason};
use keystep_core::schema::{mfa_reset_requests, users};
use keystep_core::sessions::Device;
use keystep_core::signout::{self, Ender, Which};
use keystep_core::users::User;
use keystep_core::{Error, Services};
use rand::Rng;

use crate::factors;

/// A stored request.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = mfa_reset_requests)]
pub struct ResetRequest {
    /// Id operators type.
    pub id: String,
    /// Whose.
    pub user_id: String,
    /// `pending`, `approved` or `denied`.
    pub status: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub decided_at: Option<i64>,
    /// Where it was filed from.
    pub ip: Option<String>,
    /// The browser it was filed from.
    pub user_agent: Option<String>,
}

/// Files a request (or returns the person's pending one).
pub fn file(
    services: &Services,
    conn: &mut DbConn,
    user_id: &str,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> keystep_core::Result<ResetRequest> {
    if let Some(pending) = mfa_reset_requests::table
        .filter(mfa_reset_requests::user_id.eq(user_id))
        .filter(mfa_reset_requests::status.eq("pending"))
        .select(ResetRequest::as_select())
        .first(conn)
        .optional()?
    {
        return Ok(pending);
    }
    let request = ResetRequest {
        // Eight hex digits: easy to read out and to type after `approve`.
        id: format!("{:08x}", rand::rng().random::<u32>()),
        user_id: user_id.to_owned(),
        status: "pending".into(),
        created_at: services.clock.now(),
        decided_at: None,
        ip: ip.map(str::to_owned),
        user_agent: user_agent.map(|u| u.chars().take(512).collect()),
    };
    diesel::insert_into(mfa_reset_requests::table)
        .values(&request)
        .execute(conn)?;
    let mut event = NewAuditEvent::new(
        Actor::User(user_id.to_owned()),
        AuditKind::MfaResetRequested,
        Some(user_id),
    );
    event.ip = ip;
    event.user_agent = user_agent;
    event.detail = serde_json::json!({"request": request.id});
    audit::record(conn, services.clock.as_ref(), &event)?;
    Ok(request)
}

/// Requests with their person's username and email, newest first; only pending ones unless
/// `all`.
pub fn list(
    conn: &mut DbConn,
    all: bool,
) -> keystep_core::Result<Vec<(ResetRequest, String, String)>> {
    let mut query = mfa_reset_requests::table
        .inner_join(users::table)
        .select((ResetRequest::as_select(), users::username, users::email))
        .order(mfa_reset_requests::created_at.desc())
        .into_boxed();
    if !all {
        query = query.filter(mfa_reset_requests::status.eq("pending"));
    }
    Ok(query.load(conn)?)
}

/// Removes a person's second factors as an operator: factors gone, sessions ended, audit
/// event. Returns the notice that tells them, to mail once the transaction has committed.
pub fn reset_user(
    services: &Services,
    conn: &mut DbConn,
    user: &User,
    reason: ResetReason,
) -> keystep_core::Result<Notice> {
    factors::remove_all(conn, &user.id)?;
    // A second factor locked by wrong codes is unlocked with it, and so are mailed codes: the
    // person binds anew, which needs one. (From a CLI process without Redis these deletes
    // reach the server through the relay, `keystep_core::ephemeral::relay`.)
    factors::reset_failures(services, &user.id)?;
    crate::mailed_code::forget_day(services, &user.id)?;
    let by = Ender {
        actor: Actor::Cli,
        device: Device::default(),
        reason: Some("second factor reset"),
    };
    signout::end_sessions(services, conn, &user.id, Which::All, &by)?;
    let mut event = NewAuditEvent::new(Actor::Cli, AuditKind::MfaRemoved, Some(&user.id));
    event.detail = serde_json::json!({"reason": reason.as_str()});
    audit::record(conn, services.clock.as_ref(), &event)?;
    Ok(Notice::ResetByOperator { reason })
}

/// Approves or denies a pending request. Returns it with its person and the notice that tells
/// them, to
/// send once the transaction has committed.
pub fn decide(
    services: &Services,
    conn: &mut DbConn,
    id: &str,
    approve: bool,
) -> keystep_core::Result<(ResetRequest, User, Notice)> {
    let Some((request, _, _)) = mfa_reset_requests::table
        .inner_join(users::table)
        .filter(mfa_reset_requests::id.eq(id))
        .select((ResetRequest::as_select(), users::username, users::email))
        .first::<(ResetRequest, String, String)>(conn)
        .optional()?
    else {
        return Err(Error::invalid(
            "request",
            format!("no reset request {id:?}"),
        ));
    };
    if request.status != "pending" {
        return Err(Error::invalid(
            "request",
            format!("request {id} was already {}", request.status),
        ));
    }
    let status = if approve { "approved" } else { "denied" };
    let updated = diesel::update(
        mfa_reset_requests::table
            .find(id)
            .filter(mfa_reset_requests::status.eq("pending")),
    )
    .set((
        mfa_reset_requests::status.eq(status),
        mfa_reset_requests::decided_at.eq(Some(services.clock.now())),
    ))
    .execute(conn)?;
    if updated != 1 {
        return Err(Error::invalid(
            "request",
            format!("request {id} was decided meanwhile"),
        ));
    }
    let user = keystep_core::users::find_by_id(conn, &request.user_id)?
        .ok_or_else(|| Error::UserNotFound(request.user_id.clone()))?;
    let mut event = NewAuditEvent::new(Actor::Cli, AuditKind::MfaResetDecided, Some(&user.id));
    event.detail = serde_json::json!({"request": id, "decision": status});
    audit::record(conn, services.clock.as_ref(), &event)?;
    let mail = if approve {
        reset_user(services, conn, &user, ResetReason::RequestApproved)?
    } else {
        Notice::ResetDeclined
    };
    Ok((
        ResetRequest {
            status: status.into(),
            ..request
        },
        user,
        mail,
    ))
}
