//! One job, start to end: fetch the artifact, analyze it in a child
//! process, store the report and the measurement, then the gate and
//! reporting seam, then mark the job done. The lease is renewed meanwhile;
//! losing it abandons the work (another worker has the job).

use std::path::PathBuf;
use std::time::Instant;

use sizegate_store::blob::report_key;
use sizegate_store::measurements::encode_report;
use sizegate_store::queue::{ClaimedJob, FailureOutcome, backoff};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{AnalyzerError, Error, Worker};

/// How a job attempt ended.
enum Outcome {
    Measured(i64),
    Analyzer(AnalyzerError),
    Internal(Error),
}

/// A downloaded artifact, deleted when dropped.
struct ScratchFile(Option<PathBuf>);

impl Drop for ScratchFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Worker {
    pub(crate) async fn run_job(
        &self,
        worker_id: &str,
        job: ClaimedJob,
        shutdown: &CancellationToken,
    ) {
        let span = tracing::info_span!(
            "job",
            job = job.job_id,
            target = %job.target,
            commit = %job.commit_sha,
            attempt = job.attempts
        );
        // `instrument`, not `enter`: the span must follow the future across awaits.
        self.run_job_in_span(worker_id, job, shutdown)
            .instrument(span)
            .await;
    }

    async fn run_job_in_span(
        &self,
        worker_id: &str,
        job: ClaimedJob,
        shutdown: &CancellationToken,
    ) {
        let started = Instant::now();
        tracing::info!("job claimed");

        let work = self.attempt(&job);
        tokio::pin!(work);
        let mut renew = tokio::time::interval(self.config.lease / 3);
        renew.tick().await;
        let mut grace: Option<tokio::time::Instant> = None;
        let outcome = loop {
            let grace_over = async {
                match grace {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                outcome = &mut work => break outcome,
                _ = renew.tick() => {
                    match self.store.renew_lease(job.job_id, worker_id, self.config.lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!("lease lost: another worker has the job; abandoning it");
                            return;
                        }
                        Err(e) => tracing::warn!(error = %e, "could not renew the lease"),
                    }
                }
                () = shutdown.cancelled(), if grace.is_none() => {
                    tracing::info!(grace = ?self.config.shutdown_grace, "shutting down: finishing the current job");
                    grace = Some(tokio::time::Instant::now() + self.config.shutdown_grace);
                }
                () = grace_over => {
                    // Dropping `work` kills the analyzer child.
                    match self.store.release_job(job.job_id, worker_id).await {
                        Ok(_) => tracing::info!("job released for another worker"),
                        Err(e) => tracing::error!(error = %e, "could not release the job; it returns after its lease"),
                    }
                    return;
                }
            }
        };
        self.metrics.observe_duration(started.elapsed());
        self.finish(worker_id, &job, outcome).await;
    }

    async fn finish(&self, worker_id: &str, job: &ClaimedJob, outcome: Outcome) {
        let (message, retry) = match outcome {
            Outcome::Measured(measurement_id) => {
                match self.store.complete_job(job.job_id, worker_id).await {
                    Ok(true) => {
                        self.metrics.job_done();
                        tracing::info!(measurement = measurement_id, "job done");
                    }
                    Ok(false) => tracing::warn!("job done but its lease was lost meanwhile"),
                    Err(e) => {
                        tracing::error!(error = %e, "could not mark the job done; it returns after its lease")
                    }
                }
                return;
            }
            Outcome::Analyzer(e) => {
                self.metrics.analyzer_failure();
                (e.to_string(), !e.is_permanent())
            }
            Outcome::Internal(e) => (e.to_string(), !e.is_permanent()),
        };
        let delay = backoff(
            job.attempts,
            self.config.backoff_base,
            self.config.backoff_max,
        );
        match self
            .store
            .fail_job(job.job_id, worker_id, &message, retry, delay)
            .await
        {
            Ok(FailureOutcome::WillRetry) => {
                self.metrics.job_retried();
                tracing::warn!(error = %message, retry_in = ?delay, "job failed; will retry");
            }
            Ok(FailureOutcome::Failed) => {
                self.metrics.job_failed();
                tracing::warn!(error = %message, "job failed");
            }
            Ok(FailureOutcome::NotOwner) => {
                tracing::warn!("job failed but its lease was lost meanwhile")
            }
            Err(e) => {
                tracing::error!(error = %e, "could not record the failure; the job returns after its lease")
            }
        }
    }

