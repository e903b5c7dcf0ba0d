//! The gate of one commit: load every target uploaded for it (the matrix
//! barrier), choose each target's baseline among the measured candidate
//! commits, diff the stored reports, choose the config, evaluate, render
//! and store the evaluation. Then [`crate::report`] posts it.

use std::collections::{HashMap, HashSet};

use sizegate_analyze::Report;
use sizegate_gate::{
    BaselineCommit, BaselineOnlyTarget, BaselineState, ChosenConfig, CommitHistory, Config,
    Evaluation, Event, GateInput, HeadState, Measurement, NoBaseline, TargetInput, choose_config,
    evaluate, render_check, render_comment,
};
use sizegate_store::evaluations::{GateCommit, GateTarget, NewEvaluation};
use sizegate_store::github_events::PullRequestState;
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

/// The stored report of each measured (commit, target) among the baseline
/// candidates.
type MeasuredReports = HashMap<(String, String), String>;

/// One target of the commit with the reports it is judged on, loaded: the
/// head's once measured, and its baseline's when one was found.
struct LoadedTarget<'a> {
    target: &'a GateTarget,
    head_report: Option<Report>,
    baseline: Result<(BaselineCommit, Report), NoBaseline>,
}

/// The configs a commit may be judged by, parsed.
#[derive(Debug, Default)]
struct ParsedConfigs {
    baseline: Option<Config>,
    head: Option<Config>,
    /// Why the baseline's config cannot judge (it does not parse).
    baseline_error: Option<String>,
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
        let Some((commit, pull_request)) = self.load_gate_commit(repository_id, sha).await? else {
            return Ok(None);
        };
        let targets = self.store.gate_targets(commit.id).await?;
        let history = CommitHistory::new(
            &commit.sha,
            commit.pr_number.is_some(),
            commit.base_sha.as_deref(),
            &commit.ancestors,
        );
        let shas = history.candidate_shas();
        let measured: MeasuredReports = self
            .store
            .measured_builds(repository_id, &shas)
            .await?
            .into_iter()
            .map(|b| ((b.sha, b.target), b.report_key))
            .collect();
        let loaded = self.load_targets(&history, &measured, &targets).await?;
        let (mut inputs, first_baseline) = target_inputs(loaded);
        let baseline_only = match &first_baseline {
            Some(base) => {
                self.load_baseline_only(base, &shas, &measured, &targets)
                    .await?
            }
            None => Vec::new(),
        };
        let configs = self
            .load_configs(repository_id, &commit.sha, first_baseline.as_deref())
            .await?;
        let evaluation = evaluate(&GateInput {
            event: gate_event(&commit, pull_request),
            config: configs.judge(&commit.sha, &mut inputs),
            targets: inputs,
            baseline_only,
        });
        let revision = self.store_evaluation(&commit, evaluation).await?;
        Ok(Some(StoredRevision { commit, revision }))
    }

    /// The commit and what webhooks said of its pull request: its labels,
    /// and its base when it was changed after the upload.
    async fn load_gate_commit(
        &self,
        repository_id: i64,
        sha: &str,
    ) -> Result<Option<(GateCommit, Option<PullRequestState>)>, Error> {
        let Some(mut commit) = self.store.gate_commit(repository_id, sha).await? else {
            return Ok(None);
        };
        let pull_request = match commit.pr_number {
            Some(number) => self.store.pull_request(repository_id, number).await?,
            None => None,
        };
        apply_webhook_base(&mut commit, pull_request.as_ref());
        Ok(Some((commit, pull_request)))
    }

    /// Choose each target's baseline and load the reports it is judged on.
    async fn load_targets<'a>(
        &self,
        history: &CommitHistory<'_>,
        measured: &MeasuredReports,
        targets: &'a [GateTarget],
    ) -> Result<Vec<LoadedTarget<'a>>, Error> {
        let mut loaded = Vec::with_capacity(targets.len());
        for target in targets {
            let chosen = history.choose_baseline(|sha| {
                measured.contains_key(&(sha.to_owned(), target.target.clone()))
            });
            // A stored report means measured, whatever the job's state: the
            // job that stored it runs this before it is marked done.
            let head_report = match &target.report_key {
                Some(key) => Some(self.load_report(key).await?),
                None => None,
            };
            let baseline = match chosen {
                Ok(found) => {
                    let key = measured
                        .get(&(found.sha.clone(), target.target.clone()))
                        .ok_or_else(|| Error::Gate("baseline report vanished".to_owned()))?;
                    Ok((found, self.load_report(key).await?))
                }
                Err(none) => Err(none),
            };
            loaded.push(LoadedTarget {
                target,
                head_report,
                baseline,
            });
        }
        Ok(loaded)
    }

    /// Targets the main baseline commit `base` measured that this commit
    /// lacks, with their sizes.
    async fn load_baseline_only(
        &self,
        base: &str,
        shas: &[String],
        measured: &MeasuredReports,
        targets: &[GateTarget],
    ) -> Result<Vec<BaselineOnlyTarget>, Error> {
        let behind = shas.iter().position(|s| s == base).unwrap_or(0);
        let mut baseline_only = Vec::new();
        for (name, key) in missing_from_head(measured, base, targets) {
            let report = self.load_report(key).await?;
            baseline_only.push(BaselineOnlyTarget {
                name: name.to_owned(),
                commit: BaselineCommit {
                    sha: base.to_owned(),
                    behind,
                },
                sizes: report.sizes,
            });
        }
        Ok(baseline_only)
    }

    /// The head's config and, when there is a baseline, the baseline's: only
    /// a baseline-eligible commit's config judges (`baseline_config`).
    async fn load_configs(
        &self,
        repository_id: i64,
        sha: &str,
        first_baseline: Option<&str>,
    ) -> Result<ParsedConfigs, Error> {
        let configs = self
            .store
            .commit_configs(repository_id, &[sha.to_owned()])
            .await?;
        let baseline_text = match first_baseline {
            Some(base) => self.store.baseline_config(repository_id, base).await?,
            None => None,
        };
        Ok(ParsedConfigs::parse(
            first_baseline,
            baseline_text.as_ref(),
            configs.get(sha),
        ))
    }

    /// Render the comment and the check of `evaluation` and store them; the
    /// revision stored.
    async fn store_evaluation(
        &self,
        commit: &GateCommit,
        evaluation: Evaluation,
    ) -> Result<i32, Error> {
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
        Ok(revision)
    }
}

