//! `GET /u`: who is signed in, whether two-step verification is on, recovery codes left, the
//! last sign-in, and a notice after an action.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use keystep_core::audit::{self, AuditKind};
use keystep_web::page::{Page, PageError};
use keystep_web::run_read;
use serde::Deserialize;
use serde_json::json;

use super::{render, say, Visitor};
use crate::format::date_time;

/// Which action just finished (`?done=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Done {
    /// An authenticator was bound.
    Bound,
    /// Two-step verification was turned off.
    Removed,
}

/// `?done=…`
#[derive(Debug, Deserialize)]
pub struct OverviewQuery {
    /// Which action finished; anything unknown is ignored.
    #[serde(default, deserialize_with = "lenient")]
    pub done: Option<Done>,
}

fn lenient<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Done>, D::Error> {
    let value = Option::<String>::deserialize(d)?;
    Ok(value.and_then(|v| serde_json::from_value(serde_json::Value::String(v)).ok()))
}

/// `GET /u`
pub async fn get_overview(
    page: Page,
    visitor: Visitor,
    query: web::Query<OverviewQuery>,
) -> Result<HttpResponse, PageError> {
    let user_id = visitor.signed_in.user.id.clone();
    let last_sign_in = run_read(&page, move |_, conn| {
        Ok(audit::list_for_user(conn, &user_id, 50)?
            .into_iter()
            .find(|e| e.event == AuditKind::SignedIn.as_str())
            .map(|e| e.occurred_at))
    })
    .await?;
    let notice = query.done.map(|done| match done {
        Done::Bound => say(&page, "bind.done", &[]),
        Done::Removed => say(&page, "remove.done", &[]),
    });
    let user = &visitor.signed_in.user;
    let context = json!({
        "name": user.display_name,
        "username": user.username,
        "email": user.email,
        "bound": visitor.factors.totp_bound_at.is_some(),
        "bound_since": visitor.factors.totp_bound_at.map(date_time),
        "codes_left": visitor.factors.recovery_codes_left,
        "last_sign_in": last_sign_in.map(date_time),
        "notice": notice,
    });
    Ok(render(&page, StatusCode::OK, "u_overview", context))
}
