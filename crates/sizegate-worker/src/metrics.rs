//! Counters of this process's workers, exposed by the server's `/metrics`
//! in the Prometheus text format (written by hand: a few lines do not need
//! a metrics crate).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the job duration histogram buckets.
const BUCKETS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// Job counters of the workers of this process.
#[derive(Debug, Default)]
pub struct WorkerMetrics {
    jobs_done: AtomicU64,
    jobs_retried: AtomicU64,
    jobs_failed: AtomicU64,
    analyzer_failures: AtomicU64,
    duration_buckets: [AtomicU64; BUCKETS.len()],
    duration_count: AtomicU64,
    duration_sum_micros: AtomicU64,
}

impl WorkerMetrics {
    /// A job finished (done, retried or failed) after `elapsed`.
    pub fn observe_duration(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.duration_buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.duration_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.duration_sum_micros
            .fetch_add(micros, Ordering::Relaxed);
    }

    /// A job was measured and stored.
    pub fn job_done(&self) {
        self.jobs_done.fetch_add(1, Ordering::Relaxed);
    }

    /// A job failed and will be retried.
    pub fn job_retried(&self) {
        self.jobs_retried.fetch_add(1, Ordering::Relaxed);
    }

    /// A job failed for good.
    pub fn job_failed(&self) {
        self.jobs_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// The analyzer refused, crashed or timed out.
    pub fn analyzer_failure(&self) {
        self.analyzer_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Jobs done so far.
    pub fn jobs_done(&self) -> u64 {
        self.jobs_done.load(Ordering::Relaxed)
    }

    /// Append the exposition of these metrics to `out`.
    pub fn render(&self, out: &mut String) {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP sizegate_worker_jobs_total Jobs finished by the workers of this process, by outcome.\n\
             # TYPE sizegate_worker_jobs_total counter\n\
             sizegate_worker_jobs_total{{outcome=\"done\"}} {}\n\
             sizegate_worker_jobs_total{{outcome=\"retried\"}} {}\n\
             sizegate_worker_jobs_total{{outcome=\"failed\"}} {}",
            get(&self.jobs_done),
            get(&self.jobs_retried),
            get(&self.jobs_failed)
        );
        let _ = writeln!(
            out,
            "# HELP sizegate_analyzer_failures_total Analyzer runs that refused the artifact, crashed or timed out.\n\
             # TYPE sizegate_analyzer_failures_total counter\n\
             sizegate_analyzer_failures_total {}",
            get(&self.analyzer_failures)
        );
        let _ = writeln!(
            out,
            "# HELP sizegate_job_duration_seconds Wall time of jobs, claim to outcome.\n\
             # TYPE sizegate_job_duration_seconds histogram"
        );
        for (bound, bucket) in BUCKETS.iter().zip(&self.duration_buckets) {
            let _ = writeln!(
                out,
                "sizegate_job_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                get(bucket)
            );
        }
        let count = get(&self.duration_count);
        let sum = get(&self.duration_sum_micros) as f64 / 1e6;
        let _ = writeln!(
            out,
            "sizegate_job_duration_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             sizegate_job_duration_seconds_sum {sum}\n\
             sizegate_job_duration_seconds_count {count}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = WorkerMetrics::default();
        m.observe_duration(Duration::from_millis(50));
        m.observe_duration(Duration::from_secs(3));
        m.job_done();
        m.analyzer_failure();
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("sizegate_job_duration_seconds_bucket{le=\"0.1\"} 1\n"));
        assert!(out.contains("sizegate_job_duration_seconds_bucket{le=\"2.5\"} 1\n"));
        assert!(out.contains("sizegate_job_duration_seconds_bucket{le=\"5\"} 2\n"));
        assert!(out.contains("sizegate_job_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(out.contains("sizegate_job_duration_seconds_count 2\n"));
        assert!(out.contains("sizegate_worker_jobs_total{outcome=\"done\"} 1\n"));
        assert!(out.contains("sizegate_analyzer_failures_total 1\n"));
    }
}
