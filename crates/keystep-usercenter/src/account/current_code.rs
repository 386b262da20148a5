//! The changes a current second factor unlocks in the user center, on one page shape each:
//! `/u/mfa/remove` turns two-step verification off, and `/u/mfa/remove/{method}` removes one
//! ([`keystep_mfa::manage::turn_off`], [`keystep_mfa::manage::remove_method`]), after a code
//! of a method the person holds (for one method, of one that proves as much) or a recovery
//! code; `/u/recovery-codes` makes ten new
//! recovery codes after a code of a method ([`keystep_mfa::manage::new_recovery_codes`]). A
//! person with codes by mail can have one mailed from the page.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use keystep_core::config::MfaPolicyConfig;
use keystep_mfa::email;
use keystep_mfa::mailed_code::Sent;
use keystep_mfa::manage::{self, CodeRefused, CurrentCode, Removed};
use keystep_mfa::method::{Method, Occasion};
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
    /// A code of one of the person's methods (or, where accepted, a recovery code).
    #[serde(default)]
    pub code: String,
    /// `send`: mail a code instead of checking one.
    #[serde(default)]
    pub action: String,
}

/// Which page asks for the current code: the route's data (see `crate::routes`), so both share
/// their handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeAction {
    /// Turning two-step verification off, or removing one method.
    Remove,
    /// New recovery codes.
    Regenerate,
}

/// The one method `/u/mfa/remove/{method}` names: `Ok(None)` on `/u/mfa/remove` (all of
/// them), an error when it names none the person holds (a stale page: it was removed in
/// another tab; or a forged one), so such a form never falls back to removing everything.
fn named(visitor: &Visitor, path: Option<&web::Path<String>>) -> Result<Option<Method>, PageError> {
    let Some(name) = path else {
        return Ok(None);
    };
    Method::parse(name)
        .filter(|m| *m != Method::RecoveryCode && m.is_held(&visitor.factors))
        .map(Some)
        .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, "u.no_such_method"))
}

/// The page asking for a current code before `action` (on `method` alone, when removing one).
struct CodePage<'a> {
    visitor: &'a Visitor,
    action: CodeAction,
    method: Option<Method>,
}

impl CodePage<'_> {
    fn render(&self, page: &Page, status: StatusCode, note: Note) -> HttpResponse {
        let say = |key: &str| say(page, key, &[]);
        let factors = &self.visitor.factors;
        // Removing the last method turns two-step verification off.
        let last = self.method.is_some_and(|m| factors.methods() == [m]);
        let (error, notice) = match note {
            Note::None => (None, None),
            Note::Error(e) => (Some(e), None),
            Note::Notice(n) => (None, Some(n)),
        };
        let remove_path = self.method.map_or(paths::U_REMOVE.to_owned(), |m| {
            paths::remove_method(m.as_str())
        });
        let mut context = match (self.action, self.method) {
            (CodeAction::Remove, Some(method)) if !last => json!({
                "heading": say(&format!("remove.method_heading_{}", method.as_str())),
                "body": say("remove.method_body"),
                "label": say("remove.code"),
                "submit": say("remove.method_submit"),
                "action": remove_path,
                "mandatory": false,
            }),
            (CodeAction::Remove, _) => json!({
                "heading": say("remove.heading"),
                "body": say("remove.body"),
                "label": say("remove.code"),
                "submit": say("remove.submit"),
                "action": remove_path,
                "mandatory": page.services.config.mfa.policy == MfaPolicyConfig::Required,
            }),
            (CodeAction::Regenerate, _) => json!({
                "heading": say("regenerate.heading"),
                "body": say("regenerate.body"),
                "label": say("regenerate.code"),
                "submit": say("regenerate.submit"),
                "action": paths::U_RECOVERY_CODES,
                "mandatory": false,
            }),
        };
        context["destructive"] = json!(self.action == CodeAction::Remove);
        context["can_mail"] = json!(self.accepts_mailed_codes());
        context["email"] = json!(email::masked_address(&self.visitor.signed_in.user.email));
        context["error"] = json!(error);
        context["notice"] = json!(notice);
        render(page, status, "u_code", context)
    }

    /// True when a mailed code may be typed here: the person has codes by mail, and they prove
    /// as much as what the change could take away: the one method, or for turning everything
    /// off and for new recovery codes the strongest the person holds (the rules of
    /// `keystep_mfa::manage`).
    fn accepts_mailed_codes(&self) -> bool {
        let mailed = Method::EmailCode;
        let factors = &self.visitor.factors;
        // New recovery codes ask as much as turning everything off: they remove any method.
        let goes = match (self.action, self.method) {
            (CodeAction::Remove, Some(method)) => Some(method.strength()),
            (CodeAction::Remove, None) | (CodeAction::Regenerate, _) => factors.strongest(),
        };
        mailed.is_held(factors) && goes.is_none_or(|strength| mailed.strength() >= strength)
    }

    /// The page again after a refused code.
    fn refused(&self, page: &Page, refusal: CodeRefused) -> Result<HttpResponse, PageError> {
        Ok(match refusal {
            CodeRefused::NotHeld => {
                return Err(PageError::new(StatusCode::NOT_FOUND, "u.no_such_method"))
            }
            CodeRefused::Locked { until } => {
                let message = say(page, "mfa.locked", &[("time", &time_of_day(until))]);
                let shown = self.render(page, StatusCode::TOO_MANY_REQUESTS, Note::Error(message));
                page::retry_after(shown, page.services.clock.now(), until)
            }
            CodeRefused::Wrong => {
                let message = say(page, "remove.wrong", &[]);
                self.render(page, StatusCode::UNAUTHORIZED, Note::Error(message))
            }
        })
    }
}

