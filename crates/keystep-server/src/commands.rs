//! The operator commands behind the CLI. Each runs one use case in one transaction, records
//! an audit event in the same transaction, and prints a result for people or, with `--json`,
//! for scripts.

use std::io::Write;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keystep_core::audit::{self, Actor, AuditKind, NewAuditEvent};
use keystep_core::clients::{self, NewClient};
use keystep_core::db::DbConn;
use keystep_core::mail::{Notice, ResetReason};
use keystep_core::signout::{self, Ender, Which};
use keystep_core::users::{self, NewUser};
use keystep_core::{Error, Services};
use rand::RngCore;
use serde_json::json;

use crate::cli::{CliError, ClientAdd};

/// A short write transaction (on SQLite it takes the write lock first, so a CLI command and
/// running servers queue for it instead of failing). Hash passwords before, never inside.
/// What the command wrote to an ephemeral store that servers cannot see is handed over in
/// the same transaction (see `keystep_core::ephemeral::relay`).
fn in_transaction<T>(
    services: &Services,
    f: impl FnOnce(&mut DbConn) -> keystep_core::Result<T>,
) -> Result<T, CliError> {
    Ok(services.db.write(|conn| {
        let done = f(conn)?;
        services.ephemeral.hand_over(conn)?;
        Ok(done)
    })?)
}

/// A read-only transaction.
fn reading<T>(
    services: &Services,
    f: impl FnOnce(&mut DbConn) -> keystep_core::Result<T>,
) -> Result<T, CliError> {
    Ok(services.db.read(f)?)
}

fn print_json(out: &mut impl Write, value: &serde_json::Value) -> Result<(), CliError> {
    writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(value).map_err(std::io::Error::other)?
    )?;
    Ok(())
}

