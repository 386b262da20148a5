//! `GET /language?lang=…&back=…`: the language switch at the foot of every page. The choice
//! is kept in a cookie for a year, saved on the account of a signed-in person (their pages and
//! mails follow it on every device), and — when the page belongs to a relying party's sign-in —
//! it replaces that sign-in's `ui_locales`, so the person's explicit choice wins for the rest of
//! it. Then back to the page, which must be a path of this server.

use actix_web::{web, HttpRequest, HttpResponse};
use keystep_core::users;
use keystep_web::cookies::{self, CookieKind};
use keystep_web::interaction::{BrowserKey, Interaction};
use keystep_web::page::{self, PageError};
use keystep_web::session::CurrentSession;
use keystep_web::{paths, run_write, AppState};
use serde::Deserialize;

/// The switch's query.
#[derive(Debug, Deserialize)]
pub struct LanguageQuery {
    /// A built-in or configured catalogue's tag (`en`, `zh-CN`).
    #[serde(default)]
    pub lang: String,
    /// The page to return to.
    #[serde(default)]
    pub back: String,
}

/// The interaction id in a page's query, if the page belongs to a relying party's sign-in.
fn interaction_of(back: &str) -> Option<String> {
    let query = back.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "interaction")
        .map(|(_, id)| id.into_owned())
}

/// `GET /language`
pub async fn get_language(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
    query: web::Query<LanguageQuery>,
) -> Result<HttpResponse, PageError> {
    let Some(tag) = state
        .templates
        .messages()
        .languages()
        .find(|tag| tag.eq_ignore_ascii_case(&query.lang))
        .map(str::to_owned)
    else {
        return Err(PageError::bad_request(format!(
            "no language {:?}",
            query.lang
        )));
    };
    let back = paths::safe_back(Some(&query.back)).unwrap_or_else(|| paths::U.to_owned());
    let user_id = current.0.map(|s| s.user.id);
    let interaction = interaction_of(&back);
    let chosen = tag.clone();
    let browser = BrowserKey::sent(&req, state.https);
    run_write(&state, move |services, conn| {
        if let Some(user_id) = user_id {
            users::set_locale(conn, services.clock.as_ref(), &user_id, Some(&chosen))?;
        }
        let store = services.ephemeral.as_ref();
        if let Some(id) = interaction {
            // Only the browser that started the sign-in changes its language.
            if let Ok(mut pending) = Interaction::load(store, &id, browser.as_ref())? {
                pending.ui_locales = Some(chosen);
                // A tag from the catalogue never makes a stored interaction too large.
                let _ = pending.save(store, services.clock.now())?;
            }
        }
        Ok(())
    })
    .await?;
    let mut response = page::see_other(&state, &back);
    let _ = response.add_cookie(&cookies::build(CookieKind::Language, tag, state.https));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interaction_of_a_sign_in_page() {
        assert_eq!(
            interaction_of("/login?interaction=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            interaction_of("/login/mfa?next=%2Fu&interaction=x%2By").as_deref(),
            Some("x+y")
        );
        assert_eq!(interaction_of("/u"), None);
    }
}
