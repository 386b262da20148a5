//! The results: a table for people, JSON for machines.

use serde::Serialize;

/// One case's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The case.
    pub case: String,
    /// Requests answered as expected.
    pub requests: u64,
    /// Requests that failed or were answered wrongly.
    pub errors: u64,
    /// Requests per second of wall time.
    pub per_second: f64,
    /// Requests per second of the server's own CPU time (user and system), which the load
    /// generator sharing the cores disturbs least.
    pub per_server_cpu_second: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// The server's resident memory at the end of the case, MiB.
    pub rss_mib: f64,
    /// The most it held since it started, MiB.
    pub peak_rss_mib: f64,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The cases, in the order they ran.
    pub cases: Vec<Row>,
    /// libargon2 at the default cost in the same run, when a sign-in case ran and the
    /// library was there.
    pub libargon2: Option<crate::reference::Libargon2>,
}

/// What the sign-in rows come to beside libargon2's rate (each sign-in is one verification).
pub fn comparison(report: &Report) -> Option<String> {
    let lib = report.libargon2.as_ref()?;
    let mut out = format!(
        "libargon2 ({}) at the same cost: {:.1} hashes per CPU-second",
        lib.library, lib.per_cpu_second
    );
    // A case that answered nothing is reported as a failure, not as 0 %.
    let signed_in = |r: &&Row| r.case.ends_with("_sign_in") && r.requests > 0;
    for row in report.cases.iter().filter(signed_in) {
        out.push_str(&format!(
            "; {} {:.0} %",
            row.case,
            100.0 * row.per_server_cpu_second / lib.per_cpu_second
        ));
    }
    out.push('\n');
    Some(out)
}

/// The table.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<20} {:>9} {:>7} {:>10} {:>12} {:>8} {:>8} {:>8} {:>9}\n",
        "case",
        "requests",
        "errors",
        "req/s",
        "req/CPU-s",
        "p50 ms",
        "p99 ms",
        "RSS MiB",
        "peak MiB"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<20} {:>9} {:>7} {:>10.0} {:>12.0} {:>8.2} {:>8.2} {:>8.1} {:>9.1}\n",
            r.case,
            r.requests,
            r.errors,
            r.per_second,
            r.per_server_cpu_second,
            r.p50_ms,
            r.p99_ms,
            r.rss_mib,
            r.peak_rss_mib
        ));
    }
    out
}
