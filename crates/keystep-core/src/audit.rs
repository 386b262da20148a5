//! The audit log: an append-only record of security events (who, what, when, from where).
//! Later capabilities add their event kinds here; nothing in keystep updates or deletes an
//! event, and the database refuses it too (triggers in the migrations).

use diesel::prelude::*;
use serde::Serialize;

use crate::clock::Clock;
use crate::db::DbConn;
use crate::error::Result;
use crate::schema::audit_events;
use crate::sessions::Device;

/// What happened. Stored as the snake_case name, which is also what operators grep for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// An operator created a user.
    UserCreated,
    /// An operator disabled a user.
    UserDisabled,
    /// A password was set by an operator or changed by its owner.
    PasswordChanged,
    /// A person signed in with their password.
    SignedIn,
    /// A sign-in failed: wrong password for an existing account, or a disabled one.
    SignInFailed,
    /// A person signed out (RP-initiated logout).
    SignedOut,
    /// A second factor was verified (detail: method).
    SecondFactorVerified,
    /// A wrong second-factor code was entered.
    SecondFactorFailed,
    /// Second-factor attempts are locked after too many failures.
    SecondFactorLocked,
    /// A recovery code was used (detail: how many remain).
    RecoveryCodeUsed,
    /// A second-factor method was bound, or the authenticator replaced (detail: method).
    MfaEnrolled,
    /// Second factors were removed (by the person, or by an operator's reset).
    MfaRemoved,
    /// One second-factor method was removed while others remain (detail: method).
    MfaMethodRemoved,
    /// The person chose the method their sign-ins offer first (detail: method).
    MfaPreferredChanged,
    /// Recovery codes were generated anew.
    RecoveryCodesRegenerated,
    /// A person who lost both factors filed a reset request.
    MfaResetRequested,
    /// An operator approved or denied a reset request (detail: decision).
    MfaResetDecided,
    /// A person ended one of their sessions from the user center.
    SessionEnded,
    /// An application's offline access was revoked (detail: client, reason).
    OfflineAccessRevoked,
    /// An operator registered a client.
    ClientCreated,
    /// An operator removed a client.
    ClientRemoved,
}

impl AuditKind {
    /// Every kind, for tables that must name each (the security log's words).
    pub const ALL: [Self; 21] = [
        Self::UserCreated,
        Self::UserDisabled,
        Self::PasswordChanged,
        Self::SignedIn,
        Self::SignInFailed,
        Self::SignedOut,
        Self::SecondFactorVerified,
        Self::SecondFactorFailed,
        Self::SecondFactorLocked,
        Self::RecoveryCodeUsed,
        Self::MfaEnrolled,
        Self::MfaRemoved,
        Self::MfaMethodRemoved,
        Self::MfaPreferredChanged,
        Self::RecoveryCodesRegenerated,
        Self::MfaResetRequested,
        Self::MfaResetDecided,
        Self::SessionEnded,
        Self::OfflineAccessRevoked,
        Self::ClientCreated,
        Self::ClientRemoved,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreated => "user_created",
            Self::UserDisabled => "user_disabled",
            Self::PasswordChanged => "password_changed",
            Self::SignedIn => "signed_in",
            Self::SignInFailed => "sign_in_failed",
            Self::SignedOut => "signed_out",
            Self::SecondFactorVerified => "second_factor_verified",
            Self::SecondFactorFailed => "second_factor_failed",
            Self::SecondFactorLocked => "second_factor_locked",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::MfaEnrolled => "mfa_enrolled",
            Self::MfaRemoved => "mfa_removed",
            Self::MfaMethodRemoved => "mfa_method_removed",
            Self::MfaPreferredChanged => "mfa_preferred_changed",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Self::MfaResetRequested => "mfa_reset_requested",
            Self::MfaResetDecided => "mfa_reset_decided",
            Self::SessionEnded => "session_ended",
            Self::OfflineAccessRevoked => "offline_access_revoked",
            Self::ClientCreated => "client_created",
            Self::ClientRemoved => "client_removed",
        }
    }
}

/// Who caused the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The person themselves (by user id).
    User(String),
    /// An operator at the command line.
    Cli,
    /// keystep on its own (expiry, cleanup).
    System,
    /// Someone not known to keystep (a sign-in with a name no account has).
    Anonymous,
}

