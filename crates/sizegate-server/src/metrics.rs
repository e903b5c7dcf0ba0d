//! Upload counters of this server process, and the `/metrics` exposition
//! that adds the job counts from the database and the in-process workers'
//! counters.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use sizegate_store::queue::JobCount;
use sizegate_worker::WorkerMetrics;

/// Upload counters.
#[derive(Debug, Default)]
pub struct ServerMetrics {
    uploads_accepted: AtomicU64,
    uploads_rejected: AtomicU64,
    bytes_received: AtomicU64,
}

impl ServerMetrics {
    /// An upload was recorded.
    pub fn upload_accepted(&self) {
        self.uploads_accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// An upload was refused (auth, validation, size).
    pub fn upload_rejected(&self) {
        self.uploads_rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Artifact bytes received (accepted or not).
    pub fn bytes_received(&self, n: u64) {
        self.bytes_received.fetch_add(n, Ordering::Relaxed);
    }

    /// The whole exposition.
    pub fn render(&self, jobs: &[JobCount], workers: &WorkerMetrics) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP sizegate_uploads_total Upload requests handled by this server, by outcome.\n\
             # TYPE sizegate_uploads_total counter\n\
             sizegate_uploads_total{{outcome=\"accepted\"}} {}\n\
             sizegate_uploads_total{{outcome=\"rejected\"}} {}\n\
             # HELP sizegate_upload_bytes_total Artifact bytes received by this server.\n\
             # TYPE sizegate_upload_bytes_total counter\n\
             sizegate_upload_bytes_total {}",
            get(&self.uploads_accepted),
            get(&self.uploads_rejected),
            get(&self.bytes_received)
        );
        let _ = writeln!(
            out,
            "# HELP sizegate_jobs Jobs in the queue (all workers), by state.\n\
             # TYPE sizegate_jobs gauge"
        );
        for job in jobs {
            let _ = writeln!(
                out,
                "sizegate_jobs{{state=\"{}\"}} {}",
                job.state, job.count
            );
        }
        workers.render(&mut out);
        out
    }
}
