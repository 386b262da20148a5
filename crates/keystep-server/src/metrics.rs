//! Prometheus metrics at `/metrics`: requests by method, route pattern and status, and their
//! total duration per route. Route patterns (`/static/{file}`), never raw paths, keep the label
//! set small and free of ids and tokens.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Default)]
struct Series {
    count: u64,
    seconds: f64,
}

/// One route's series, by method and status, sorted.
type ByRoute = Vec<((String, u16), Series)>;

/// The process's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// By route pattern, then by method and status (sorted). Looked up by borrowed strings:
    /// a request already counted allocates nothing here.
    requests: Mutex<BTreeMap<String, ByRoute>>,
    operator_writes: AtomicU64,
}

impl Metrics {
    /// Counts one finished request.
    pub fn observe(&self, method: &str, route: &str, status: u16, took: Duration) {
        let Ok(mut requests) = self.requests.lock() else {
            return;
        };
        let by_route = match requests.get_mut(route) {
            Some(by_route) => by_route,
            None => requests.entry(route.to_owned()).or_default(),
        };
        let at = by_route.binary_search_by(|((m, s), _)| (m.as_str(), *s).cmp(&(method, status)));
        let series = match at {
            Ok(at) => &mut by_route[at].1,
            Err(at) => {
                by_route.insert(at, ((method.to_owned(), status), Series::default()));
                &mut by_route[at].1
            }
        };
        series.count += 1;
        series.seconds += took.as_secs_f64();
    }

    /// Every series: method, route, status.
    fn series(
        requests: &BTreeMap<String, ByRoute>,
    ) -> impl Iterator<Item = (&str, &str, u16, &Series)> {
        requests.iter().flat_map(|(route, by_route)| {
            by_route.iter().map(move |((method, status), series)| {
                (method.as_str(), route.as_str(), *status, series)
            })
        })
    }

    /// Counts writes of operator commands applied to the in-process store.
    pub fn operator_writes_applied(&self, count: usize) {
        self.operator_writes
            .fetch_add(u64::try_from(count).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP keystep_up Whether keystep is serving.\n# TYPE keystep_up gauge\nkeystep_up 1\n");
        let _ = writeln!(out, "# HELP keystep_build_info The running version.\n# TYPE keystep_build_info gauge\nkeystep_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
        let _ = writeln!(out, "# HELP keystep_operator_writes_applied_total Writes of operator commands (ended sessions, cleared counters) applied to the in-process store; 0 with Redis, which the commands write themselves.\n# TYPE keystep_operator_writes_applied_total counter\nkeystep_operator_writes_applied_total {}", self.operator_writes.load(Ordering::Relaxed));
        out.push_str("# HELP keystep_http_requests_total HTTP requests by method, route pattern and status.\n# TYPE keystep_http_requests_total counter\n");
        let requests = match self.requests.lock() {
            Ok(requests) => requests,
            Err(_) => return out,
        };
        for (method, route, status, series) in Self::series(&requests) {
            let _ = writeln!(out, "keystep_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}", escape(route), series.count);
        }
        out.push_str("# HELP keystep_http_request_duration_seconds_total Time spent answering, by method, route pattern and status.\n# TYPE keystep_http_request_duration_seconds_total counter\n");
        for (method, route, status, series) in Self::series(&requests) {
            let _ = writeln!(out, "keystep_http_request_duration_seconds_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {:.6}", escape(route), series.seconds);
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition() {
        let metrics = Metrics::default();
        metrics.observe("GET", "/healthz", 200, Duration::from_millis(5));
        metrics.observe("GET", "/healthz", 200, Duration::from_millis(5));
        metrics.observe("POST", "/oidc/token", 400, Duration::from_millis(1));
        let text = metrics.render();
        assert!(
            text.contains(
                "keystep_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains(
            "keystep_http_requests_total{method=\"POST\",route=\"/oidc/token\",status=\"400\"} 1"
        ));
        assert!(text.contains("keystep_http_request_duration_seconds_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 0.010000"));
        assert_eq!(escape("a\"b"), "a\\\"b");
    }
}