/// A base changed by a webhook after the upload comes first (the uploaded
/// history of the old one still follows), while the pull request's head
/// is this commit.
fn apply_webhook_base(commit: &mut GateCommit, pull_request: Option<&PullRequestState>) {
    if let Some(pr) = pull_request
        && pr.head_sha.as_deref() == Some(commit.sha.as_str())
        && pr.base_sha.is_some()
    {
        commit.base_sha = pr.base_sha.clone();
    }
}

/// A target's state at the head: a stored report means measured.
fn head_state(report: Option<&Report>, target: &GateTarget) -> HeadState {
    match (report, target.status) {
        (Some(report), _) => HeadState::Measured(Measurement::from_report(report)),
        (None, JobState::Failed) => HeadState::Failed {
            error: target.error.clone().unwrap_or_default(),
        },
        (None, _) => HeadState::Pending,
    }
}

/// The gate's input for each loaded target, and the first baseline commit
/// found (whose missing targets and config count).
fn target_inputs(loaded: Vec<LoadedTarget<'_>>) -> (Vec<TargetInput>, Option<String>) {
    let mut first_baseline: Option<String> = None;
    let inputs = loaded
        .into_iter()
        .map(|one| {
            let head = head_state(one.head_report.as_ref(), one.target);
            let (baseline, diff) = match one.baseline {
                Ok((found, old)) => {
                    let diff = one
                        .head_report
                        .as_ref()
                        .map(|new| sizegate_analyze::diff(&old, new));
                    first_baseline.get_or_insert_with(|| found.sha.clone());
                    let measurement = Measurement::from_report(&old);
                    (
                        BaselineState::Found {
                            commit: found,
                            measurement,
                        },
                        diff,
                    )
                }
                Err(none) => (BaselineState::None(none), None),
            };
            TargetInput {
                name: one.target.target.clone(),
                head,
                baseline,
                diff,
            }
        })
        .collect();
    (inputs, first_baseline)
}

