//! `GET /u`: who is signed in, whether two-step verification is on, the person's methods
//! (each with its date, "preferred" or a way to prefer it, and removal), the methods they may
//! add, recovery codes left, the last sign-in, and a notice after an action.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use keystep_core::audit::{self, AuditKind};
use keystep_mfa::method::{Method, CHOOSABLE};
use keystep_web::page::{Page, PageError};
use keystep_web::{paths, run_read};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{render, say, Visitor};
use crate::format::date_time;

/// Which action just finished (`?done=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Done {
    /// An authenticator was bound.
    Bound,
    /// Codes by mail were turned on.
    EmailBound,
    /// One method was removed.
    MethodRemoved,
    /// The preferred method changed.
    Preferred,
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
        Done::EmailBound => say(&page, "email_method.done", &[]),
        Done::MethodRemoved => say(&page, "remove.method_done", &[]),
        Done::Preferred => say(&page, "u.preferred_done", &[]),
        Done::Removed => say(&page, "remove.done", &[]),
    });
    let user = &visitor.signed_in.user;
    let factors = &visitor.factors;
    let held = factors.methods();
    let methods: Vec<Value> = held
        .iter()
        .enumerate()
        .map(|(i, m)| {
            json!({
                "method": m.as_str(),
                "name": say(&page, &format!("method_name.{}", m.as_str()), &[]),
                "since": factors.bound_at(*m).map(date_time),
                // The first is the one sign-ins offer first, chosen or not.
                "preferred": i == 0,
                "choosable": held.len() > 1,
                "replace_href": (*m == Method::Totp).then_some(paths::U_BIND),
            })
        })
        .collect();
    let addable: Vec<Value> = CHOOSABLE
        .iter()
        .filter(|m| !m.is_held(factors))
        .map(|m| {
            let href = match m {
                Method::EmailCode => paths::U_EMAIL_METHOD,
                _ => paths::U_BIND,
            };
            json!({"href": href, "method": m.as_str(), "label": say(&page, &format!("u.add_{}", m.as_str()), &[])})
        })
        .collect();
    let context = json!({
        "name": user.display_name,
        "username": user.username,
        "email": user.email,
        "bound": factors.has_method(),
        // Recovery codes alone (a method removed elsewhere at the same moment) can still be
        // removed with one of them.
        "can_turn_off": factors.has_second_factor(),
        "methods": methods,
        "addable": addable,
        "codes_left": factors.recovery_codes_left,
        "last_sign_in": last_sign_in.map(date_time),
        "notice": notice,
    });
    Ok(render(&page, StatusCode::OK, "u_overview", context))
}
