//! `/u/recovery-codes`: ten new recovery codes, shown once, after a current authenticator
//! code ([`keystep_mfa::manage::new_recovery_codes`]).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keystep_mfa::manage;
use keystep_web::csrf::CsrfForm;
use keystep_web::page::PageError;
use keystep_web::session::Origin;
use keystep_web::{paths, run_blocking, AppState};

use super::remove::{code_page, refused, CodeAction, CurrentCodeForm};
use super::{lang, Visitor};
use crate::login::enroll::recovery_codes_page;

/// `GET /u/recovery-codes`
pub async fn get_regenerate(
    state: web::Data<AppState>,
    req: HttpRequest,
    _visitor: Visitor,
) -> HttpResponse {
    code_page(&state, &req, CodeAction::Regenerate, StatusCode::OK, None)
}

/// `POST /u/recovery-codes`
pub async fn post_regenerate(
    state: web::Data<AppState>,
    req: HttpRequest,
    visitor: Visitor,
    origin: Origin,
    CsrfForm(form): CsrfForm<CurrentCodeForm>,
) -> Result<HttpResponse, PageError> {
    let user = visitor.signed_in.user.clone();
    let outcome = run_blocking(&state, move |services| {
        manage::new_recovery_codes(services, &user, &form.code, origin.device())
    })
    .await?;
    Ok(match outcome {
        Ok(codes) => recovery_codes_page(
            &state,
            &req,
            &lang(&state, &req),
            &visitor.signed_in.user.username,
            &codes,
            state.url(paths::U),
        ),
        Err(refusal) => refused(&state, &req, CodeAction::Regenerate, refusal),
    })
}
