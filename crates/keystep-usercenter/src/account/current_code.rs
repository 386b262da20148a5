//! The changes a current second factor unlocks in the user center, on one page shape each:
//! `/u/mfa/remove` turns two-step verification off after an authenticator or recovery code
//! ([`keystep_mfa::manage::turn_off`]); `/u/recovery-codes` makes ten new recovery codes after
//! an authenticator code ([`keystep_mfa::manage::new_recovery_codes`]).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use keystep_core::config::MfaPolicyConfig;
use keystep_mfa::manage::{self, CodeRefused};
use keystep_web::csrf::CsrfForm;
use keystep_web::page::{self, Page, PageError};
use keystep_web::{paths, run_blocking};
use serde::Deserialize;
use serde_json::json;

use super::{lang, render, say, Visitor};
use crate::format::time_of_day;
use crate::login::enroll::recovery_codes_page;

/// A form that asks for a current code.
#[derive(Debug, Deserialize)]
pub struct CurrentCodeForm {
    /// An authenticator code (or, where accepted, a recovery code).
    #[serde(default)]
    pub code: String,
}

/// Which page asks for the current code: the route's data (see `crate::routes`), so both share
/// their handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeAction {
    /// Turning two-step verification off.
    Remove,
    /// New recovery codes.
    Regenerate,
}

/// The page asking for a current code before `action`.
pub fn code_page(
    page: &Page,
    action: CodeAction,
    status: StatusCode,
    error: Option<String>,
) -> HttpResponse {
    let say = |key| say(page, key, &[]);
    let context = match action {
        CodeAction::Remove => json!({
            "heading": say("remove.heading"),
            "body": say("remove.body"),
            "label": say("remove.code"),
            "submit": say("remove.submit"),
            "action": paths::U_REMOVE,
            "mandatory": page.services.config.mfa.policy == MfaPolicyConfig::Required,
            "destructive": true,
            "error": error,
        }),
        CodeAction::Regenerate => json!({
            "heading": say("regenerate.heading"),
            "body": say("regenerate.body"),
            "label": say("mfa.code"),
            "submit": say("regenerate.submit"),
            "action": paths::U_RECOVERY_CODES,
            "mandatory": false,
            "destructive": false,
            "error": error,
        }),
    };
    render(page, status, "u_code", context)
}

/// The code page again after a refused code.
pub fn refused(page: &Page, action: CodeAction, refusal: CodeRefused) -> HttpResponse {
    match refusal {
        CodeRefused::Locked { until } => {
            let message = say(page, "mfa.locked", &[("time", &time_of_day(until))]);
            let shown = code_page(page, action, StatusCode::TOO_MANY_REQUESTS, Some(message));
            page::retry_after(shown, page.services.clock.now(), until)
        }
        CodeRefused::Wrong => {
            let message = say(page, "remove.wrong", &[]);
            code_page(page, action, StatusCode::UNAUTHORIZED, Some(message))
        }
    }
}

/// `GET /u/mfa/remove`, `GET /u/recovery-codes`
pub async fn get_code_page(
    page: Page,
    action: web::Data<CodeAction>,
    _visitor: Visitor,
) -> HttpResponse {
    code_page(&page, **action, StatusCode::OK, None)
}

/// `POST /u/mfa/remove`, `POST /u/recovery-codes`
pub async fn post_code_page(
    page: Page,
    action: web::Data<CodeAction>,
    visitor: Visitor,
    CsrfForm(form): CsrfForm<CurrentCodeForm>,
) -> Result<HttpResponse, PageError> {
    let action = **action;
    let user = visitor.signed_in.user.clone();
    let origin = page.origin().in_lang(lang(&page));
    let outcome = run_blocking(&page, move |services| match action {
        CodeAction::Remove => {
            Ok(manage::turn_off(services, &user, &form.code, origin.device())?.map(|()| None))
        }
        CodeAction::Regenerate => {
            Ok(manage::new_recovery_codes(services, &user, &form.code, origin.device())?.map(Some))
        }
    })
    .await?;
    Ok(match outcome {
        Ok(None) => page::see_other(&page, &format!("{}?done=removed", paths::U)),
        Ok(Some(codes)) => recovery_codes_page(
            &page,
            &lang(&page),
            &visitor.signed_in.user.username,
            &codes,
            page.url(paths::U),
        ),
        Err(refusal) => refused(&page, action, refusal),
    })
}