/// A line above the form.
enum Note {
    None,
    Error(String),
    Notice(String),
}

/// `GET /u/mfa/remove`, `GET /u/mfa/remove/{method}`, `GET /u/recovery-codes`
pub async fn get_code_page(
    page: Page,
    action: web::Data<CodeAction>,
    visitor: Visitor,
    path: Option<web::Path<String>>,
) -> Result<HttpResponse, PageError> {
    let shown = CodePage {
        visitor: &visitor,
        action: **action,
        method: named(&visitor, path.as_ref())?,
    };
    Ok(shown.render(&page, StatusCode::OK, Note::None))
}

/// `POST /u/mfa/remove`, `POST /u/mfa/remove/{method}`, `POST /u/recovery-codes`
pub async fn post_code_page(
    page: Page,
    action: web::Data<CodeAction>,
    visitor: Visitor,
    path: Option<web::Path<String>>,
    CsrfForm(form): CsrfForm<CurrentCodeForm>,
) -> Result<HttpResponse, PageError> {
    let action = **action;
    let method = named(&visitor, path.as_ref())?;
    let shown = CodePage {
        visitor: &visitor,
        action,
        method,
    };
    if form.action == "send" {
        // No code is checked on a send, even when the page is stale and mails are no
        // longer accepted here: an empty code must not count as a wrong one.
        if !shown.accepts_mailed_codes() {
            return Ok(shown.render(&page, StatusCode::OK, Note::None));
        }
        return mail_code(&page, &shown).await;
    }
    let user = visitor.signed_in.user.clone();
    let session_id = visitor.signed_in.session.id.clone();
    let origin = page.origin().in_lang(lang(&page));
    let outcome = run_blocking(&page, move |services| {
        let current = CurrentCode {
            user: &user,
            session_id: &session_id,
            code: &form.code,
            device: origin.device(),
        };
        Ok(match (action, method) {
            (CodeAction::Remove, Some(method)) => {
                manage::remove_method(services, &current, method)?.map(Done::Removed)
            }
            (CodeAction::Remove, None) => {
                manage::turn_off(services, &current)?.map(|()| Done::Removed(Removed::Everything))
            }
            (CodeAction::Regenerate, _) => {
                manage::new_recovery_codes(services, &current)?.map(Done::Codes)
            }
        })
    })
    .await?;
    Ok(match outcome {
        Ok(Done::Removed(Removed::Everything)) => {
            page::see_other(&page, &format!("{}?done=removed", paths::U))
        }
        Ok(Done::Removed(Removed::Method)) => {
            page::see_other(&page, &format!("{}?done=method_removed", paths::U))
        }
        Ok(Done::Codes(codes)) => recovery_codes_page(
            &page,
            &lang(&page),
            &visitor.signed_in.user.username,
            &codes,
            page.url(paths::U),
        ),
        Err(refusal) => shown.refused(&page, refusal)?,
    })
}

/// What a change behind a current code came to.
enum Done {
    Removed(Removed),
    Codes(Vec<String>),
}

/// Mails the visitor a code to type here, and shows the page again with a notice.
async fn mail_code(page: &Page, shown: &CodePage<'_>) -> Result<HttpResponse, PageError> {
    let signed_in = &shown.visitor.signed_in;
    let (session_id, user) = (signed_in.session.id.clone(), signed_in.user.clone());
    let lang = lang(page);
    let sent = run_blocking(page, move |services| {
        email::send_code(services, Occasion::Change, &session_id, &user, Some(&lang))
    })
    .await?;
    Ok(match sent {
        Sent::Sent => {
            let to = email::masked_address(&signed_in.user.email);
            let notice = say(page, "bind.sent", &[("email", &to)]);
            shown.render(page, StatusCode::OK, Note::Notice(notice))
        }
        Sent::TooMany { until } => {
            let message = say(page, "mail_limit.too_many", &[]);
            let refused = shown.render(page, StatusCode::TOO_MANY_REQUESTS, Note::Error(message));
            page::retry_after(refused, page.services.clock.now(), until)
        }
    })
}
