//! Page templates: handlebars in strict mode (a missing variable is an error, not an empty
//! string), embedded in the binary, optionally overridden file by file from `web_dir` for
//! theming. The `t` helper reads the message catalogue in the page's language (`lang`).

use std::path::Path;
use std::sync::Arc;

use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson,
};
use keystep_core::mail::{CodePurpose, Composer, Mail, Notice, ResetReason};
use keystep_core::users::User;
use serde_json::{json, Value};

use crate::i18n::{Messages, DEFAULT_LANG};

/// The embedded templates, each named as its file `web/templates/NAME.hbs` is.
macro_rules! embedded {
    ($($name:literal,)*) => {
        &[$(($name, include_str!(concat!("../../../../web/templates/", $name, ".hbs"))),)*]
    };
}

/// Every template, by name.
pub const TEMPLATES: &[(&str, &str)] = embedded![
    "layout",
    "login",
    "message",
    "logout",
    "form_post",
    "demo",
    "mfa",
    "recovery",
    "other_methods",
    "enroll",
    "recovery_codes",
    "lost",
    "u_nav",
    "u_overview",
    "u_reauth",
    "u_email",
    "u_email_method",
    "u_code",
    "u_password",
    "u_sessions",
    "u_log",
    "mail/layout.html",
    "mail/confirmation_code.txt",
    "mail/confirmation_code.html",
    "mail/second_factor_bound.txt",
    "mail/second_factor_bound.html",
    "mail/method_removed.txt",
    "mail/method_removed.html",
    "mail/preferred_method_changed.txt",
    "mail/preferred_method_changed.html",
    "mail/second_factor_removed.txt",
    "mail/second_factor_removed.html",
    "mail/second_factor_locked.txt",
    "mail/second_factor_locked.html",
    "mail/reset_by_operator.txt",
    "mail/reset_by_operator.html",
    "mail/reset_declined.txt",
    "mail/reset_declined.html",
    "mail/password_changed.txt",
    "mail/password_changed.html",
];

/// Static files: (name, content type, content).
pub const STATIC_FILES: &[(&str, &str, &str)] = &[
    (
        "keystep.css",
        "text/css; charset=utf-8",
        include_str!("../../../../web/static/keystep.css"),
    ),
    (
        "autosubmit.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/static/autosubmit.js"),
    ),
    (
        "copy.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/static/copy.js"),
    ),
];

/// The template registry and the catalogue it renders with.
pub struct Templates {
    registry: Handlebars<'static>,
    messages: Arc<Messages>,
    statics: Vec<(String, &'static str, Vec<u8>)>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Templates {
    /// The built-in templates, each replaced by `{web_dir}/templates/NAME.hbs` where that
    /// exists; likewise static files from `{web_dir}/static/` and catalogues from
    /// `{web_dir}/locales/LANG.toml`.
    pub fn load(web_dir: Option<&Path>) -> Result<Self, String> {
        let mut messages = Messages::embedded()?;
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        for (name, builtin) in TEMPLATES {
            let source = read_override(web_dir, &format!("templates/{name}.hbs"))?
                .unwrap_or_else(|| (*builtin).to_owned());
            registry
                .register_template_string(name, source)
                .map_err(|e| format!("template {name}: {e}"))?;
        }
        let mut statics = Vec::new();
        for (name, content_type, builtin) in STATIC_FILES {
            let content = read_override(web_dir, &format!("static/{name}"))?
                .unwrap_or_else(|| (*builtin).to_owned());
            statics.push(((*name).to_owned(), *content_type, content.into_bytes()));
        }
        if let Some(dir) = web_dir.map(|d| d.join("locales")).filter(|d| d.is_dir()) {
            let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "toml") {
                    let lang = path
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .unwrap_or(DEFAULT_LANG)
                        .to_owned();
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    messages.add(&lang, &text)?;
                }
            }
        }
        let messages = Arc::new(messages);
        registry.register_helper(
            "t",
            Box::new(Translate {
                messages: messages.clone(),
            }),
        );
        Ok(Self {
            registry,
            messages,
            statics,
        })
    }

    /// Renders `name` with `context` (which must carry `lang`).
    pub fn render(&self, name: &str, context: &Value) -> Result<String, RenderError> {
        self.registry.render(name, context)
    }

    /// The catalogue.
    pub fn messages(&self) -> &Messages {
        &self.messages
    }

    /// A static file: content type and bytes.
    pub fn static_file(&self, name: &str) -> Option<(&'static str, &[u8])> {
        self.statics
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, ct, bytes)| (*ct, bytes.as_slice()))
    }
}

