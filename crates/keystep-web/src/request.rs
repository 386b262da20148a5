//! Facts about the request that the domain records: client IP and User-Agent.

use actix_web::HttpRequest;

/// Where a request came from.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The peer's IP address (the direct peer: put keystep behind a proxy that is the only
    /// way in, and read the proxy's logs for the original address).
    pub ip: Option<String>,
    /// The User-Agent header, cut to 512 characters.
    pub user_agent: Option<String>,
    /// The page language negotiated for the request, once a page knows it.
    pub lang: Option<String>,
}

impl ClientInfo {
    /// Reads the request.
    pub fn from_request(req: &HttpRequest) -> Self {
        Self {
            ip: req.peer_addr().map(|a| a.ip().to_string()),
            user_agent: req
                .headers()
                .get(actix_web::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|ua| ua.chars().take(512).collect()),
            lang: None,
        }
    }

    /// As the domain's device record.
    pub fn device(&self) -> keystep_core::sessions::Device<'_> {
        keystep_core::sessions::Device {
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            lang: self.lang.as_deref(),
        }
    }
}
