//! Which commit a target is compared with (the baseline) and which
//! `sizegate.toml` judges the pull request. Pure choices over data the store
//! loaded: the candidate commits and which of them have a measurement.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::Config;

/// The commits that may serve as baseline, in order of preference.
#[derive(Debug, Clone, Copy)]
pub enum BaselineCandidates<'a> {
    /// A pull request: its `base_sha`, then `ancestors` (the first-parent
    /// history of the base, newest first, as sent by the uploader).
    PullRequest {
        /// The pull request's base commit.
        base_sha: &'a str,
        /// First-parent history of the base, newest first. May or may not
        /// start with `base_sha` itself.
        ancestors: &'a [String],
    },
    /// A push: the first parent of the pushed commit, when it has one.
    Push {
        /// The first parent, or `None` for a root commit.
        first_parent: Option<&'a str>,
    },
}

/// The commit chosen as baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineCommit {
    /// Its sha.
    pub sha: String,
    /// How many commits behind the base it is: 0 for the base itself (or,
    /// for a push, the first parent), 1 for the base's parent, ...
    pub behind: usize,
}

/// Why a target has no baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum NoBaseline {
    /// A push of a root commit: there is no parent to compare with.
    NoParent,
    /// None of the candidate commits has a measurement of this target.
    NotMeasured {
        /// How many commits were looked at.
        searched: usize,
    },
}

impl fmt::Display for NoBaseline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoBaseline::NoParent => f.write_str("the commit has no parent to compare with"),
            NoBaseline::NotMeasured { searched: 1 } => {
                f.write_str("the base commit has no measurement of this target")
            }
            NoBaseline::NotMeasured { searched } => write!(
                f,
                "none of the {searched} commits searched (the base and its first-parent history) \
                 has a measurement of this target"
            ),
        }
    }
}

/// Choose the baseline of one target: the first candidate for which
/// `has_measurement` (usually a lookup in a set the store filled for this
/// target) is true.
pub fn choose_baseline(
    candidates: BaselineCandidates<'_>,
    has_measurement: impl Fn(&str) -> bool,
) -> Result<BaselineCommit, NoBaseline> {
    match candidates {
        BaselineCandidates::Push { first_parent: None } => Err(NoBaseline::NoParent),
        BaselineCandidates::Push {
            first_parent: Some(parent),
        } => {
            if has_measurement(parent) {
                Ok(BaselineCommit {
                    sha: parent.to_string(),
                    behind: 0,
                })
            } else {
                Err(NoBaseline::NotMeasured { searched: 1 })
            }
        }
        BaselineCandidates::PullRequest {
            base_sha,
            ancestors,
        } => {
            let mut seen = HashSet::new();
            let ordered = std::iter::once(base_sha)
                .chain(ancestors.iter().map(String::as_str))
                .filter(|sha| seen.insert(*sha));
            let mut searched = 0;
            for (behind, sha) in ordered.enumerate() {
                searched += 1;
                if has_measurement(sha) {
                    return Ok(BaselineCommit {
                        sha: sha.to_string(),
                        behind,
                    });
                }
            }
            Err(NoBaseline::NotMeasured { searched })
        }
    }
}

/// What the uploads say of a commit's place in history: all the worker and
/// the dashboard need to list its baseline candidates. This is the one
/// place that rule lives.
#[derive(Debug, Clone, Copy)]
pub struct CommitHistory<'a> {
    /// The commit itself: never its own baseline (a pull request naming
    /// its own sha as base would otherwise compare with itself, delta 0,
    /// under budgets of its own choosing).
    pub sha: &'a str,
    /// The pull request's base, for a commit of a pull request that has
    /// one (the base a webhook reported wins over the uploaded one).
    pub pull_request_base: Option<&'a str>,
    /// First-parent history sent with the upload, newest first.
    pub ancestors: &'a [String],
}

impl<'a> CommitHistory<'a> {
    /// The candidates of a commit: a pull request's base (when it is one
    /// of a pull request and has a base) then its ancestors; otherwise the
    /// first parent.
    pub fn new(
        sha: &'a str,
        pull_request: bool,
        base_sha: Option<&'a str>,
        ancestors: &'a [String],
    ) -> Self {
        Self {
            sha,
            pull_request_base: base_sha.filter(|_| pull_request),
            ancestors,
        }
    }

    /// The candidates, in order of preference.
    pub fn candidates(&self) -> BaselineCandidates<'a> {
        let sha = self.sha;
        match self.pull_request_base {
            Some(base_sha) => BaselineCandidates::PullRequest {
                base_sha,
                ancestors: self.ancestors,
            },
            None => BaselineCandidates::Push {
                first_parent: self
                    .ancestors
                    .iter()
                    .map(String::as_str)
                    .find(|parent| *parent != sha),
            },
        }
    }

    /// The candidate shas to look up in the store, in order of preference,
    /// each once, without the commit itself.
    pub fn candidate_shas(&self) -> Vec<String> {
        let listed: Vec<&str> = match self.candidates() {
            BaselineCandidates::PullRequest {
                base_sha,
                ancestors,
            } => std::iter::once(base_sha)
                .chain(ancestors.iter().map(String::as_str))
                .collect(),
            BaselineCandidates::Push { first_parent } => first_parent.into_iter().collect(),
        };
        let mut seen = HashSet::new();
        listed
            .into_iter()
            .filter(|sha| *sha != self.sha && seen.insert(*sha))
            .map(str::to_owned)
            .collect()
    }

    /// The baseline of one target: the first candidate other than the
    /// commit itself for which `has_measurement` holds.
    pub fn choose_baseline(
        &self,
        has_measurement: impl Fn(&str) -> bool,
    ) -> Result<BaselineCommit, NoBaseline> {
        choose_baseline(self.candidates(), |sha| {
            sha != self.sha && has_measurement(sha)
        })
    }
}