/// `(name, report key)` of the targets `base` measured that the head has
/// not, by name.
fn missing_from_head<'m>(
    measured: &'m MeasuredReports,
    base: &str,
    targets: &[GateTarget],
) -> Vec<(&'m str, &'m str)> {
    let head_names: HashSet<&str> = targets.iter().map(|t| t.target.as_str()).collect();
    let mut missing: Vec<(&str, &str)> = measured
        .iter()
        .filter(|((sha, name), _)| sha == base && !head_names.contains(name.as_str()))
        .map(|((_, name), key)| (name.as_str(), key.as_str()))
        .collect();
    missing.sort();
    missing
}

/// Pull request (with its labels) or push. Labels (the approval label)
/// count only while the pull request's head is this commit: an upload
/// cannot borrow the approval of whatever pull request number it claims.
fn gate_event(commit: &GateCommit, pull_request: Option<PullRequestState>) -> Event {
    match commit.pr_number {
        Some(number) => Event::PullRequest {
            number: u64::try_from(number).unwrap_or(0),
            labels: pull_request
                .filter(|pr| pr.head_sha.as_deref() == Some(commit.sha.as_str()))
                .map(|pr| pr.labels)
                .unwrap_or_default(),
        },
        None => Event::Push,
    }
}

impl ParsedConfigs {
    fn parse(
        first_baseline: Option<&str>,
        baseline_text: Option<&String>,
        head_text: Option<&String>,
    ) -> Self {
        let (baseline, baseline_error) = match first_baseline {
            Some(base) => match parse_baseline_config(baseline_text, base) {
                Ok(config) => (config, None),
                Err(message) => (None, Some(message)),
            },
            None => (None, None),
        };
        ParsedConfigs {
            baseline,
            head: parse_config(head_text, "head sizegate.toml"),
            baseline_error,
        }
    }

