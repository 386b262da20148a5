//! The HTTP server: health, security headers, files it creates.

use keystep_tests::{Stack, TestServer};

#[tokio::test]
async fn healthz_checks_database_and_ephemeral_store() {
    for stack in Stack::all() {
        let name = stack.name;
        let server = TestServer::start(stack, |_| {});
        let response = reqwest::get(server.url("/healthz")).await.unwrap();
        assert_eq!(response.status(), 200, "{name}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ok", "{name}");
        assert_eq!(body["checks"]["database"], "ok", "{name}");
        assert_eq!(body["checks"]["ephemeral_store"], "ok", "{name}");
    }
}

#[tokio::test]
async fn every_response_carries_security_headers() {
    let server = TestServer::start(Stack::all().remove(0), |_| {});
    for path in ["/healthz", "/no-such-page"] {
        let response = reqwest::get(server.url(path)).await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'self'"),
            "{path}: {csp}"
        );
        assert!(
            headers.get("strict-transport-security").is_none(),
            "no HSTS over plain http"
        );
    }
}

#[tokio::test]
async fn https_public_url_adds_hsts() {
    let server = TestServer::start(Stack::all().remove(0), |config| {
        config.public_url = "https://id.example.com".parse().unwrap();
    });
    let response = reqwest::get(server.url("/healthz")).await.unwrap();
    assert!(response.headers().contains_key("strict-transport-security"));
}

#[tokio::test]
async fn first_start_creates_key_and_outbox_in_data_dir() {
    let server = TestServer::start(Stack::all().remove(0), |_| {});
    let data = server.data_dir.path().join("data");
    let key = data.join("master.key");
    assert!(key.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(data.join("outbox").is_dir());
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern() {
    let server = TestServer::start(Stack::all().remove(0), |_| {});
    for _ in 0..2 {
        reqwest::get(server.url("/healthz")).await.unwrap();
    }
    reqwest::get(server.url("/static/keystep.css"))
        .await
        .unwrap();
    reqwest::get(server.url("/no/such/thing")).await.unwrap();
    let response = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert!(text.contains("keystep_up 1"));
    assert!(
        text.contains(
            r#"keystep_http_requests_total{method="GET",route="/healthz",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/static/{file}",status="200"} 1"#),
        "patterns, not paths: {text}"
    );
    assert!(
        text.contains(r#"route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(!text.contains("keystep.css"));
}
