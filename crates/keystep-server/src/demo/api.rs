//! The demo's protected API and the relying party's call to it: a resource server that
//! introspects the bearer token at keystep (RFC 7662) and asks for step-up with RFC 9470's
//! `insufficient_user_authentication` challenge until the token says `acr=aal2` with a recent
//! `auth_time`.

use actix_web::{web, HttpRequest, HttpResponse};
use keystep_web::AppState;
use serde_json::{json, Value};

use super::{Demo, Visit, DEMO_CLIENT};

/// The demo API's step-up demand (RFC 9470): aal2, signed in within ten minutes.
/// The level the API wants.
const API_ACR: &str = "aal2";
/// How recent (seconds) the sign-in behind the token must be.
const API_MAX_AGE: i64 = 600;

/// `POST /demo/call-api`: the relying party calls its API with its access token, as any
/// application would, and shows what came back.
pub(super) async fn post_call_api(visit: Visit) -> HttpResponse {
    let mut session = visit.session();
    let Some(access) = session.access_token.clone() else {
        return visit.redirect("/demo");
    };
    let result = visit
        .demo
        .http
        .get(format!("{}/demo/api/report", visit.demo.base))
        .bearer_auth(access)
        .send()
        .await;
    session.api = Some(match result {
        Ok(response) => {
            let status = response.status().as_u16();
            let challenge = response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = response.text().await.unwrap_or_default();
            let step_up = challenge
                .as_deref()
                .is_some_and(|c| c.contains("insufficient_user_authentication"));
            json!({"status": status, "ok": status == 200, "body": body, "challenge": challenge, "step_up": step_up,
                   "step_up_href": format!("/demo/login?acr_values={API_ACR}&max_age={API_MAX_AGE}")})
        }
        Err(e) => {
            json!({"status": 0, "ok": false, "body": e.to_string(), "challenge": null, "step_up": false, "step_up_href": null})
        }
    });
    visit.save(session);
    visit.redirect("/demo")
}

/// `GET /demo/api/report`: a protected resource. It introspects the bearer token at keystep
/// (RFC 7662) and answers RFC 9470's `insufficient_user_authentication` challenge until the
/// token says `acr=aal2` with a recent enough `auth_time`.
pub(super) async fn get_api_report(
    state: web::Data<AppState>,
    demo: web::Data<Demo>,
    req: HttpRequest,
) -> HttpResponse {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let challenge = |error: &str, description: &str| {
        HttpResponse::Unauthorized()
            .insert_header((
                "WWW-Authenticate",
                format!(r#"Bearer error="{error}", error_description="{description}", acr_values="{API_ACR}", max_age={API_MAX_AGE}"#),
            ))
            .json(json!({"error": error, "error_description": description}))
    };
    let Some(token) = token else {
        return HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", r#"Bearer realm="demo-api""#))
            .finish();
    };
    let introspection = demo
        .http
        .post(format!("{}/oidc/token/introspection", demo.base))
        .basic_auth(DEMO_CLIENT, Some(&demo.client_secret))
        .form(&[("token", token.as_str())])
        .send()
        .await;
    let claims: Value = match introspection {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => return HttpResponse::ServiceUnavailable().finish(),
    };
    if claims["active"] != true {
        return challenge("invalid_token", "The access token is not active");
    }
    let now = state.services.clock.now();
    let recent = claims["auth_time"]
        .as_i64()
        .is_some_and(|t| now - t <= API_MAX_AGE);
    if claims["acr"] != API_ACR || !recent {
        return challenge(
            "insufficient_user_authentication",
            "A second factor within the last 10 minutes is required",
        );
    }
    HttpResponse::Ok().json(json!({
        "report": "Quarterly numbers: all green.",
        "sub": claims["sub"],
        "acr": claims["acr"],
        "auth_time": claims["auth_time"],
    }))
}