    async fn attempt(&self, job: &ClaimedJob) -> Outcome {
        let measurement_id = match self.store.measurement_id(job.artifact_id).await {
            // The same bytes were measured before (another commit, or an
            // earlier delivery of this job): nothing to analyze.
            Ok(Some(id)) => id,
            Ok(None) => match self.measure(job).await {
                Ok(Ok(id)) => id,
                Ok(Err(e)) => return Outcome::Analyzer(e),
                Err(e) => return Outcome::Internal(e),
            },
            Err(e) => return Outcome::Internal(e.into()),
        };
        if let Err(e) = self.gate_and_report(job, measurement_id).await {
            return Outcome::Internal(e);
        }
        Outcome::Measured(measurement_id)
    }

    /// Analyze the artifact and store the report and measurement.
    async fn measure(&self, job: &ClaimedJob) -> Result<Result<i64, AnalyzerError>, Error> {
        // Refused before it is fetched; the analyzer checks the file itself too.
        let limit = self.config.max_artifact_bytes;
        let size = u64::try_from(job.size).unwrap_or(0);
        if limit > 0 && size > limit {
            return Ok(Err(AnalyzerError::TooLarge { size, limit }));
        }
        let (path, _scratch) = match self.blobs.local_path(&job.blob_key) {
            Some(path) => (path, ScratchFile(None)),
            None => {
                let path = self
                    .config
                    .scratch_dir
                    .join(format!("sizegate-job-{}-{}", job.job_id, job.sha256));
                let scratch = ScratchFile(Some(path.clone()));
                self.blobs.download(&job.blob_key, &path).await?;
                (path, scratch)
            }
        };
        // A debug file uploaded with the build goes to the analyzer too.
        let (debug_path, _debug_scratch) = match self.store.build_debug_file(job.build_id).await? {
            None => (None, ScratchFile(None)),
            Some(key) => match self.blobs.local_path(&key) {
                Some(path) => (Some(path), ScratchFile(None)),
                None => {
                    let path = self
                        .config
                        .scratch_dir
                        .join(format!("sizegate-job-{}-debug", job.job_id));
                    let scratch = ScratchFile(Some(path.clone()));
                    self.blobs.download(&key, &path).await?;
                    (Some(path), scratch)
                }
            },
        };
        let report = match self
            .config
            .analyzer_command()
            .run_with_debug(&path, Some(&job.sha256), debug_path.as_deref())
            .await
        {
            Ok(report) => report,
            Err(e) => return Ok(Err(e)),
        };
        let key = report_key(&job.sha256);
        let encoded = encode_report(&report)?;
        self.blobs.put(&key, encoded.into()).await?;
        let id = self
            .store
            .store_measurement(job.artifact_id, &report, &key, self.config.top_symbols)
            .await?;
        tracing::info!(
            file = report.sizes.file,
            shipped = report.sizes.shipped,
            "measurement stored"
        );
        Ok(Ok(id))
    }

    /// Evaluate the gate of the job's commit (budgets of `sizegate.toml`
    /// against the baseline) and report it. Runs after the measurement is
    /// stored and before the job is marked done; idempotent, since jobs are
    /// delivered at least once. A transient reporting failure fails the
    /// attempt, so the queue retries it with backoff (the measurement is not
    /// redone); a permanent one fails the job at once.
    async fn gate_and_report(&self, job: &ClaimedJob, _measurement_id: i64) -> Result<(), Error> {
        self.gate_and_report_commit(job.repository_id, &job.commit_sha)
            .await?;
        // Post-merge step alerts; idempotent like the rest of the job.
        self.check_steps(job.build_id).await?;
        Ok(())
    }
}
