//! `GET /u/log`: the person's security log, newest first.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use keystep_core::audit;
use keystep_mfa::method::Method;
use keystep_web::page::{Page, PageError};
use keystep_web::run_read;
use serde_json::{json, Value};

use super::{render, say, Visitor};
use crate::format::{date_time, device_name};

/// `GET /u/log`
pub async fn get_log(page: Page, visitor: Visitor) -> Result<HttpResponse, PageError> {
    let user_id = visitor.signed_in.user.id.clone();
    let events = run_read(&page, move |_, conn| {
        audit::list_for_user(conn, &user_id, 100)
    })
    .await?;
    let say_here = |key: &str, args: &[(&str, &str)]| say(&page, key, args);
    let rows: Vec<Value> = events
        .iter()
        .map(|e| {
            let device = e.user_agent.as_deref().map(|ua| device_name(Some(ua), &say_here));
            let from = match (&e.ip, device) {
                (Some(ip), Some(device)) => format!("{ip} · {device}"),
                (Some(ip), None) => ip.clone(),
                (None, _) if e.actor == "cli" => say_here("device.administrator", &[]),
                _ => "-".into(),
            };
            // The name operators grep for stays on the row; people read the catalogue's words.
            let mut label = say_here(&format!("log_event.{}", e.event), &[]);
            // Which method, for the events about one (added, removed, preferred, used).
            let method = serde_json::from_str::<Value>(&e.detail)
                .ok()
                .and_then(|d| d.get("method")?.as_str().and_then(Method::parse));
            if let Some(method) = method {
                let name = say_here(&format!("method_name.{}", method.as_str()), &[]);
                label = format!("{label} · {name}");
            }
            json!({"when": date_time(e.occurred_at), "event": e.event, "label": label, "from": from})
        })
        .collect();
    Ok(render(
        &page,
        StatusCode::OK,
        "u_log",
        json!({"events": rows}),
    ))
}