impl Actor {
    fn stored(&self) -> String {
        match self {
            Self::User(id) => format!("user:{id}"),
            Self::Cli => "cli".to_owned(),
            Self::System => "system".to_owned(),
            Self::Anonymous => "anonymous".to_owned(),
        }
    }
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewAuditEvent<'a> {
    /// Who did it.
    pub actor: Actor,
    /// Whose account it concerns.
    pub user_id: Option<&'a str>,
    /// What happened.
    pub kind: AuditKind,
    /// The client involved, if any.
    pub client_id: Option<&'a str>,
    /// The request's IP address, if over HTTP.
    pub ip: Option<&'a str>,
    /// The request's User-Agent, if over HTTP (cut to 512 characters).
    pub user_agent: Option<&'a str>,
    /// Extra facts as JSON; never a secret.
    pub detail: serde_json::Value,
}

impl<'a> NewAuditEvent<'a> {
    /// An event with no request context and no detail.
    pub fn new(actor: Actor, kind: AuditKind, user_id: Option<&'a str>) -> Self {
        Self {
            actor,
            user_id,
            kind,
            client_id: None,
            ip: None,
            user_agent: None,
            detail: serde_json::Value::Null,
        }
    }

    /// An event the person caused themselves over HTTP, from `device`, for `client_id`.
    pub fn by_user(
        kind: AuditKind,
        user_id: &'a str,
        device: Device<'a>,
        client_id: Option<&'a str>,
    ) -> Self {
        Self {
            client_id,
            ip: device.ip,
            user_agent: device.user_agent,
            ..Self::new(Actor::User(user_id.to_owned()), kind, Some(user_id))
        }
    }

    /// An event caused over HTTP by someone keystep does not know, from `device`.
    pub fn anonymous(kind: AuditKind, device: Device<'a>, client_id: Option<&'a str>) -> Self {
        Self {
            client_id,
            ip: device.ip,
            user_agent: device.user_agent,
            ..Self::new(Actor::Anonymous, kind, None)
        }
    }

    /// The event with `detail`.
    pub fn with_detail(self, detail: serde_json::Value) -> Self {
        Self { detail, ..self }
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    /// Increasing id.
    pub id: i64,
    /// Unix seconds.
    pub occurred_at: i64,
    /// `user:{id}`, `cli` or `system`.
    pub actor: String,
    /// Whose account.
    pub user_id: Option<String>,
    /// The [`AuditKind`] name.
    pub event: String,
    /// The client involved.
    pub client_id: Option<String>,
    /// Request IP.
    pub ip: Option<String>,
    /// Request User-Agent.
    pub user_agent: Option<String>,
    /// JSON detail.
    pub detail: String,
}

/// Appends an event, and mirrors it to the log as a structured `info` line.
pub fn record(conn: &mut DbConn, clock: &dyn Clock, event: &NewAuditEvent<'_>) -> Result<()> {
    let user_agent = event
        .user_agent
        .map(|ua| ua.chars().take(512).collect::<String>());
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::occurred_at.eq(clock.now()),
            audit_events::actor.eq(event.actor.stored()),
            audit_events::user_id.eq(event.user_id),
            audit_events::event.eq(event.kind.as_str()),
            audit_events::client_id.eq(event.client_id),
            audit_events::ip.eq(event.ip),
            audit_events::user_agent.eq(user_agent),
            audit_events::detail.eq(event.detail.to_string()),
        ))
        .execute(conn)?;
    tracing::info!(
        target: "keystep::audit",
        event = event.kind.as_str(),
        actor = %event.actor.stored(),
        user_id = event.user_id.unwrap_or("-"),
        client_id = event.client_id.unwrap_or("-"),
        "audit event"
    );
    Ok(())
}

/// A person's most recent events, newest first.
pub fn list_for_user(conn: &mut DbConn, user_id: &str, limit: i64) -> Result<Vec<AuditEvent>> {
    Ok(audit_events::table
        .filter(audit_events::user_id.eq(user_id))
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)?)
}

/// The most recent events of everyone, newest first.
pub fn list_recent(conn: &mut DbConn, limit: i64) -> Result<Vec<AuditEvent>> {
    Ok(audit_events::table
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)?)
}
