//! Benchmark results: status counts, throughput and latency percentiles.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// What a benchmark run measured.
#[derive(Debug, Default)]
pub struct Report {
    /// Latency of every request, in microseconds.
    latencies_us: Vec<u64>,
    /// Responses by status (0: transport error).
    pub statuses: BTreeMap<u16, usize>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Report {
    pub(super) fn record(&mut self, status: u16, latency: Duration) {
        self.latencies_us.push(latency.as_micros() as u64);
        *self.statuses.entry(status).or_default() += 1;
    }

    pub(super) fn merge(&mut self, other: Report) {
        self.latencies_us.extend(other.latencies_us);
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
    }

    /// Requests sent.
    pub fn requests(&self) -> usize {
        self.latencies_us.len()
    }

    /// Requests per second over the whole run.
    pub fn per_second(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at percentile `p` (0–100), in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
    }

    /// Responses that were not 2xx.
    pub fn failures(&self) -> usize {
        self.statuses.iter().filter(|(s, _)| !(200..300).contains(*s)).map(|(_, n)| n).sum()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "requests:     {} in {:.2} s", self.requests(), self.elapsed.as_secs_f64())?;
        writeln!(f, "throughput:   {:.0} requests/s", self.per_second())?;
        writeln!(
            f,
            "latency (ms): p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            self.percentile_ms(50.0),
            self.percentile_ms(90.0),
            self.percentile_ms(99.0),
            self.percentile_ms(100.0)
        )?;
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| if *s == 0 { format!("error: {n}") } else { format!("{s}: {n}") })
            .collect();
        write!(f, "statuses:     {}", statuses.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_failures() {
        let mut report = Report::default();
        for ms in 1..=100 {
            report.record(if ms == 100 { 503 } else { 202 }, Duration::from_millis(ms));
        }
        report.elapsed = Duration::from_secs(2);
        assert_eq!(report.percentile_ms(50.0), 51.0);
        assert_eq!(report.percentile_ms(99.0), 99.0);
        assert_eq!(report.failures(), 1);
        assert_eq!(report.per_second(), 50.0);
        assert!(report.to_string().contains("503: 1"));
    }
}