/// A generated password: 18 random bytes, 24 characters of base64url (144 bits).
fn generate_password() -> String {
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `keystep user add`
pub fn user_add(
    services: &Services,
    out: &mut impl Write,
    name: &str,
    email: &str,
    display_name: &str,
    password: Option<String>,
    as_json: bool,
) -> Result<(), CliError> {
    let generated = password.is_none();
    let password = password.unwrap_or_else(generate_password);
    let password_hash = services.passwords.hash(&password)?;
    let user = in_transaction(services, |conn| {
        let user = users::insert_user(
            conn,
            services.clock.as_ref(),
            &NewUser {
                username: name,
                email,
                display_name,
                password: &password,
            },
            password_hash,
        )?;
        by_operator(services, conn, AuditKind::UserCreated, &user.id)?;
        Ok(user)
    })?;
    if as_json {
        let mut value = json!({"id": user.id, "username": user.username, "email": user.email, "display_name": user.display_name});
        if generated {
            value["password"] = json!(password);
        }
        print_json(out, &value)
    } else {
        writeln!(out, "created user {} (id {})", user.username, user.id)?;
        if generated {
            writeln!(out, "password (shown once): {password}")?;
        }
        Ok(())
    }
}

/// `keystep user list`
pub fn user_list(services: &Services, out: &mut impl Write, as_json: bool) -> Result<(), CliError> {
    let list = reading(services, users::list_users)?;
    if as_json {
        let rows: Vec<_> = list
            .iter()
            .map(|u| json!({"id": u.id, "username": u.username, "email": u.email, "display_name": u.display_name, "disabled": u.disabled, "created_at": u.created_at}))
            .collect();
        return print_json(out, &json!(rows));
    }
    writeln!(out, "{:<24} {:<32} {:<9} ID", "USERNAME", "EMAIL", "STATUS")?;
    for u in list {
        let status = if u.disabled { "disabled" } else { "active" };
        writeln!(
            out,
            "{:<24} {:<32} {:<9} {}",
            u.username, u.email, status, u.id
        )?;
    }
    Ok(())
}

/// `keystep user show`
pub fn user_show(
    services: &Services,
    out: &mut impl Write,
    name: &str,
    as_json: bool,
) -> Result<(), CliError> {
    let (user, status) = reading(services, |conn| {
        let user = users::find_by_username(conn, name)?
            .ok_or_else(|| Error::UserNotFound(name.to_owned()))?;
        let status = keystep_mfa::factors::status(conn, &user.id)?;
        Ok((user, status))
    })?;
    let methods: Vec<_> = status
        .methods()
        .into_iter()
        .map(|m| (m, status.bound_at(m).unwrap_or_default()))
        .collect();
    if as_json {
        let methods: Vec<_> = methods
            .iter()
            .map(|(m, at)| {
                let preferred = status.preferred == Some(*m);
                json!({"method": m.as_str(), "bound_at": at, "preferred": preferred})
            })
            .collect();
        return print_json(
            out,
            &json!({
                "id": user.id,
                "username": user.username,
                "email": user.email,
                "display_name": user.display_name,
                "disabled": user.disabled,
                "created_at": user.created_at,
                "two_step": status.has_method(),
                "methods": methods,
                "recovery_codes_left": status.recovery_codes_left,
            }),
        );
    }
    let state = if user.disabled { "disabled" } else { "active" };
    writeln!(out, "username:        {}", user.username)?;
    writeln!(out, "id:              {}", user.id)?;
    writeln!(out, "email:           {}", user.email)?;
    writeln!(out, "name:            {}", user.display_name)?;
    writeln!(out, "status:          {state}")?;
    let on = if status.has_method() { "on" } else { "off" };
    writeln!(out, "two-step:        {on}")?;
    for (method, at) in &methods {
        let preferred = if status.preferred == Some(*method) {
            " (preferred)"
        } else {
            ""
        };
        writeln!(
            out,
            "  method:        {} since {}{preferred}",
            method.as_str(),
            keystep_core::clock::utc_minute(*at)
        )?;
    }
    writeln!(out, "recovery codes:  {} left", status.recovery_codes_left)?;
    Ok(())
}

/// `keystep sms test`
pub fn sms_test(services: &Services, out: &mut impl Write, number: &str) -> Result<(), CliError> {
    let to = keystep_core::sms::normalize_e164(number).ok_or_else(|| {
        Error::invalid(
            "number",
            "not an international number: write + and the country code (+4915112345678)",
        )
    })?;
    let sms = keystep_core::sms::Sms {
        to,
        text: "keystep: this test message shows that text messages reach you.".to_owned(),
    };
    services.sms.send(&sms)?;
    let shown = keystep_core::sms::masked_number(&sms.to);
    match &services.config.sms.http {
        Some(_) => writeln!(out, "sent a test message to {shown} through sms.http")?,
        None => writeln!(
            out,
            "wrote a test message to {shown} to {}",
            services.config.data_dir.join("outbox").display()
        )?,
    }
    Ok(())
}

/// `keystep user disable`
pub fn user_disable(services: &Services, out: &mut impl Write, name: &str) -> Result<(), CliError> {
    let user = in_transaction(services, |conn| {
        let user = users::set_disabled(conn, services.clock.as_ref(), name, true)?;
        // Signed out everywhere; session-bound refresh tokens go with the sessions.
        let by = Ender {
            actor: Actor::Cli,
            device: Default::default(),
            reason: Some("account disabled"),
        };
        signout::end_sessions(services, conn, &user.id, Which::All, &by)?;
        by_operator(services, conn, AuditKind::UserDisabled, &user.id)?;
        Ok(user)
    })?;
    writeln!(
        out,
        "disabled user {} and ended their sessions",
        user.username
    )?;
    Ok(())
}

/// `keystep user passwd`
pub fn user_passwd(
    services: &Services,
    out: &mut impl Write,
    name: &str,
    password: Option<String>,
) -> Result<(), CliError> {
    let generated = password.is_none();
    let password = password.unwrap_or_else(generate_password);
    let password_hash = services.passwords.hash(&password)?;
    let (user, ended) = in_transaction(services, |conn| {
        let user = users::find_by_username(conn, name)?
            .ok_or_else(|| Error::UserNotFound(name.to_owned()))?;
        users::set_password_hash(conn, services.clock.as_ref(), &user.id, &password_hash)?;
        let by = Ender {
            actor: Actor::Cli,
            device: Default::default(),
            reason: Some("password set by an operator"),
        };
        let ended = signout::end_sessions(services, conn, &user.id, Which::All, &by)?;
        by_operator(services, conn, AuditKind::PasswordChanged, &user.id)?;
        Ok((user, ended))
    })?;
    writeln!(
        out,
        "password changed for {}; {ended} session(s) ended",
        user.username
    )?;
    if generated {
        writeln!(out, "password (shown once): {password}")?;
    }
    Ok(())
}

/// A client as RFC 7591 (§2, §3.2.1) and OpenID Connect registration name its metadata, plus
/// keystep's own `mfa_policy`.
#[derive(Debug, serde::Serialize)]
struct ClientMetadata<'a> {
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
    client_id_issued_at: i64,
    client_name: &'a str,
    redirect_uris: &'a [String],
    post_logout_redirect_uris: &'a [String],
    token_endpoint_auth_method: &'a str,
    id_token_signed_response_alg: &'a str,
    mfa_policy: &'a str,
    /// client_credentials scopes, space-separated (RFC 7591 §2 `scope`).
    scope: String,
    offline_access: bool,
    introspect: bool,
    resources: &'a [String],
}

