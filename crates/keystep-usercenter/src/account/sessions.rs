//! `/u/sessions`: the person's live sessions (device, address, start, last seen, level), and
//! ending one or all others ([`keystep_core::signout::end_sessions`]); and the applications
//! holding offline access (refresh tokens bound to no session), each with a way to revoke it
//! ([`keystep_core::signout::revoke_offline_access`]).

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use keystep_core::audit::Actor;
use keystep_core::clients;
use keystep_core::refresh_tokens;
use keystep_core::sessions::{self, Session};
use keystep_core::signout::{self, Ender, Which};
use keystep_web::csrf::CsrfForm;
use keystep_web::page::{Page, PageError};
use keystep_web::{run_read, run_write};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{render, say, Visitor};
use crate::format::{date_time, device_name};

/// Which sessions to end.
#[derive(Debug, Deserialize)]
pub struct EndForm {
    /// One session's id.
    #[serde(default)]
    pub session_id: String,
    /// `1`: every session but this one.
    #[serde(default)]
    pub all_others: String,
}

/// Whose offline access to revoke.
#[derive(Debug, Deserialize)]
pub struct RevokeOfflineForm {
    /// The application.
    #[serde(default)]
    pub client_id: String,
}

/// An application holding offline access, as the page shows it.
struct OfflineApp {
    client_id: String,
    name: String,
    last_used: i64,
}

async fn sessions_page(
    page: &Page,
    visitor: &Visitor,
    notice: Option<String>,
) -> Result<HttpResponse, PageError> {
    let user_id = visitor.signed_in.user.id.clone();
    let (listed, offline) = run_read(page, move |services, conn| {
        let clock = services.clock.as_ref();
        let listed = sessions::list_for_user(conn, clock, &user_id)?;
        let mut offline: Vec<OfflineApp> = Vec::new();
        // Newest first: the first grant seen of a client is its latest use.
        for grant in refresh_tokens::live_offline(conn, clock, &user_id, None)? {
            if offline.iter().any(|app| app.client_id == grant.client_id) {
                continue;
            }
            let name = clients::find_client(conn, &grant.client_id)?
                .map_or_else(|| grant.client_id.clone(), |c| c.display_name);
            offline.push(OfflineApp {
                client_id: grant.client_id,
                name,
                last_used: grant.created_at,
            });
        }
        Ok((listed, offline))
    })
    .await?;
    let apps: Vec<Value> = offline
        .iter()
        .map(|app| {
            json!({
                "client_id": app.client_id,
                "name": app.name,
                "last_used": date_time(app.last_used),
            })
        })
        .collect();
    let now = page.services.clock.now();
    let lifetimes = page.services.config.session_lifetimes();
    let current = &visitor.signed_in.session.id;
    let live: Vec<Session> = listed
        .into_iter()
        .filter(|s| s.is_live(now, &lifetimes))
        .collect();
    let say_here = |key: &str, args: &[(&str, &str)]| say(page, key, args);
    let rows: Vec<Value> = live
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "device": device_name(s.user_agent.as_deref(), &say_here),
                "ip": s.ip.clone().unwrap_or_else(|| "-".into()),
                "started": date_time(s.created_at),
                "last_seen": date_time(s.last_seen_at),
                "level": s.aal(now, &lifetimes).as_str(),
                "current": &s.id == current,
            })
        })
        .collect();
    let has_others = live.iter().any(|s| &s.id != current);
    Ok(render(
        page,
        StatusCode::OK,
        "u_sessions",
        json!({"sessions": rows, "has_others": has_others, "offline_apps": apps, "notice": notice}),
    ))
}

/// `GET /u/sessions`
pub async fn get_sessions(page: Page, visitor: Visitor) -> Result<HttpResponse, PageError> {
    sessions_page(&page, &visitor, None).await
}

/// `POST /u/sessions/end`: one session (`session_id`) or all others (`all_others=1`).
pub async fn post_end_session(
    page: Page,
    visitor: Visitor,
    CsrfForm(form): CsrfForm<EndForm>,
) -> Result<HttpResponse, PageError> {
    let user_id = visitor.signed_in.user.id.clone();
    let current = visitor.signed_in.session.id.clone();
    let origin = page.origin();
    run_write(&page, move |services, conn| {
        let which = if form.all_others == "1" {
            Which::AllBut(&current)
        } else {
            Which::One {
                id: &form.session_id,
                keep: &current,
            }
        };
        let by = Ender {
            actor: Actor::User(user_id.clone()),
            device: origin.device(),
            reason: None,
        };
        signout::end_sessions(services, conn, &user_id, which, &by)
    })
    .await?;
    let notice = Some(say(&page, "sessions.ended", &[]));
    sessions_page(&page, &visitor, notice).await
}

/// `POST /u/sessions/offline/revoke`: ends one application's offline access.
pub async fn post_revoke_offline(
    page: Page,
    visitor: Visitor,
    CsrfForm(form): CsrfForm<RevokeOfflineForm>,
) -> Result<HttpResponse, PageError> {
    let user_id = visitor.signed_in.user.id.clone();
    let origin = page.origin();
    run_write(&page, move |services, conn| {
        let by = Ender {
            actor: Actor::User(user_id.clone()),
            device: origin.device(),
            reason: None,
        };
        signout::revoke_offline_access(services, conn, &user_id, Some(&form.client_id), &by)
    })
    .await?;
    let notice = Some(say(&page, "sessions.offline_revoked", &[]));
    sessions_page(&page, &visitor, notice).await
}