/// Mails are templates too: `mail/{notice}.txt` and `mail/{notice}.html`, with the subject and
/// every sentence from the catalogue in the person's language.
impl Composer for Templates {
    fn compose(&self, user: &User, notice: &Notice, lang: &str) -> keystep_core::Result<Mail> {
        let name = notice.name();
        let mut context = json!({"lang": lang, "name": user.display_name});
        let subject_key = match notice {
            Notice::ConfirmationCode {
                code,
                purpose,
                minutes,
            } => {
                context["code"] = json!(code);
                context["minutes"] = json!(minutes);
                context["purpose_key"] = json!(match purpose {
                    CodePurpose::ResetSecondFactor => "mail.code_purpose_reset",
                    CodePurpose::BindAuthenticator => "mail.code_purpose_bind",
                    CodePurpose::BindEmail => "mail.code_purpose_bind_email",
                    CodePurpose::SignIn => "mail.code_purpose_sign_in",
                    CodePurpose::ConfirmChange => "mail.code_purpose_confirm",
                });
                "mail.code_subject".to_owned()
            }
            Notice::ResetByOperator { reason } => {
                context["reason_key"] = json!(match reason {
                    ResetReason::Operator => "mail.reset_reason_operator",
                    ResetReason::RequestApproved => "mail.reset_reason_request_approved",
                });
                format!("mail.{name}_subject")
            }
            Notice::SecondFactorBound { method }
            | Notice::MethodRemoved { method }
            | Notice::PreferredMethodChanged { method } => {
                let key = format!("method_name.{method}");
                let method_name = self.messages.format(lang, &key, &[]).ok_or_else(|| {
                    keystep_core::Error::Mail(format!("mail template {name}: no message {key:?}"))
                })?;
                context["method_name"] = json!(method_name);
                format!("mail.{name}_subject")
            }
            _ => format!("mail.{name}_subject"),
        };
        let failed = |e: String| keystep_core::Error::Mail(format!("mail template {name}: {e}"));
        let subject = self
            .messages
            .format(lang, &subject_key, &[])
            .ok_or_else(|| failed(format!("no message {subject_key:?}")))?;
        context["subject"] = json!(subject);
        let text = self
            .render(&format!("mail/{name}.txt"), &context)
            .map_err(|e| failed(e.to_string()))?;
        let html = self
            .render(&format!("mail/{name}.html"), &context)
            .map_err(|e| failed(e.to_string()))?;
        Ok(Mail {
            to: user.email.clone(),
            subject,
            text,
            html: Some(html),
        })
    }
}

fn read_override(web_dir: Option<&Path>, relative: &str) -> Result<Option<String>, String> {
    let Some(path) = web_dir.map(|d| d.join(relative)).filter(|p| p.is_file()) else {
        return Ok(None);
    };
    std::fs::read_to_string(&path)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// `{{t "key" name=value …}}`: the message in the page's language, placeholders filled.
struct Translate {
    messages: Arc<Messages>,
}

impl HelperDef for Translate {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let key = h
            .param(0)
            .and_then(|p| p.value().as_str())
            .ok_or(RenderErrorReason::ParamNotFoundForIndex("t", 0))?;
        let lang = ctx
            .data()
            .get("lang")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_LANG);
        let args: Vec<(String, String)> = h
            .hash()
            .iter()
            .map(|(k, v)| {
                let value = match v.value() {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                ((*k).to_owned(), value)
            })
            .collect();
        let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let text = self
            .messages
            .format(lang, key, &args)
            .ok_or_else(|| RenderErrorReason::Other(format!("no message {key:?}")))?;
        Ok(ScopedJson::Derived(Value::String(text)))
    }
}

#[cfg(test)]
mod tests;
