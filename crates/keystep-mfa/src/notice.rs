//! What keystep mails a person about their second factors, gathered in one place: a
//! confirmation code, an authenticator bound, two-step verification turned off, an operator's
//! reset and a declined reset request. Security mails about a change are sent after the
//! change has committed; the change stands whatever the relay does.

use keystep_core::mail::Mail;
use keystep_core::users::User;
use keystep_core::Services;

/// What a mailed confirmation code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    /// Filing a lost-device request from the sign-in pages.
    ResetSecondFactor,
    /// Binding an authenticator in the user center.
    BindAuthenticator,
}

/// A mail with a confirmation code.
pub fn confirmation_code(user: &User, purpose: CodePurpose, code: &str) -> Mail {
    let reason = match purpose {
        CodePurpose::ResetSecondFactor => "reset the second factor of your keystep account",
        CodePurpose::BindAuthenticator => "set up two-step verification for your keystep account",
    };
    Mail {
        to: user.email.clone(),
        subject: "Your keystep confirmation code".into(),
        body: format!(
            "Hello {},\n\nSomeone (hopefully you) asked to {reason}.\n\nYour confirmation code is: {code}\n\nIt expires in 10 minutes. If this was not you, ignore this mail; nothing changes without it.\n",
            user.display_name
        ),
    }
}

/// A mail saying an authenticator was bound.
pub fn second_factor_bound(user: &User) -> Mail {
    Mail {
        to: user.email.clone(),
        subject: "Two-step verification is on for your keystep account".into(),
        body: format!(
            "Hello {},\n\nAn authenticator app was bound to your keystep account; signing in now asks for its code. If this was not you, contact your administrator at once.\n",
            user.display_name
        ),
    }
}

/// A mail saying the person turned two-step verification off.
pub fn second_factor_removed(user: &User) -> Mail {
    Mail {
        to: user.email.clone(),
        subject: "Two-step verification is off for your keystep account".into(),
        body: format!(
            "Hello {},\n\nTwo-step verification was turned off for your keystep account; signing in now needs only your password. If this was not you, change your password and contact your administrator at once.\n",
            user.display_name
        ),
    }
}

/// A mail saying an operator removed the person's second factors.
pub fn reset_by_operator(user: &User, reason: &str) -> Mail {
    Mail {
        to: user.email.clone(),
        subject: "The second factor of your keystep account was removed".into(),
        body: format!(
            "Hello {},\n\nAn administrator removed the second factor (authenticator app and recovery codes) of your keystep account ({reason}). You have been signed out everywhere.\n\nAt your next sign-in you may be asked to bind an authenticator again. If you did not ask for this, contact your administrator at once.\n",
            user.display_name
        ),
    }
}

/// A mail saying a reset request was declined.
pub fn reset_declined(user: &User) -> Mail {
    Mail {
        to: user.email.clone(),
        subject: "Your keystep reset request was declined".into(),
        body: format!(
            "Hello {},\n\nAn administrator declined the request to remove the second factor of your keystep account. Nothing has changed. Contact your administrator if you still need help.\n",
            user.display_name
        ),
    }
}

/// Sends a security mail about a change that has committed: a failure is logged, not
/// returned, because the change stands either way.
pub fn send_after_commit(services: &Services, mail: &Mail) {
    if let Err(e) = services.mailer.send(mail) {
        tracing::warn!(error = %e, subject = %mail.subject, "could not send a security mail");
    }
}
