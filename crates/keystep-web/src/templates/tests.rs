//! Every template and mail renders, in every built-in language, with every string from the
//! catalogue.

use super::*;
use serde_json::json;

/// Every template renders with a sample context in strict mode, and every string comes
/// from the catalogue (no raw key leaks into the page).
#[test]
fn every_template_renders() {
    let templates = Templates::load(None).unwrap();
    let samples = [
        (
            "login",
            json!({"lang": "en", "next": "", "csrf_token": "t", "interaction": "i", "client_name": "Shop", "cancel_href": "/oidc/auth/cancel?interaction=i", "username": "ada", "error": "Wrong"}),
        ),
        (
            "login",
            json!({"lang": "en", "next": "/u", "csrf_token": "t", "interaction": "", "client_name": null, "cancel_href": null, "username": "", "error": null}),
        ),
        (
            "message",
            json!({"lang": "en", "title": "T", "heading": "H", "paragraphs": ["p"], "alert": null, "notice": null, "link_href": null, "link_text": null}),
        ),
        (
            "logout",
            json!({"lang": "en", "csrf_token": "t", "client_name": "Shop", "client_id": "shop", "post_logout_redirect_uri": "https://x/", "state": "s"}),
        ),
        (
            "form_post",
            json!({"lang": "en", "action": "https://x/cb", "fields": [{"name": "code", "value": "c"}]}),
        ),
        (
            "demo",
            json!({"lang": "en", "signed_in": false, "username": "demo", "name": null, "acr": null, "amr": "", "auth_time": null, "sid": null, "claims_json": "null", "userinfo_json": null, "notice": null, "error": null}),
        ),
        (
            "demo",
            json!({"lang": "en", "signed_in": true, "username": "demo", "name": "Demo", "acr": "aal1", "amr": "pwd", "auth_time": "1", "sid": "s", "claims_json": "{}", "userinfo_json": "{}", "notice": "n", "error": "e", "api": {"ok": false, "status": 401, "challenge": "Bearer", "body": "b", "step_up": true, "step_up_href": "/x"}}),
        ),
    ];
    for (name, mut context) in samples {
        for (lang, _) in crate::i18n::EMBEDDED {
            context["lang"] = json!(lang);
            context["languages"] = json!([{"tag": "en", "name": "English", "current": true, "href": "/language?lang=en&back=%2Fu"}]);
            let html = templates
                .render(name, &context)
                .unwrap_or_else(|e| panic!("{name} in {lang}: {e}"));
            assert!(html.starts_with("<!doctype html>"), "{name}");
            assert!(
                html.contains(&format!("lang=\"{lang}\"")),
                "{name}: the page says its language"
            );
            assert!(
                !html.contains("login.") && !html.contains("common."),
                "{name} in {lang}: a catalogue key leaked"
            );
        }
    }
    let more = [
        (
            "mfa",
            json!({"lang": "en", "csrf_token": "t", "interaction": "i", "next": "", "step_query": "interaction=i", "client_name": "Shop", "cancel_href": "/x", "account": "ada", "error": "e", "method": "totp", "email": "a•••@x", "sent": false, "others": [{"href": "/login/mfa?method=email", "label": "A code by mail", "method": "email"}]}),
        ),
        (
            "mfa",
            json!({"lang": "en", "csrf_token": "t", "interaction": "", "next": "/u", "step_query": "next=%2Fu", "client_name": null, "cancel_href": null, "account": "ada", "error": null, "method": "email", "email": "a•••@x", "sent": false, "others": []}),
        ),
        (
            "mfa",
            json!({"lang": "en", "csrf_token": "t", "interaction": "i", "next": "", "step_query": "interaction=i", "client_name": "Shop", "cancel_href": "/x", "account": "ada", "error": "e", "method": "email", "email": "a•••@x", "sent": true, "others": [{"href": "/login/recovery", "label": "A recovery code", "method": "recovery_code"}]}),
        ),
        (
            "recovery",
            json!({"lang": "en", "next": "", "step_query": "", "csrf_token": "t", "interaction": "i", "client_name": null, "cancel_href": null, "error": null, "others": [{"href": "/login/mfa?method=totp", "label": "A code from your authenticator app", "method": "totp"}]}),
        ),
        (
            "enroll",
            json!({"lang": "en", "next": "", "step_query": "", "csrf_token": "t", "interaction": "i", "client_name": "Shop", "cancel_href": "/x", "qr_data_uri": "data:image/svg+xml;base64,AA", "secret_text": "ABC", "otpauth_uri": "otpauth://totp/x", "action": "/login/enroll", "in_account": false, "error": null}),
        ),
        (
            "enroll",
            json!({"lang": "en", "next": "", "step_query": "", "csrf_token": "t", "interaction": "", "client_name": null, "cancel_href": null, "qr_data_uri": "data:image/svg+xml;base64,AA", "secret_text": "ABC", "otpauth_uri": "otpauth://totp/x", "action": "/u/mfa/bind", "in_account": true, "error": "e"}),
        ),
        (
            "recovery_codes",
            json!({"lang": "en", "codes": ["aaaa-bbbb-cccc"], "download_href": "data:text/plain,x", "continue_href": "/x"}),
        ),
        (
            "lost",
            json!({"lang": "en", "csrf_token": "t", "interaction": "i", "next": "/u", "step_query": "", "client_name": "Shop", "cancel_href": "/x", "sent": true, "error": null}),
        ),
        (
            "lost",
            json!({"lang": "en", "csrf_token": "t", "interaction": "i", "next": "", "step_query": "", "client_name": null, "cancel_href": null, "sent": false, "error": "e"}),
        ),
    ];
    let account = [
        (
            "u_overview",
            json!({"lang": "en", "csrf_token": "t", "name": "Ada", "username": "ada", "email": "a@x", "bound": true, "can_turn_off": true, "codes_left": 9, "last_sign_in": "x", "notice": "n",
                "methods": [
                    {"method": "email", "name": "Codes by mail", "since": "2026-01-01", "preferred": true, "choosable": true, "replace_href": null},
                    {"method": "totp", "name": "Authenticator app", "since": "2026-01-02", "preferred": false, "choosable": true, "replace_href": "/u/mfa/bind"}
                ],
                "addable": []}),
        ),
        (
            "u_overview",
            json!({"lang": "en", "csrf_token": "t", "name": "Ada", "username": "ada", "email": "a@x", "bound": true, "can_turn_off": true, "codes_left": 10, "last_sign_in": "x", "notice": null,
                "methods": [{"method": "totp", "name": "Authenticator app", "since": "2026-01-02", "preferred": true, "choosable": false, "replace_href": "/u/mfa/bind"}],
                "addable": [{"href": "/u/mfa/email", "method": "email", "label": "Get codes by mail"}]}),
        ),
        (
            "u_overview",
            json!({"lang": "en", "csrf_token": "t", "name": "Ada", "username": "ada", "email": "a@x", "bound": false, "can_turn_off": false, "codes_left": 0, "last_sign_in": null, "notice": null, "methods": [],
                "addable": [{"href": "/u/mfa/bind", "method": "totp", "label": "Add an authenticator app"}, {"href": "/u/mfa/email", "method": "email", "label": "Get codes by mail"}]}),
        ),
        (
            "u_reauth",
            json!({"lang": "en", "csrf_token": "t", "next": "/u", "username": "ada", "error": "e"}),
        ),
        (
            "u_email",
            json!({"lang": "en", "csrf_token": "t", "email": "a@x", "sent": true, "replacing": true, "error": null, "action": "/u/mfa/bind", "in_account": true, "interaction": "", "next": "", "client_name": null, "cancel_href": null}),
        ),
        (
            "u_email",
            json!({"lang": "en", "csrf_token": "t", "email": "a@x", "sent": false, "replacing": false, "error": "e", "action": "/login/enroll", "in_account": false, "interaction": "i", "next": "", "client_name": "The App", "cancel_href": "/oidc/auth/cancel?interaction=i"}),
        ),
        (
            "u_code",
            json!({"lang": "en", "csrf_token": "t", "heading": "h", "body": "b", "label": "l", "submit": "s", "action": "/u/mfa/remove", "mandatory": true, "destructive": true, "error": "e", "notice": null, "can_mail": false, "email": "a•••@x"}),
        ),
        (
            "u_code",
            json!({"lang": "en", "csrf_token": "t", "heading": "h", "body": "b", "label": "l", "submit": "s", "action": "/u/mfa/remove", "mandatory": false, "destructive": true, "error": null, "notice": "n", "can_mail": true, "email": "a•••@x"}),
        ),
        (
            "u_email_method",
            json!({"lang": "en", "csrf_token": "t", "email": "a•••@x", "sent": false, "error": null}),
        ),
        (
            "u_email_method",
            json!({"lang": "en", "csrf_token": "t", "email": "a•••@x", "sent": true, "error": "e"}),
        ),
        (
            "u_password",
            json!({"lang": "en", "csrf_token": "t", "username": "ada", "min_length": 8, "notice": "n", "error": "e", "end_others": true}),
        ),
        (
            "u_sessions",
            json!({"lang": "en", "csrf_token": "t", "has_others": true, "notice": null, "sessions": [{"id": "1", "device": "Chrome on Linux", "ip": "::1", "started": "s", "last_seen": "l", "level": "aal1", "current": false}]}),
        ),
        (
            "u_log",
            json!({"lang": "en", "events": [{"when": "w", "event": "signed_in", "label": "Signed in", "from": "::1"}]}),
        ),
        ("u_log", json!({"lang": "en", "events": []})),
    ];
    for (name, mut context) in more.into_iter().chain(account) {
        // `t` fails on a missing key, so rendering at all proves every string exists.
        for (lang, _) in crate::i18n::EMBEDDED {
            context["lang"] = json!(lang);
            context["languages"] = json!([]);
            templates
                .render(name, &context)
                .unwrap_or_else(|e| panic!("{name} in {lang}: {e}"));
        }
    }
    assert_eq!(
        TEMPLATES.len(),
        40,
        "a new template needs a sample here (mails: below)"
    );
}

