//! What the unit tests of this crate share: a person with second factors, and the code their
//! app shows now.
#![allow(clippy::unwrap_used)]

use keystep_core::testing::TestServices;
use keystep_core::users::User;

use crate::{recovery, totp};

/// Ada with an authenticator bound and ten recovery codes; returns her, the TOTP secret and
/// the codes.
pub fn bound(t: &TestServices) -> (User, Vec<u8>, Vec<String>) {
    let ada = t.user("ada");
    let secret = totp::new_secret();
    let codes = t.write(|conn| {
        totp::bind(&t.services, conn, &ada.id, &secret, 0)?;
        recovery::regenerate(&t.services, conn, &ada.id)
    });
    (ada, secret, codes)
}

/// The code an app holding `secret` shows at the test clock's time.
pub fn code_now(t: &TestServices, secret: &[u8]) -> String {
    let generator = totp::generator(&t.services, secret, "ada").unwrap();
    let now = u64::try_from(keystep_core::clock::Clock::now(t.clock.as_ref())).unwrap();
    generator.generate(now).to_string()
}
