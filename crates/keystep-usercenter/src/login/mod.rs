//! The hosted login (`/login…`): the password, the second factor or a recovery code, binding
//! an authenticator when a sign-in needs one, and the lost-device request. Each step belongs
//! to a flow: a relying party's sign-in (a pending interaction from `/oidc/auth`, which the
//! person goes back to at `/oidc/auth/resume`) or the user center (a `next` path under `/u`).

pub mod code;
pub mod enroll;
pub mod lost;
pub mod password;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use keystep_web::csrf::CsrfForm;
use keystep_web::interaction::{BrowserKey, Interaction, Unavailable};
use keystep_web::page::{Page, PageError};
use keystep_web::session::{CurrentSession, SignedIn};
use keystep_web::{paths, run_blocking};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

/// The fields that keep a page in its flow (query or hidden fields).
#[derive(Debug, Default, Deserialize)]
pub struct FlowFields {
    /// The pending interaction, when the sign-in comes from an application.
    #[serde(default)]
    pub interaction: String,
    /// Where to go afterwards inside keystep (user center paths only).
    #[serde(default)]
    pub next: String,
}

/// Where a sign-in step leads back to.
#[derive(Debug, Clone)]
pub enum Flow {
    /// A relying party's sign-in.
    App(Interaction),
    /// keystep's own pages: the user center path to go on to, if any.
    UserCenter(Option<String>),
}

impl Flow {
    /// The flow the fields name; an interaction that expired, or that another browser
    /// started, is a page that says so.
    pub async fn load(page: &Page, fields: &FlowFields) -> Result<Self, PageError> {
        if fields.interaction.is_empty() {
            return Ok(Self::UserCenter(paths::safe_next(Some(&fields.next))));
        }
        let id = fields.interaction.clone();
        let browser = BrowserKey::sent(&page.req, page.https);
        let interaction = run_blocking(page, move |services| {
            Interaction::load(services.ephemeral.as_ref(), &id, browser.as_ref())
        })
        .await?;
        Self::of(fields, interaction)
    }

    /// The flow of `fields`, given the interaction they name as loaded.
    fn of(
        fields: &FlowFields,
        interaction: Result<Interaction, Unavailable>,
    ) -> Result<Self, PageError> {
        if fields.interaction.is_empty() {
            return Ok(Self::UserCenter(paths::safe_next(Some(&fields.next))));
        }
        interaction
            .map(Self::App)
            .map_err(|why| PageError::new(StatusCode::BAD_REQUEST, why.message_key()))
    }

    /// The interaction, when a relying party asked.
    pub fn interaction(&self) -> Option<&Interaction> {
        match self {
            Self::App(interaction) => Some(interaction),
            Self::UserCenter(_) => None,
        }
    }

    /// The relying party's client id, for the audit log.
    pub fn client_id(&self) -> Option<String> {
        self.interaction().map(|i| i.client_id.clone())
    }

    /// The page language: the relying party's `ui_locales`, then Accept-Language.
    pub fn lang(&self, page: &Page) -> String {
        page.lang(self.interaction().and_then(|i| i.ui_locales.as_deref()))
    }

    /// Where the person goes once the step is done.
    pub fn onward(&self) -> String {
        match self {
            Self::App(i) => paths::with_interaction(paths::AUTH_RESUME, &i.id),
            Self::UserCenter(next) => next.clone().unwrap_or_else(|| paths::U.to_owned()),
        }
    }

    /// The query that keeps a linked page in this flow: `interaction=…` or `next=…`.
    pub fn query(&self) -> String {
        match self {
            Self::App(i) => format!("interaction={}", i.id),
            Self::UserCenter(Some(next)) => format!("next={}", next.replace('/', "%2F")),
            Self::UserCenter(None) => String::new(),
        }
    }

    /// The hidden fields and links every step page carries.
    pub fn context(&self) -> Value {
        json!({
            "interaction": self.interaction().map(|i| i.id.clone()).unwrap_or_default(),
            "next": match self {
                Self::UserCenter(Some(next)) => next.clone(),
                _ => String::new(),
            },
            "step_query": self.query(),
            // Every step of a relying party's sign-in has a way back that tells it
            // `access_denied`.
            "client_name": self.interaction().map(|i| i.client_name.clone()),
            "cancel_href": self
                .interaction()
                .map(|i| paths::with_interaction(paths::AUTH_CANCEL, &i.id)),
        })
    }
}

/// A step after the password, as a page shows it: the person the password step signed in,
/// and the flow the query names.
#[derive(Debug, Clone)]
pub struct Step {
    /// The live session and its person.
    pub signed_in: SignedIn,
    /// Where the sign-in goes back to.
    pub flow: Flow,
}

impl Step {
    /// The step `fields` name, for the request's session: the session and the pending
    /// sign-in are found in one crossing to the blocking pool.
    async fn read(req: &HttpRequest, fields: &FlowFields) -> Result<Self, PageError> {
        let id = fields.interaction.clone();
        let browser = BrowserKey::sent(req, Page::of(req)?.https);
        let found = CurrentSession::read_with(req, move |services, _, _| {
            if id.is_empty() {
                Ok(Err(Unavailable::Expired))
            } else {
                Interaction::load(services.ephemeral.as_ref(), &id, browser.as_ref())
            }
        })
        .await?;
        let (signed_in, interaction) =
            found.ok_or_else(|| PageError::new(StatusCode::BAD_REQUEST, "mfa.no_session"))?;
        let flow = Flow::of(fields, interaction)?;
        Ok(Self { signed_in, flow })
    }
}

impl FromRequest for Step {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    /// The step the query names.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let fields = web::Query::<FlowFields>::from_query(req.query_string())
                .map_err(|e| PageError::bad_request(e.to_string()))?;
            Self::read(&req, &fields).await
        })
    }
}

/// A form that belongs to a sign-in step: its hidden fields name the flow.
pub trait StepFields {
    /// The flow's fields.
    fn flow(&self) -> &FlowFields;
}

/// A sign-in step's form, CSRF-checked ([`CsrfForm`]), with the step its fields name.
#[derive(Debug)]
pub struct StepForm<T> {
    /// The person the password step signed in, and the flow.
    pub step: Step,
    /// The form.
    pub form: T,
}

impl<T: DeserializeOwned + StepFields + 'static> FromRequest for StepForm<T> {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let form = CsrfForm::<T>::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let CsrfForm(form) = form.await?;
            let step = Step::read(&req, form.flow()).await?;
            Ok(Self { step, form })
        })
    }
}

/// Renders a step page: the flow's fields merged into `context`, with the CSRF field.
pub fn step_page(
    page: &Page,
    flow: &Flow,
    status: StatusCode,
    template: &str,
    context: Value,
) -> HttpResponse {
    let mut merged = flow.context();
    if let (Value::Object(into), Value::Object(from)) = (&mut merged, context) {
        into.extend(from);
    }
    page.with_forms()
        .render(status, template, &flow.lang(page), merged)
}

/// The message for `key` in the flow's language.
pub fn say(page: &Page, flow: &Flow, key: &str, args: &[(&str, &str)]) -> String {
    page.message(&flow.lang(page), key, args)
}