/// Where the budgets that judge a commit come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigSource {
    /// The `sizegate.toml` uploaded with the baseline commit, so a pull
    /// request cannot loosen its own gate.
    Baseline,
    /// The baseline had no `sizegate.toml` (or there is no baseline): the
    /// head's is used, and the comment says so.
    Head,
    /// Neither side has one: no budgets apply.
    None,
}

/// The config that judges a commit, and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct ChosenConfig<'a> {
    /// The config, when either side has one.
    pub config: Option<&'a Config>,
    /// Where it came from.
    pub source: ConfigSource,
}

/// The baseline's config when it has one, else the head's.
pub fn choose_config<'a>(
    baseline_config: Option<&'a Config>,
    head_config: Option<&'a Config>,
) -> ChosenConfig<'a> {
    match (baseline_config, head_config) {
        (Some(config), _) => ChosenConfig {
            config: Some(config),
            source: ConfigSource::Baseline,
        },
        (None, Some(config)) => ChosenConfig {
            config: Some(config),
            source: ConfigSource::Head,
        },
        (None, None) => ChosenConfig {
            config: None,
            source: ConfigSource::None,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn shas(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_commit_is_never_its_own_candidate() {
        let ancestors = shas(&["own", "p1", "p1"]);
        let history = CommitHistory::new("own", true, Some("own"), &ancestors);
        assert_eq!(history.candidate_shas(), shas(&["p1"]));
        let chosen = history.choose_baseline(|_| true).unwrap();
        assert_eq!(chosen.sha, "p1");
        let alone = CommitHistory::new("own", true, Some("own"), &[]);
        assert!(alone.candidate_shas().is_empty());
        assert_eq!(
            alone.choose_baseline(|_| true),
            Err(NoBaseline::NotMeasured { searched: 1 })
        );
    }

    #[test]
    fn a_push_or_a_pull_request_without_base_has_its_first_parent() {
        let ancestors = shas(&["own", "p1", "p2"]);
        for history in [
            CommitHistory::new("own", false, Some("base"), &ancestors),
            CommitHistory::new("own", true, None, &ancestors),
        ] {
            assert_eq!(history.candidate_shas(), shas(&["p1"]));
            assert_eq!(history.choose_baseline(|_| true).unwrap().sha, "p1");
        }
        let root = CommitHistory::new("own", false, None, &[]);
        assert_eq!(root.choose_baseline(|_| true), Err(NoBaseline::NoParent));
    }

    #[test]
    fn a_pull_request_prefers_the_base() {
        let ancestors = shas(&["p1", "p2"]);
        let candidates = BaselineCandidates::PullRequest {
            base_sha: "base",
            ancestors: &ancestors,
        };
        let chosen = choose_baseline(candidates, |_| true).unwrap();
        assert_eq!(
            chosen,
            BaselineCommit {
                sha: "base".into(),
                behind: 0
            }
        );
    }

    #[test]
    fn a_pull_request_walks_the_first_parent_history() {
        let ancestors = shas(&["p1", "p2", "p3"]);
        let measured: HashSet<&str> = ["p2", "p3"].into();
        let candidates = BaselineCandidates::PullRequest {
            base_sha: "base",
            ancestors: &ancestors,
        };
        let chosen = choose_baseline(candidates, |sha| measured.contains(sha)).unwrap();
        assert_eq!(
            chosen,
            BaselineCommit {
                sha: "p2".into(),
                behind: 2
            }
        );
    }

    #[test]
    fn ancestors_that_repeat_the_base_do_not_shift_the_count() {
        let ancestors = shas(&["base", "p1", "p2"]);
        let candidates = BaselineCandidates::PullRequest {
            base_sha: "base",
            ancestors: &ancestors,
        };
        let chosen = choose_baseline(candidates, |sha| sha == "p1").unwrap();
        assert_eq!(chosen.behind, 1);
        assert_eq!(
            choose_baseline(candidates, |_| false),
            Err(NoBaseline::NotMeasured { searched: 3 })
        );
    }

    #[test]
    fn a_push_compares_with_its_first_parent_only() {
        let push = BaselineCandidates::Push {
            first_parent: Some("parent"),
        };
        assert_eq!(
            choose_baseline(push, |sha| sha == "parent").unwrap(),
            BaselineCommit {
                sha: "parent".into(),
                behind: 0
            }
        );
        assert_eq!(
            choose_baseline(push, |_| false),
            Err(NoBaseline::NotMeasured { searched: 1 })
        );
        let root = BaselineCandidates::Push { first_parent: None };
        assert_eq!(choose_baseline(root, |_| true), Err(NoBaseline::NoParent));
        assert_eq!(
            NoBaseline::NotMeasured { searched: 1 }.to_string(),
            "the base commit has no measurement of this target"
        );
    }

    #[test]
    fn the_baseline_config_wins_over_the_head_config() {
        let base = Config::parse("metric = \"file\"", "base").unwrap();
        let head = Config::parse("metric = \"gzip\"", "head").unwrap();
        let chosen = choose_config(Some(&base), Some(&head));
        assert_eq!(chosen.source, ConfigSource::Baseline);
        assert_eq!(
            chosen.config.unwrap().metric,
            sizegate_analyze::Metric::File
        );
        let chosen = choose_config(None, Some(&head));
        assert_eq!(chosen.source, ConfigSource::Head);
        assert_eq!(
            chosen.config.unwrap().metric,
            sizegate_analyze::Metric::Gzip
        );
        let chosen = choose_config(None, None);
        assert_eq!(chosen.source, ConfigSource::None);
        assert!(chosen.config.is_none());
    }
}
