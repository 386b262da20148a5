//! The live SSO session as an extractor, written once for every page and endpoint that reads
//! the session cookie: cookie → live session → enabled person. A session whose person was
//! disabled is ended where it is presented ([`keystep_core::signin::current_session`]). A
//! person's chosen language is put on the request, so every page of it is in that language.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use keystep_core::db::DbConn;
use keystep_core::sessions::{Device, Session};
use keystep_core::signin;
use keystep_core::users::User;
use keystep_core::Services;

use crate::cookies::{self, CookieKind};
use crate::page::{ChosenLanguage, Page, PageError};
use crate::request::ClientInfo;
use crate::state::run_write;

/// A signed-in person: their live session, themselves, and the cookie token that named it.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The session.
    pub session: Session,
    /// The person (enabled).
    pub user: User,
    /// The session's current cookie token.
    pub token: String,
}

/// The request's live session, if it has one.
#[derive(Debug, Clone)]
pub struct CurrentSession(pub Option<SignedIn>);

impl CurrentSession {
    async fn read(req: &HttpRequest) -> Result<Self, PageError> {
        let found = Self::read_with(req, |_, _, _| Ok(())).await?;
        Ok(Self(found.map(|(signed_in, ())| signed_in)))
    }

    /// The live session and, in the same crossing to the blocking pool, what `with` reads for
    /// it: an extractor that needs a fact about the person (their second factors, the pending
    /// sign-in) gets it without a second crossing.
    pub async fn read_with<T, F>(
        req: &HttpRequest,
        with: F,
    ) -> Result<Option<(SignedIn, T)>, PageError>
    where
        T: Send + 'static,
        F: FnOnce(&Services, &mut DbConn, &SignedIn) -> keystep_core::Result<T> + Send + 'static,
    {
        let page = Page::of(req)?;
        let Some(token) = cookies::read(req, CookieKind::Session, page.https) else {
            return Ok(None);
        };
        // A write: finding a session refreshes its last-seen time, and ends it when it has
        // idled out or its person was disabled.
        let found = run_write(&page, move |services, conn| {
            let Some((session, user)) = signin::current_session(services, conn, &token)? else {
                return Ok(None);
            };
            let signed_in = SignedIn {
                session,
                user,
                token,
            };
            let facts = with(services, conn, &signed_in)?;
            Ok(Some((signed_in, facts)))
        })
        .await?;
        if let Some(locale) = found.as_ref().and_then(|(s, _)| s.user.locale.clone()) {
            req.extensions_mut().insert(ChosenLanguage(locale));
        }
        Ok(found)
    }
}

impl FromRequest for CurrentSession {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Self::read(&req).await })
    }
}

/// Where the request came from, owned, for a use case on the blocking pool.
#[derive(Debug, Clone, Default)]
pub struct Origin(pub ClientInfo);

impl Origin {
    /// The origin with the page language of the request (for the mails it causes).
    pub fn in_lang(mut self, lang: String) -> Self {
        self.0.lang = Some(lang);
        self
    }

    /// As the domain's device record.
    pub fn device(&self) -> Device<'_> {
        self.0.device()
    }
}
