//! The load driver: a fixed number of connections, each sending the case's requests one
//! after another until the time is up, every answer checked.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a request (or flow) whose answer was right came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// Answered. `waited` is how long it first waited for the benchmark itself (a person
    /// with an unused code), which is not the server's latency and is left out of it.
    Answered {
        /// Time spent before the first request went out.
        waited: Duration,
    },
    /// Nothing was sent: the time was up while it waited.
    TimeUp {
        /// How long it waited.
        waited: Duration,
    },
}

impl Done {
    /// Answered, without waiting.
    pub const NOW: Done = Done::Answered {
        waited: Duration::ZERO,
    };
}

/// What one run of a case came to.
#[derive(Debug, Default)]
pub struct Sample {
    /// Requests answered as expected.
    pub ok: u64,
    /// Requests that failed or were answered wrongly.
    pub errors: u64,
    /// The first few error messages, to print.
    pub first_errors: Vec<String>,
    /// Latency of every request, in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// How long the run took.
    pub elapsed: Duration,
    /// Time the connections waited for the benchmark itself, all together.
    pub waited: Duration,
}

impl Sample {
    /// The latency at `quantile` (0.5, 0.99) in milliseconds.
    pub fn latency_ms(&self, quantile: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let last = self.latencies_us.len() - 1;
        let at = ((last as f64) * quantile).round() as usize;
        f64::from(self.latencies_us[at.min(last)]) / 1000.0
    }
}

/// Runs `request` from `connections` tasks for `duration`. Each call is one request (or one
/// flow) of the connection numbered by its first argument, given the run's deadline, and
/// says whether its answer was right.
pub async fn drive<F, Fut>(connections: usize, duration: Duration, request: F) -> Sample
where
    F: Fn(usize, Instant) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Done, String>> + Send,
{
    let request = Arc::new(request);
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(connections);
    for connection in 0..connections {
        let request = Arc::clone(&request);
        tasks.push(tokio::spawn(async move {
            let mut sample = Sample::default();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let outcome = request(connection, deadline).await;
                let took = sent.elapsed();
                match outcome {
                    Ok(Done::Answered { waited }) => {
                        sample.ok += 1;
                        sample.waited += waited;
                        let took = took.saturating_sub(waited).as_micros();
                        sample
                            .latencies_us
                            .push(u32::try_from(took).unwrap_or(u32::MAX));
                    }
                    Ok(Done::TimeUp { waited }) => sample.waited += waited,
                    Err(e) => {
                        sample.errors += 1;
                        if sample.first_errors.len() < 3 {
                            sample.first_errors.push(e);
                        }
                    }
                }
            }
            sample
        }));
    }
    let mut total = Sample::default();
    for task in tasks {
        match task.await {
            Ok(sample) => {
                total.ok += sample.ok;
                total.errors += sample.errors;
                total.waited += sample.waited;
                total.latencies_us.extend(sample.latencies_us);
                for e in sample.first_errors {
                    if total.first_errors.len() < 5 {
                        total.first_errors.push(e);
                    }
                }
            }
            Err(e) => {
                total.errors += 1;
                total.first_errors.push(format!("a load task failed: {e}"));
            }
        }
    }
    total.elapsed = started.elapsed();
    total.latencies_us.sort_unstable();
    total
}

#[cfg(test)]
mod tests {
    use super::Sample;

    #[test]
    fn latency_quantiles_come_from_the_sorted_samples() {
        let sample = Sample {
            latencies_us: (1..=100).map(|ms| ms * 1000).collect(),
            ..Sample::default()
        };
        assert_eq!(sample.latency_ms(0.5), 51.0);
        assert_eq!(sample.latency_ms(0.99), 99.0);
        assert_eq!(Sample::default().latency_ms(0.5), 0.0);
    }
}