/// The security log has words for every event, in every language.
#[test]
fn every_audit_event_has_a_label() {
    let templates = Templates::load(None).unwrap();
    for (lang, _) in crate::i18n::EMBEDDED {
        for kind in keystep_core::audit::AuditKind::ALL {
            let key = format!("log_event.{}", kind.as_str());
            assert!(
                templates.messages().get(lang, &key).is_some(),
                "{lang} {key}"
            );
        }
    }
}

/// Every mail renders in every built-in language, with its subject, both parts, and the
/// facts it carries; the text part is not HTML-escaped.
#[test]
fn every_mail_renders_in_every_language() {
    let templates = Templates::load(None).unwrap();
    let user = User {
        id: "u".into(),
        username: "ada".into(),
        username_normalized: "ada".into(),
        email: "ada@example.com".into(),
        display_name: "Ada & Co".into(),
        password_hash: String::new(),
        disabled: false,
        created_at: 0,
        updated_at: 0,
        locale: None,
    };
    let notices = [
        Notice::ConfirmationCode {
            code: "123456".into(),
            purpose: CodePurpose::BindAuthenticator,
            minutes: 10,
        },
        Notice::ConfirmationCode {
            code: "654321".into(),
            purpose: CodePurpose::ResetSecondFactor,
            minutes: 10,
        },
        Notice::ConfirmationCode {
            code: "111111".into(),
            purpose: CodePurpose::BindEmail,
            minutes: 10,
        },
        Notice::ConfirmationCode {
            code: "222222".into(),
            purpose: CodePurpose::SignIn,
            minutes: 10,
        },
        Notice::ConfirmationCode {
            code: "333333".into(),
            purpose: CodePurpose::ConfirmChange,
            minutes: 10,
        },
        Notice::SecondFactorBound { method: "totp" },
        Notice::SecondFactorBound { method: "email" },
        Notice::MethodRemoved { method: "email" },
        Notice::PreferredMethodChanged { method: "totp" },
        Notice::SecondFactorRemoved,
        Notice::SecondFactorLocked,
        Notice::ResetByOperator {
            reason: ResetReason::Operator,
        },
        Notice::ResetByOperator {
            reason: ResetReason::RequestApproved,
        },
        Notice::ResetDeclined,
        Notice::PasswordChanged,
    ];
    for (lang, _) in crate::i18n::EMBEDDED {
        for notice in &notices {
            let mail = templates
                .compose(&user, notice, lang)
                .unwrap_or_else(|e| panic!("{} in {lang}: {e}", notice.name()));
            assert_eq!(mail.to, "ada@example.com");
            assert!(!mail.subject.is_empty() && !leaks_key(&mail.subject));
            assert!(mail.text.contains("Ada & Co"), "{lang}: {}", mail.text);
            let html = mail.html.unwrap();
            assert!(html.contains("Ada &amp; Co"), "{lang}: escaped in HTML");
            assert!(html.contains(&format!("lang=\"{lang}\"")));
            for part in [&mail.text, &html] {
                assert!(!leaks_key(part), "{lang}: a key leaked: {part}");
            }
            if let Notice::ConfirmationCode { code, .. } = notice {
                assert!(mail.text.contains(code.as_str()) && html.contains(code.as_str()));
            }
        }
    }
    let english = templates.compose(&user, &notices[0], "en").unwrap();
    assert!(english.text.contains("Your confirmation code is: 123456"));
    let bound = notices
        .iter()
        .find(|n| n.name() == "second_factor_bound")
        .unwrap();
    let chinese = templates.compose(&user, bound, "zh-CN").unwrap();
    assert!(chinese.subject.contains("两步验证"), "{}", chinese.subject);
}

#[test]
fn text_is_escaped() {
    let templates = Templates::load(None).unwrap();
    let html = templates
        .render("login", &json!({"lang": "en", "languages": [], "next": "", "csrf_token": "t", "interaction": "", "client_name": "<script>x</script>", "cancel_href": null, "username": "\"><b>", "error": null}))
        .unwrap();
    assert!(!html.contains("<script>x") && !html.contains("\"><b>"));
}

/// True when `text` holds what looks like a catalogue key of the mails (`mail.` and a
/// name), not a sentence that ends in "mail.".
fn leaks_key(text: &str) -> bool {
    text.match_indices("mail.")
        .any(|(at, m)| text[at + m.len()..].starts_with(|c: char| c.is_ascii_lowercase()))
}