impl<'a> ClientMetadata<'a> {
    fn of(client: &'a clients::Client, secret: Option<&'a str>, resources: &'a [String]) -> Self {
        Self {
            client_id: &client.id,
            client_secret: secret,
            client_id_issued_at: client.created_at,
            client_name: &client.display_name,
            redirect_uris: &client.redirect_uris,
            post_logout_redirect_uris: &client.post_logout_redirect_uris,
            // Public clients have no secret (RFC 7591 §2: "none"); confidential ones may use
            // HTTP Basic or the form body, Basic being the default the RFC names.
            token_endpoint_auth_method: if client.public {
                "none"
            } else {
                "client_secret_basic"
            },
            id_token_signed_response_alg: client.id_token_signed_response_alg.as_str(),
            mfa_policy: client.mfa_policy.as_str(),
            scope: client.scopes.join(" "),
            offline_access: client.offline_access,
            introspect: client.introspect,
            resources,
        }
    }
}

fn metadata_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, CliError> {
    Ok(serde_json::to_value(value).map_err(std::io::Error::other)?)
}

/// `keystep client add`
pub fn client_add(
    services: &Services,
    out: &mut impl Write,
    add: &ClientAdd,
) -> Result<(), CliError> {
    let new = NewClient {
        id: add.id.clone(),
        display_name: add.name.clone(),
        public: add.public,
        redirect_uris: add.redirect_uris.clone(),
        post_logout_redirect_uris: add.post_logout_redirect_uris.clone(),
        mfa_policy: add.mfa.parse()?,
        id_token_signed_response_alg: add.id_token_alg.parse()?,
        scopes: add.scopes.clone(),
        offline_access: add.offline_access,
        introspect: add.introspect,
        resources: add.resources.clone(),
    };
    let ((client, secret), resources) = in_transaction(services, |conn| {
        let created = clients::create_client(conn, services.clock.as_ref(), &new)?;
        let mut event = NewAuditEvent::new(Actor::Cli, AuditKind::ClientCreated, None);
        event.client_id = Some(&new.id);
        audit::record(conn, services.clock.as_ref(), &event)?;
        Ok((created, clients::resources_of(conn, &new.id)?))
    })?;
    if add.json {
        let secret = secret.as_ref().map(|s| s.expose());
        let metadata = ClientMetadata::of(&client, secret, &resources);
        return print_json(out, &metadata_json(&metadata)?);
    }
    writeln!(
        out,
        "registered client {} ({})",
        client.id,
        if client.public {
            "public"
        } else {
            "confidential"
        }
    )?;
    if let Some(secret) = secret {
        writeln!(
            out,
            "client_secret (shown once, store it now): {}",
            secret.expose()
        )?;
    }
    Ok(())
}

/// `keystep client list`
pub fn client_list(
    services: &Services,
    out: &mut impl Write,
    as_json: bool,
) -> Result<(), CliError> {
    let (list, resources) = reading(services, |conn| {
        Ok((clients::list_clients(conn)?, clients::all_resources(conn)?))
    })?;
    let resources_of = |c: &clients::Client| resources.get(&c.id).map_or(&[][..], Vec::as_slice);
    if as_json {
        let metadata: Vec<_> = list
            .iter()
            .map(|c| ClientMetadata::of(c, None, resources_of(c)))
            .collect();
        return print_json(out, &metadata_json(&metadata)?);
    }
    writeln!(
        out,
        "{:<24} {:<12} {:<8} {:<24} REDIRECT URIS",
        "CLIENT ID", "TYPE", "MFA", "GRANTS"
    )?;
    for c in list {
        let kind = if c.public { "public" } else { "confidential" };
        let mut grants: Vec<&str> = Vec::new();
        if c.offline_access {
            grants.push("offline_access");
        }
        if c.introspect {
            grants.push("introspect");
        }
        if !c.scopes.is_empty() {
            grants.push("scopes");
        }
        if !resources_of(&c).is_empty() {
            grants.push("resource");
        }
        let grants = if grants.is_empty() {
            "-".to_owned()
        } else {
            grants.join(",")
        };
        writeln!(
            out,
            "{:<24} {:<12} {:<8} {:<24} {}",
            c.id,
            kind,
            c.mfa_policy.as_str(),
            grants,
            c.redirect_uris.join(" ")
        )?;
    }
    Ok(())
}

/// `keystep client remove`
pub fn client_remove(services: &Services, out: &mut impl Write, id: &str) -> Result<(), CliError> {
    in_transaction(services, |conn| {
        clients::remove_client(conn, id)?;
        let mut event = NewAuditEvent::new(Actor::Cli, AuditKind::ClientRemoved, None);
        event.client_id = Some(id);
        audit::record(conn, services.clock.as_ref(), &event)
    })?;
    writeln!(out, "removed client {id}")?;
    Ok(())
}

