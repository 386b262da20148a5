//! Sending the security mails about second factors once the change they describe has
//! committed. The change stands whatever the relay does, so a failure is logged, not returned.
//! The words are the templates' ([`keystep_core::mail::Notice`]).

use keystep_core::mail::Notice;
use keystep_core::users::User;
use keystep_core::Services;

pub use keystep_core::mail::CodePurpose;

/// Mails `user` about a committed change, in `lang` when the request gave one.
pub fn send_after_commit(services: &Services, user: &User, notice: &Notice, lang: Option<&str>) {
    if let Err(e) = services.notify(user, notice, lang) {
        tracing::warn!(error = %e, notice = notice.name(), "could not send a security mail");
    }
}
