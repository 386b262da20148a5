//! The ordered checks of an authorization request, one case at a time.

use super::*;
use keystep_core::clients::{IdTokenAlg, MfaPolicy};

fn client(public: bool) -> Client {
    Client {
        id: "app".into(),
        display_name: "App".into(),
        secret_hash: None,
        public,
        redirect_uris: vec!["https://app.example/cb".into()],
        post_logout_redirect_uris: vec![],
        mfa_policy: MfaPolicy::Inherit,
        created_at: 0,
        id_token_signed_response_alg: IdTokenAlg::RS256,
        scopes: vec![],
        offline_access: false,
        introspect: false,
    }
}

fn run(query: &str, public: bool) -> Result<ValidatedAuthorize, Failure> {
    let params = Params::parse(query.as_bytes()).unwrap();
    validate(&params, |id| (id == "app").then(|| client(public))).map(|(v, _)| v)
}

const OK: &str = "client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code&scope=openid+email+unknown";
const CHALLENGE: &str =
    "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";

fn redirect_error(r: Result<ValidatedAuthorize, Failure>) -> &'static str {
    match r {
        Err(Failure::Redirect(e)) => e.error,
        other => panic!("expected a redirect error, got {other:?}"),
    }
}

#[test]
fn a_good_request_validates() {
    let v = run(
        &format!("{OK}&state=s&nonce=n&prompt=login&max_age=60&acr_values=aal2+x"),
        false,
    )
    .unwrap();
    assert_eq!(v.scope.to_string(), "openid email");
    assert_eq!(v.prompt, Some(Prompt::Login));
    assert_eq!(v.max_age, Some(60));
    assert_eq!(v.requested_acr, Some(Aal::Aal2));
    assert_eq!(v.state.as_deref(), Some("s"));
}

#[test]
fn client_and_redirect_errors_are_pages() {
    assert!(matches!(
        run(
            "client_id=nope&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
            false
        ),
        Err(Failure::Page {
            message_key: "error.unknown_client",
            ..
        })
    ));
    assert!(matches!(
        run(
            "client_id=app&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code",
            false
        ),
        Err(Failure::Page {
            message_key: "error.bad_redirect_uri",
            ..
        })
    ));
    assert!(matches!(
        run("client_id=app&response_type=code", false),
        Err(Failure::Page { .. })
    ));
}

#[test]
fn other_errors_redirect() {
    assert_eq!(
        redirect_error(run(
            &OK.replace("response_type=code", "response_type=token"),
            false
        )),
        "unsupported_response_type"
    );
    assert_eq!(
        redirect_error(run(
            &OK.replace("scope=openid+email+unknown", "scope=email"),
            false
        )),
        "invalid_scope"
    );
    assert_eq!(redirect_error(run(OK, true)), "invalid_request",);
    let refused = [
        (
            "&code_challenge=abc&code_challenge_method=plain",
            "invalid_request",
        ),
        ("&prompt=none+login", "invalid_request"),
        ("&max_age=-1", "invalid_request"),
        ("&request=x", "request_not_supported"),
        ("&claims=nope", "invalid_request"),
    ];
    for (extra, error) in refused {
        let query = format!("{OK}{extra}");
        assert_eq!(redirect_error(run(&query, false)), error, "{extra}");
    }
    assert!(run(&format!("{OK}{CHALLENGE}"), true).is_ok());
}

#[test]
fn essential_acr_from_claims() {
    let claims = r#"{"id_token":{"acr":{"essential":true,"values":["aal2"]}}}"#;
    let query = format!(
        "{OK}&claims={}",
        url::form_urlencoded::byte_serialize(claims.as_bytes()).collect::<String>()
    );
    let v = run(&query, false).unwrap();
    assert_eq!(v.requested_acr, Some(Aal::Aal2));
    assert_eq!(v.essential_acr, Some(vec!["aal2".to_owned()]));
}
