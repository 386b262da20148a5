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

/// Every template, by name.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "layout",
        include_str!("../../../../web/templates/layout.hbs"),
    ),
    ("login", include_str!("../../../../web/templates/login.hbs")),
    (
        "message",
        include_str!("../../../../web/templates/message.hbs"),
    ),
    (
        "logout",
        include_str!("../../../../web/templates/logout.hbs"),
    ),
    (
        "form_post",
        include_str!("../../../../web/templates/form_post.hbs"),
    ),
    ("demo", include_str!("../../../../web/templates/demo.hbs")),
    ("mfa", include_str!("../../../../web/templates/mfa.hbs")),
    (
        "recovery",
        include_str!("../../../../web/templates/recovery.hbs"),
    ),
    (
        "enroll",
        include_str!("../../../../web/templates/enroll.hbs"),
    ),
    (
        "recovery_codes",
        include_str!("../../../../web/templates/recovery_codes.hbs"),
    ),
    ("lost", include_str!("../../../../web/templates/lost.hbs")),
    ("u_nav", include_str!("../../../../web/templates/u_nav.hbs")),
    (
        "u_overview",
        include_str!("../../../../web/templates/u_overview.hbs"),
    ),
    (
        "u_reauth",
        include_str!("../../../../web/templates/u_reauth.hbs"),
    ),
    (
        "u_email",
        include_str!("../../../../web/templates/u_email.hbs"),
    ),
    (
        "u_code",
        include_str!("../../../../web/templates/u_code.hbs"),
    ),
    (
        "u_password",
        include_str!("../../../../web/templates/u_password.hbs"),
    ),
    (
        "u_sessions",
        include_str!("../../../../web/templates/u_sessions.hbs"),
    ),
    ("u_log", include_str!("../../../../web/templates/u_log.hbs")),
    (
        "mail/layout.html",
        include_str!("../../../../web/templates/mail/layout.html.hbs"),
    ),
    (
        "mail/confirmation_code.txt",
        include_str!("../../../../web/templates/mail/confirmation_code.txt.hbs"),
    ),
    (
        "mail/confirmation_code.html",
        include_str!("../../../../web/templates/mail/confirmation_code.html.hbs"),
    ),
    (
        "mail/second_factor_bound.txt",
        include_str!("../../../../web/templates/mail/second_factor_bound.txt.hbs"),
    ),
    (
        "mail/second_factor_bound.html",
        include_str!("../../../../web/templates/mail/second_factor_bound.html.hbs"),
    ),
    (
        "mail/second_factor_removed.txt",
        include_str!("../../../../web/templates/mail/second_factor_removed.txt.hbs"),
    ),
    (
        "mail/second_factor_removed.html",
        include_str!("../../../../web/templates/mail/second_factor_removed.html.hbs"),
    ),
    (
        "mail/reset_by_operator.txt",
        include_str!("../../../../web/templates/mail/reset_by_operator.txt.hbs"),
    ),
    (
        "mail/reset_by_operator.html",
        include_str!("../../../../web/templates/mail/reset_by_operator.html.hbs"),
    ),
    (
        "mail/reset_declined.txt",
        include_str!("../../../../web/templates/mail/reset_declined.txt.hbs"),
    ),
    (
        "mail/reset_declined.html",
        include_str!("../../../../web/templates/mail/reset_declined.html.hbs"),
    ),
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
