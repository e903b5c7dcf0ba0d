//! The gate of one commit: load every target uploaded for it (the matrix
//! barrier), choose each target's baseline among the measured candidate
//! commits, diff the stored reports, choose the config, evaluate, render
//! and store the evaluation. Then [`crate::report`] posts it.

use std::collections::{HashMap, HashSet};

use sizegate_analyze::Report;
use sizegate_gate::{
    BaselineOnlyTarget, BaselineState, CommitHistory, Config, Event, GateInput, HeadState,
    Measurement, TargetInput, choose_config, evaluate, render_check, render_comment,
};
use sizegate_store::evaluations::{GateCommit, NewEvaluation};
use sizegate_store::queue::JobState;

use crate::{Error, Worker};

/// What [`Worker::evaluate_commit`] stored.
#[derive(Debug, Clone)]
pub(crate) struct StoredRevision {
    /// The commit evaluated.
    pub commit: GateCommit,
    /// The revision of its evaluation.
    pub revision: i32,
}

/// Parse a stored `sizegate.toml`; a broken one judges nothing (the upload
/// endpoint already refused invalid configs, so this is only a safety net).
fn parse_config(text: Option<&String>, origin: &str) -> Option<Config> {
    let text = text?;
    match Config::parse(text, origin) {
        Ok(config) => Some(config),
        Err(e) => {
            tracing::warn!(origin, error = %e, "stored sizegate.toml does not parse; ignored");
            None
        }
    }
}

/// The baseline's budgets: `Ok(None)` when it has none, `Err` with
/// `check-config`'s message when its `sizegate.toml` no longer parses (a
/// newer sizegate may refuse what an older one stored). That error fails
/// the check: falling back to the head's config would let a pull request
/// choose its own budgets.
fn parse_baseline_config(text: Option<&String>, sha: &str) -> Result<Option<Config>, String> {
    let Some(text) = text else {
        return Ok(None);
    };
    Config::parse(text, "baseline sizegate.toml")
        .map(Some)
        .map_err(|e| {
            format!(
                "the sizegate.toml of baseline commit {} does not parse, so no budget can judge this commit: {e}",
                sha.get(..12).unwrap_or(sha)
            )
        })
}

impl Worker {
    async fn load_report(&self, key: &str) -> Result<Report, Error> {
        Ok(self.store.read_report(self.blobs.as_ref(), key).await?)
    }