/// `keystep keys rotate`
pub fn keys_rotate(
    services: &Services,
    out: &mut impl Write,
    at_once: bool,
) -> Result<(), CliError> {
    let store = keystep_oidc::keys::KeyStore::new();
    let (kids, wait) = in_transaction(services, |conn| store.rotate(services, conn, at_once))?;
    writeln!(out, "new signing keys: {}", kids.join(", "))?;
    if wait > 0 {
        writeln!(
            out,
            "published now; they sign in {wait} seconds, the current keys until then (--now to skip)"
        )?;
    } else {
        writeln!(out, "they sign now")?;
    }
    writeln!(
        out,
        "the previous keys stay published until the tokens they signed have expired"
    )?;
    Ok(())
}

/// `keystep keys list`
pub fn keys_list(services: &Services, out: &mut impl Write, as_json: bool) -> Result<(), CliError> {
    let keys = in_transaction(services, |conn| {
        keystep_oidc::keys::KeyStore::describe(services, conn)
    })?;
    if as_json {
        return print_json(out, &json!(keys));
    }
    writeln!(out, "{:<45} {:<6} STATUS", "KID", "ALG")?;
    for key in keys {
        writeln!(
            out,
            "{:<45} {:<6} {}",
            key["kid"].as_str().unwrap_or_default(),
            key["alg"].as_str().unwrap_or_default(),
            key["status"].as_str().unwrap_or_default()
        )?;
    }
    Ok(())
}

/// `keystep mfa reset NAME`
pub fn mfa_reset(services: &Services, out: &mut impl Write, name: &str) -> Result<(), CliError> {
    let (user, notice) = in_transaction(services, |conn| {
        let user = users::find_by_username(conn, name)?
            .ok_or_else(|| Error::UserNotFound(name.to_owned()))?;
        let notice = keystep_mfa::reset::reset_user(services, conn, &user, ResetReason::Operator)?;
        Ok((user, notice))
    })?;
    writeln!(
        out,
        "removed the second factors of {} and ended their sessions",
        user.username
    )?;
    send_after_commit(services, out, &user, &notice)
}

/// `keystep mfa requests`
pub fn mfa_requests(
    services: &Services,
    out: &mut impl Write,
    all: bool,
    as_json: bool,
) -> Result<(), CliError> {
    let list = in_transaction(services, |conn| keystep_mfa::reset::list(conn, all))?;
    if as_json {
        let rows: Vec<_> = list
            .iter()
            .map(|(r, username, email)| json!({"id": r.id, "username": username, "email": email, "status": r.status, "created_at": r.created_at, "decided_at": r.decided_at, "ip": r.ip}))
            .collect();
        return print_json(out, &json!(rows));
    }
    if list.is_empty() {
        writeln!(
            out,
            "no {}reset requests",
            if all { "" } else { "pending " }
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<10} {:<20} {:<30} {:<9} FROM",
        "ID", "USERNAME", "EMAIL", "STATUS"
    )?;
    for (r, username, email) in list {
        writeln!(
            out,
            "{:<10} {:<20} {:<30} {:<9} {}",
            r.id,
            username,
            email,
            r.status,
            r.ip.unwrap_or_default()
        )?;
    }
    Ok(())
}

/// `keystep mfa requests approve|deny ID`
pub fn mfa_decide(
    services: &Services,
    out: &mut impl Write,
    id: &str,
    approve: bool,
) -> Result<(), CliError> {
    let (request, user, notice) = in_transaction(services, |conn| {
        keystep_mfa::reset::decide(services, conn, id, approve)
    })?;
    writeln!(out, "request {} {}", request.id, request.status)?;
    send_after_commit(services, out, &user, &notice)
}

/// Sends the mail about a change that has committed. The change stands whatever the relay
/// does, so a failure is reported, not rolled back (and a slow relay held no lock).
fn send_after_commit(
    services: &Services,
    out: &mut impl Write,
    user: &keystep_core::users::User,
    notice: &Notice,
) -> Result<(), CliError> {
    // In the language the person chose, else English: an operator's command has no page.
    match services.notify(user, notice, None) {
        Ok(()) => writeln!(out, "mailed {}", user.email)?,
        Err(e) => {
            tracing::warn!(error = %e, "mail after a committed change failed");
            writeln!(
                out,
                "the change is made, but mailing {} failed: {e}",
                user.email
            )?;
        }
    }
    Ok(())
}

/// Records in the audit log that the operator did `kind` to the person `user_id`.
fn by_operator(
    services: &Services,
    conn: &mut DbConn,
    kind: AuditKind,
    user_id: &str,
) -> keystep_core::Result<()> {
    let event = NewAuditEvent::new(Actor::Cli, kind, Some(user_id));
    audit::record(conn, services.clock.as_ref(), &event)
}
