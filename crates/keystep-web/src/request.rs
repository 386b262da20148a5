//! Facts about the request that the domain records: client IP and User-Agent.
//!
//! The client IP is what the audit log, the per-address throttle and the session list use.
//! It is the TCP peer, unless the peer is one of `http.trusted_proxies`: then the header
//! they write (`http.forwarded_header`: `X-Forwarded-For`, or `Forwarded` of RFC 7239, never
//! both) is read from the right, each
//! trusted proxy stepping aside for the address it received the request from, and the
//! right-most hop that is not a trusted proxy is the client. Hops left of it were written
//! by whoever sent the request and prove nothing.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::HeaderMap;
use actix_web::HttpRequest;
use ipnet::IpNet;
use keystep_core::config::{ForwardedHeader, HttpConfig};

/// Where a request came from.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's IP address: the TCP peer, or the address a trusted proxy names.
    pub ip: Option<String>,
    /// The User-Agent header, cut to 512 characters.
    pub user_agent: Option<String>,
    /// The page language negotiated for the request, once a page knows it.
    pub lang: Option<String>,
}

impl ClientInfo {
    /// Reads the request, trusting the forwarding header of the trusted proxies only.
    pub fn from_request(req: &HttpRequest, http: &HttpConfig) -> Self {
        let peer = req.peer_addr().map(|a| a.ip());
        Self {
            ip: client_ip(peer, req.headers(), http).map(|ip| ip.to_string()),
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

/// The client's address: see the module documentation.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, http: &HttpConfig) -> Option<IpAddr> {
    let peer = peer.map(canonical)?;
    let trusted: &[IpNet] = &http.trusted_proxies;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut client = peer;
    for hop in forwarded_hops(headers, http.forwarded_header).iter().rev() {
        // A hop that is no address ("unknown", an obfuscated name) ends what can be known:
        // the proxy that wrote it is the last address we can vouch for.
        let Some(ip) = hop.map(canonical) else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
}

/// An IPv4 address written as IPv6 (`::ffff:192.0.2.1`, as dual-stack sockets report) is
/// the IPv4 address: the throttle and the trust list should see one form.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The hops of the chosen header, left to right over every header line; `None` for a hop
/// that is not an address (in `Forwarded`, also an element without `for=`).
fn forwarded_hops(headers: &HeaderMap, header: ForwardedHeader) -> Vec<Option<IpAddr>> {
    let lines = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    };
    if header == ForwardedHeader::Forwarded {
        return lines("forwarded")
            .iter()
            .flat_map(|line| line.split(','))
            .map(|element| {
                element.split(';').find_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| parse_node(value.trim().trim_matches('"')))
                })?
            })
            .collect();
    }
    lines("x-forwarded-for")
        .iter()
        .flat_map(|line| line.split(','))
        .map(|hop| parse_node(hop.trim()))
        .collect()
}

/// A node as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    node.parse::<IpAddr>()
        .or_else(|_| node.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
        .or_else(|| {
            let inner = node.strip_prefix('[')?.strip_suffix(']')?;
            inner.parse().ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    type Headers = &'static [(&'static str, &'static str)];
    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;
    const FWD: ForwardedHeader = ForwardedHeader::Forwarded;

    fn headers(pairs: Headers) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn behind(forwarded_header: ForwardedHeader) -> HttpConfig {
        HttpConfig {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
            forwarded_header,
        }
    }

    #[test]
    fn only_a_trusted_peer_is_asked_who_the_client_is() {
        let cases: &[(&str, ForwardedHeader, Headers, &str)] = &[
            // Not behind a trusted proxy: the headers are the sender's own words.
            (
                "192.0.2.9",
                XFF,
                &[("x-forwarded-for", "203.0.113.7")],
                "192.0.2.9",
            ),
            // The proxy says who it serves.
            (
                "10.0.0.2",
                XFF,
                &[("x-forwarded-for", "203.0.113.7")],
                "203.0.113.7",
            ),
            // A forged hop on the left does not win: the right-most untrusted hop does.
            (
                "10.0.0.2",
                XFF,
                &[("x-forwarded-for", "198.51.100.1, 203.0.113.7")],
                "203.0.113.7",
            ),
            // A chain of trusted proxies steps aside, across header lines.
            (
                "10.0.0.2",
                XFF,
                &[
                    ("x-forwarded-for", "203.0.113.7, 10.1.1.1"),
                    ("x-forwarded-for", "10.2.2.2"),
                ],
                "203.0.113.7",
            ),
            // All hops trusted: the left-most is as far as anyone knows.
            (
                "10.0.0.2",
                XFF,
                &[("x-forwarded-for", "10.9.9.9")],
                "10.9.9.9",
            ),
            // Only the configured header is read: a Forwarded the client sent through an
            // X-Forwarded-For proxy names nobody, and the other way round.
            (
                "10.0.0.2",
                XFF,
                &[
                    ("forwarded", "for=198.51.100.66"),
                    ("x-forwarded-for", "203.0.113.7"),
                ],
                "203.0.113.7",
            ),
            (
                "::1",
                FWD,
                &[
                    (
                        "forwarded",
                        "for=198.51.100.1, for=\"[2001:db8::5]:4711\";proto=https",
                    ),
                    ("x-forwarded-for", "203.0.113.7"),
                ],
                "2001:db8::5",
            ),
            (
                "10.0.0.2",
                FWD,
                &[("forwarded", "for=192.0.2.60:8080;by=10.0.0.2")],
                "192.0.2.60",
            ),
            // An unknown hop, or an element without for=, stops the walk at the proxy.
            ("10.0.0.2", FWD, &[("forwarded", "for=unknown")], "10.0.0.2"),
            (
                "10.0.0.2",
                FWD,
                &[("forwarded", "for=198.51.100.1, proto=https")],
                "10.0.0.2",
            ),
            (
                "10.0.0.2",
                XFF,
                &[("x-forwarded-for", "203.0.113.7, garbage")],
                "10.0.0.2",
            ),
            // No header: the proxy is all there is.
            ("10.0.0.2", XFF, &[], "10.0.0.2"),
            // IPv4 seen through a dual-stack socket is the IPv4 address.
            (
                "::ffff:10.0.0.2",
                XFF,
                &[("x-forwarded-for", "203.0.113.7")],
                "203.0.113.7",
            ),
        ];
        for (peer, header, pairs, expected) in cases {
            assert_eq!(
                client_ip(ip(peer), &headers(pairs), &behind(*header)),
                ip(expected),
                "peer {peer}, {header:?}, headers {pairs:?}"
            );
        }
    }

    #[test]
    fn with_no_trusted_proxy_the_peer_is_the_client() {
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("forwarded", "for=203.0.113.8"),
        ]);
        let http = HttpConfig::default();
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &http), ip("127.0.0.1"));
        assert_eq!(client_ip(None, &h, &http), None);
    }
}