    /// Evaluate commit `sha` of a repository and store the result. `None`
    /// for an unknown commit. The caller holds the commit's report lock, so
    /// the last evaluation stored saw every measurement stored before it.
    pub(crate) async fn evaluate_commit(
        &self,
        repository_id: i64,
        sha: &str,
    ) -> Result<Option<StoredRevision>, Error> {
        let Some(mut commit) = self.store.gate_commit(repository_id, sha).await? else {
            return Ok(None);
        };
        // What webhooks said of the pull request: its labels, and its base
        // when it was changed after the upload (the new base comes first;
        // the uploaded history of the old one still follows).
        let pull_request = match commit.pr_number {
            Some(number) => self.store.pull_request(repository_id, number).await?,
            None => None,
        };
        if let Some(pr) = &pull_request
            && pr.head_sha.as_deref() == Some(commit.sha.as_str())
            && pr.base_sha.is_some()
        {
            commit.base_sha = pr.base_sha.clone();
        }
        let targets = self.store.gate_targets(commit.id).await?;
        let history = CommitHistory::new(
            &commit.sha,
            commit.pr_number.is_some(),
            commit.base_sha.as_deref(),
            &commit.ancestors,
        );
        let shas = history.candidate_shas();
        let measured: HashMap<(String, String), String> = self
            .store
            .measured_builds(repository_id, &shas)
            .await?
            .into_iter()
            .map(|b| ((b.sha, b.target), b.report_key))
            .collect();

        let mut inputs = Vec::with_capacity(targets.len());
        let mut first_baseline: Option<String> = None;
        for target in &targets {
            let baseline = history.choose_baseline(|sha| {
                measured.contains_key(&(sha.to_owned(), target.target.clone()))
            });
            // A stored report means measured, whatever the job's state: the
            // job that stored it runs this before it is marked done.
            let head_report = match &target.report_key {
                Some(key) => Some(self.load_report(key).await?),
                None => None,
            };
            let head = match (&head_report, target.status) {
                (Some(report), _) => HeadState::Measured(Measurement::from_report(report)),
                (None, JobState::Failed) => HeadState::Failed {
                    error: target.error.clone().unwrap_or_default(),
                },
                (None, _) => HeadState::Pending,
            };
            let (baseline, diff) = match baseline {
                Ok(found) => {
                    let key = measured
                        .get(&(found.sha.clone(), target.target.clone()))
                        .ok_or_else(|| Error::Gate("baseline report vanished".to_owned()))?;
                    let old = self.load_report(key).await?;
                    let diff = head_report
                        .as_ref()
                        .map(|new| sizegate_analyze::diff(&old, new));
                    first_baseline.get_or_insert_with(|| found.sha.clone());
                    (
                        BaselineState::Found {
                            commit: found,
                            measurement: Measurement::from_report(&old),
                        },
                        diff,
                    )
                }
                Err(none) => (BaselineState::None(none), None),
            };
            inputs.push(TargetInput {
                name: target.target.clone(),
                head,
                baseline,
                diff,
            });
        }

        // Targets the main baseline commit measured that this commit lacks.
        let head_names: HashSet<&str> = targets.iter().map(|t| t.target.as_str()).collect();
        let mut baseline_only = Vec::new();
        if let Some(base) = &first_baseline {
            let behind = shas.iter().position(|s| s == base).unwrap_or(0);
            let mut missing: Vec<(&String, &String)> = measured
                .iter()
                .filter(|((sha, name), _)| sha == base && !head_names.contains(name.as_str()))
                .map(|((_, name), key)| (name, key))
                .collect();
            missing.sort();
            for (name, key) in missing {
                let report = self.load_report(key).await?;
                baseline_only.push(BaselineOnlyTarget {
                    name: name.clone(),
                    commit: sizegate_gate::BaselineCommit {
                        sha: base.clone(),
                        behind,
                    },
                    sizes: report.sizes,
                });
            }
        }

        // The baseline's budgets judge, so a pull request cannot loosen its
        // own gate; the head's are used when the baseline has none.
        // Only a baseline-eligible commit's config judges (`baseline_config`).
        let configs = self
            .store
            .commit_configs(repository_id, std::slice::from_ref(&commit.sha))
            .await?;
        let baseline_text = match &first_baseline {
            Some(base) => self.store.baseline_config(repository_id, base).await?,
            None => None,
        };
        let (baseline_config, config_error) = match (&first_baseline, &baseline_text) {
            (Some(base), text) => match parse_baseline_config(text.as_ref(), base) {
                Ok(config) => (config, None),
                Err(message) => (None, Some(message)),
            },
            (None, _) => (None, None),
        };
        let head_config = parse_config(configs.get(&commit.sha), "head sizegate.toml");
        let config = match &config_error {
            Some(message) => {
                tracing::warn!(commit = %commit.sha, error = %message, "baseline config unreadable: the check fails");
                for input in &mut inputs {
                    if matches!(input.head, HeadState::Measured(_)) {
                        input.head = HeadState::Failed {
                            error: message.clone(),
                        };
                    }
                }
                choose_config(None, None)
            }
            None => choose_config(baseline_config.as_ref(), head_config.as_ref()),
        };

        let event = match commit.pr_number {
            // Labels (the approval label) count only while the pull
            // request's head is this commit: an upload cannot borrow the
            // approval of whatever pull request number it claims.
            Some(number) => Event::PullRequest {
                number: u64::try_from(number).unwrap_or(0),
                labels: pull_request
                    .filter(|pr| pr.head_sha.as_deref() == Some(commit.sha.as_str()))
                    .map(|pr| pr.labels)
                    .unwrap_or_default(),
            },
            None => Event::Push,
        };
        let evaluation = evaluate(&GateInput {
            event,
            config,
            targets: inputs,
            baseline_only,
        });
        let ctx = self
            .config
            .render_context(&commit.owner, &commit.name, &commit.sha);
        let comment = render_comment(&evaluation, &ctx);
        let check = render_check(&evaluation, &ctx);
        let new = NewEvaluation {
            pr_number: commit.pr_number,
            evaluation,
            comment_markdown: comment,
            check_title: check.title,
            check_summary: check.summary,
            reporter_enabled: self.github.is_some(),
        };
        let revision = self.store.save_evaluation(commit.id, &new).await?;
        tracing::info!(
            commit = %commit.sha,
            revision,
            status = new.evaluation.status.as_str(),
            conclusion = new.evaluation.conclusion.map_or("-", |c| c.as_str()),
            "gate evaluated"
        );
        Ok(Some(StoredRevision { commit, revision }))
    }
}
