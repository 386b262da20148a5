//! Every page path that more than one crate or flow names, defined once. The protocol sends
//! people to the sign-in pages and the pages send them back to `/oidc/auth/resume`; neither
//! crate imports the other, both import these.

use keystep_mfa::stepup::Step;

/// Username and password.
pub const LOGIN: &str = "/login";
/// The authenticator code.
pub const LOGIN_MFA: &str = "/login/mfa";
/// A recovery code instead.
pub const LOGIN_RECOVERY: &str = "/login/recovery";
/// Binding an authenticator when a sign-in needs one.
pub const LOGIN_ENROLL: &str = "/login/enroll";
/// The lost-device request.
pub const LOGIN_LOST: &str = "/login/lost";
/// Back to the protocol after a sign-in step.
pub const AUTH_RESUME: &str = "/oidc/auth/resume";
/// Back to the application without signing in: it gets `access_denied`.
pub const AUTH_CANCEL: &str = "/oidc/auth/cancel";
/// The user center.
pub const U: &str = "/u";
/// Re-entering the password.
pub const U_REAUTH: &str = "/u/reauth";
/// Binding or replacing the authenticator.
pub const U_BIND: &str = "/u/mfa/bind";
/// Turning two-step verification off; [`remove_method`] removes one method.
pub const U_REMOVE: &str = "/u/mfa/remove";
/// The route of removing one method.
pub const U_REMOVE_METHOD: &str = "/u/mfa/remove/{method}";
/// Turning on codes by mail.
pub const U_EMAIL_METHOD: &str = "/u/mfa/email";
/// Choosing the method sign-ins offer first.
pub const U_PREFERRED: &str = "/u/mfa/preferred";
/// New recovery codes.
pub const U_RECOVERY_CODES: &str = "/u/recovery-codes";
/// Changing the password.
pub const U_PASSWORD: &str = "/u/password";
/// Sessions.
pub const U_SESSIONS: &str = "/u/sessions";
/// Ending sessions.
pub const U_SESSIONS_END: &str = "/u/sessions/end";
/// Revoking an application's offline access.
pub const U_OFFLINE_REVOKE: &str = "/u/sessions/offline/revoke";
/// The security log.
pub const U_LOG: &str = "/u/log";
/// The language switch.
pub const LANGUAGE: &str = "/language";

/// The page of a sign-in step.
pub fn step(step: Step) -> &'static str {
    match step {
        Step::Password => LOGIN,
        Step::SecondFactor => LOGIN_MFA,
        Step::Enrollment => LOGIN_ENROLL,
    }
}

/// Removing the method stored as `method` (`/u/mfa/remove/email`): a plain path, so a
/// sign-in step on the way comes back to it.
pub fn remove_method(method: &str) -> String {
    format!("{U_REMOVE}/{method}")
}

/// `path?interaction=…`
pub fn with_interaction(path: &str, interaction_id: &str) -> String {
    format!("{path}?interaction={interaction_id}")
}

/// `path?next=…`, for a user-center path to come back to.
pub fn with_next(path: &str, next: &str) -> String {
    format!("{path}?next={}", next.replace('/', "%2F"))
}

/// A `next` target is only ever a plain path of the user center: no open redirect.
pub fn safe_next(next: Option<&str>) -> Option<String> {
    next.filter(|n| {
        (*n == U || n.starts_with("/u/"))
            && !n.contains("//")
            && n.len() < 200
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.'))
    })
    .map(str::to_owned)
}

/// Where the language switch may send a person back to: a path of this server, never
/// another site (`//host`, `/\\host`) — no open redirect.
pub fn safe_back(back: Option<&str>) -> Option<String> {
    back.filter(|b| {
        b.starts_with('/')
            && !b.starts_with("//")
            && !b.contains('\\')
            && b.len() < 1000
            && !b.bytes().any(|c| c.is_ascii_control() || c == b' ')
    })
    .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_only_a_plain_user_center_path() {
        assert_eq!(safe_next(Some("/u")), Some("/u".into()));
        assert_eq!(safe_next(Some("/u/mfa/bind")), Some("/u/mfa/bind".into()));
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/u//x",
            "/u/%0A",
            "/u/\n",
            "/login",
            "/u/a b",
            "/ux",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn back_is_only_a_path_of_this_server() {
        for good in [
            "/u",
            "/login?interaction=abc",
            "/oidc/session/end?client_id=shop",
        ] {
            assert_eq!(safe_back(Some(good)).as_deref(), Some(good));
        }
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "u",
            "/a b",
            "/\n",
        ] {
            assert_eq!(safe_back(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn step_pages_and_queries() {
        assert_eq!(step(Step::SecondFactor), LOGIN_MFA);
        assert_eq!(
            with_next(LOGIN_MFA, U_BIND),
            "/login/mfa?next=%2Fu%2Fmfa%2Fbind"
        );
        assert_eq!(
            with_interaction(AUTH_RESUME, "abc"),
            "/oidc/auth/resume?interaction=abc"
        );
    }
}