    /// The config that judges: the baseline's budgets, so a pull request
    /// cannot loosen its own gate; the head's when the baseline has none.
    /// An unreadable baseline config fails every measured target instead.
    fn judge(&self, sha: &str, inputs: &mut [TargetInput]) -> ChosenConfig<'_> {
        match &self.baseline_error {
            Some(message) => {
                tracing::warn!(commit = %sha, error = %message, "baseline config unreadable: the check fails");
                for input in inputs {
                    if matches!(input.head, HeadState::Measured(_)) {
                        input.head = HeadState::Failed {
                            error: message.clone(),
                        };
                    }
                }
                choose_config(None, None)
            }
            None => choose_config(self.baseline.as_ref(), self.head.as_ref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(pr_number: Option<i64>) -> GateCommit {
        GateCommit {
            id: 1,
            repository_id: 1,
            owner: "acme".into(),
            name: "app".into(),
            sha: "a".repeat(40),
            pr_number,
            base_sha: Some("b".repeat(40)),
            ancestors: Vec::new(),
            config: None,
        }
    }

    fn pull_request(head: &str, base: Option<&str>) -> PullRequestState {
        PullRequestState {
            number: 7,
            head_sha: Some(head.repeat(40)),
            base_sha: base.map(|b| b.repeat(40)),
            labels: vec!["size-approved".into()],
        }
    }

    fn target(name: &str, status: JobState, error: Option<&str>) -> GateTarget {
        GateTarget {
            target: name.into(),
            status,
            error: error.map(str::to_owned),
            report_key: None,
        }
    }

    #[test]
    fn a_webhook_base_counts_only_while_the_pull_request_head_is_the_commit() {
        let mut moved = commit(Some(7));
        apply_webhook_base(&mut moved, Some(&pull_request("a", Some("c"))));
        assert_eq!(moved.base_sha, Some("c".repeat(40)));
        let mut other_head = commit(Some(7));
        apply_webhook_base(&mut other_head, Some(&pull_request("d", Some("c"))));
        assert_eq!(other_head.base_sha, Some("b".repeat(40)));
        let mut no_base = commit(Some(7));
        apply_webhook_base(&mut no_base, Some(&pull_request("a", None)));
        assert_eq!(no_base.base_sha, Some("b".repeat(40)));
    }

    #[test]
    fn labels_count_only_while_the_pull_request_head_is_the_commit() {
        let labels = |event| match event {
            Event::PullRequest { number, labels } => (number, labels),
            Event::Push => panic!("a push"),
        };
        let (number, on_head) = labels(gate_event(&commit(Some(7)), Some(pull_request("a", None))));
        assert_eq!((number, on_head), (7, vec!["size-approved".to_owned()]));
        let (_, elsewhere) = labels(gate_event(&commit(Some(7)), Some(pull_request("d", None))));
        assert!(elsewhere.is_empty());
        assert_eq!(
            gate_event(&commit(None), Some(pull_request("a", None))),
            Event::Push
        );
    }

    #[test]
    fn unmeasured_targets_are_pending_or_failed_with_their_error() {
        let failed = target("linux/app", JobState::Failed, Some("not an ELF file"));
        let queued = target("wasm/app", JobState::Queued, None);
        let (inputs, first_baseline) = target_inputs(vec![
            LoadedTarget {
                target: &failed,
                head_report: None,
                baseline: Err(NoBaseline::NoParent),
            },
            LoadedTarget {
                target: &queued,
                head_report: None,
                baseline: Err(NoBaseline::NotMeasured { searched: 3 }),
            },
        ]);
        assert_eq!(first_baseline, None);
        assert!(matches!(
            &inputs[0].head,
            HeadState::Failed { error } if error == "not an ELF file"
        ));
        assert!(matches!(inputs[1].head, HeadState::Pending));
        assert!(matches!(
            inputs[1].baseline,
            BaselineState::None(NoBaseline::NotMeasured { searched: 3 })
        ));
        assert!(inputs.iter().all(|i| i.diff.is_none()));
    }

    #[test]
    fn the_targets_only_the_baseline_measured_are_listed_by_name() {
        let base = "b".repeat(40);
        let measured: MeasuredReports = [
            ((base.clone(), "z/app".to_owned()), "kz".to_owned()),
            ((base.clone(), "linux/app".to_owned()), "kl".to_owned()),
            ((base.clone(), "a/app".to_owned()), "ka".to_owned()),
            (("c".repeat(40), "other/app".to_owned()), "ko".to_owned()),
        ]
        .into_iter()
        .collect();
        let head = [target("linux/app", JobState::Done, None)];
        assert_eq!(
            missing_from_head(&measured, &base, &head),
            [("a/app", "ka"), ("z/app", "kz")]
        );
    }

    #[test]
    fn an_unreadable_baseline_config_fails_measured_targets_and_judges_with_none() {
        let base = "b".repeat(40);
        let broken = "[[budget]\n".to_owned();
        let configs = ParsedConfigs::parse(Some(&base), Some(&broken), Some(&String::new()));
        let message = configs.baseline_error.clone().unwrap_or_default();
        assert!(message.contains("bbbbbbbbbbbb"), "{message}");
        let mut inputs = vec![
            TargetInput {
                name: "linux/app".into(),
                head: HeadState::Measured(Measurement::default()),
                baseline: BaselineState::None(NoBaseline::NoParent),
                diff: None,
            },
            TargetInput {
                name: "wasm/app".into(),
                head: HeadState::Pending,
                baseline: BaselineState::None(NoBaseline::NoParent),
                diff: None,
            },
        ];
        let chosen = configs.judge(&base, &mut inputs);
        assert!(chosen.config.is_none());
        assert!(matches!(&inputs[0].head, HeadState::Failed { error } if *error == message));
        assert!(matches!(inputs[1].head, HeadState::Pending));
    }

    #[test]
    fn without_a_baseline_the_heads_config_judges() {
        let configs = ParsedConfigs::parse(None, None, Some(&"".to_owned()));
        assert!(configs.baseline_error.is_none());
        let chosen = configs.judge("", &mut []);
        assert_eq!(chosen.source, sizegate_gate::ConfigSource::Head);
    }
}
