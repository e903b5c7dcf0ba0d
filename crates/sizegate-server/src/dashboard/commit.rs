//! The commit page (per target: sizes, sections, a treemap of units, top
//! symbols, advice, toolchain facts and the diff against the baseline) and
//! the pull request page (the summary a PR comment gives, then the full
//! detail without the comment's length limit, and the history of pushes).

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Html;
use std::collections::HashMap;

use sizegate_analyze::{Change, Metric, ReportDiff, human};
use sizegate_gate::CommitHistory;
use sizegate_store::MeasuredTarget;
use sizegate_store::evaluations::StoredEvaluation;
use sizegate_store::history::{CommitStatus, Repository};

use super::PageError;
use super::treemap::treemap_svg;
use super::verdict::{VerdictView, verdict_view};
use super::view::{self, change, change_class, date, short, url};
use crate::session::Reader;
use crate::{ApiError, AppState};

/// Changes listed per kind on the commit page (the PR page lists them all,
/// up to [`MAX_PR_CHANGES`]).
const COMMIT_CHANGES: usize = 15;
/// Hard cap on the rows of one change table, so a page stays bounded.
const MAX_PR_CHANGES: usize = 2_000;
/// Symbols listed per target.
const TOP_SYMBOLS: usize = 25;

struct KeyValue {
    key: String,
    value: String,
}

struct ChangeRow {
    name: String,
    old: String,
    new: String,
    delta: String,
    class: &'static str,
}

struct ChangeTable {
    title: &'static str,
    rows: Vec<ChangeRow>,
    more: usize,
}

struct Baseline {
    sha: String,
    short: String,
    href: String,
    /// Per headline metric: name, old, new, change.
    sizes: Vec<[String; 4]>,
    tables: Vec<ChangeTable>,
    causes: Vec<String>,
}

struct SectionView {
    name: String,
    kind: String,
    file: String,
    vm: String,
}

struct SymbolView {
    name: String,
    unit: String,
    section: String,
    size: String,
}

struct TargetDetail {
    name: String,
    anchor: String,
    href: String,
    status: String,
    /// How the build shown was uploaded, and whether it can be a baseline.
    provenance: String,
    provenance_title: &'static str,
    error: String,
    facts: Vec<KeyValue>,
    sizes: Vec<KeyValue>,
    sections: Vec<SectionView>,
    treemap: String,
    /// A container image's layer chart and file treemap.
    image: Option<super::image::ImageView>,
    units: Vec<KeyValue>,
    symbols: Vec<SymbolView>,
    advice: Vec<String>,
    baseline: Option<Baseline>,
    baseline_missing: String,
    /// For the PR summary: baseline, head, change in `shipped`.
    summary: [String; 4],
    summary_class: &'static str,
}

fn change_table(title: &'static str, changes: &[Change], limit: usize) -> ChangeTable {
    ChangeTable {
        title,
        rows: changes
            .iter()
            .take(limit)
            .map(|c| ChangeRow {
                name: match &c.unit {
                    Some(unit) if title == "Symbols" || title == "Files" => {
                        format!("{} ({unit})", c.name)
                    }
                    Some(binary) if title == "Units in binaries" => {
                        format!("{} in {binary}", c.name)
                    }
                    _ => c.name.clone(),
                },
                old: human::size(c.old),
                new: human::size(c.new),
                delta: human::delta(c.delta),
                class: change_class(c.old, c.new),
            })
            .collect(),
        more: changes.len().saturating_sub(limit),
    }
}

fn baseline_view(owner_repo: &str, sha: &str, diff: &ReportDiff, limit: usize) -> Baseline {
    Baseline {
        sha: sha.to_owned(),
        short: short(sha).to_owned(),
        href: format!("/repos/{owner_repo}/commits/{sha}"),
        sizes: [
            Metric::File,
            Metric::Shipped,
            Metric::Gzip,
            Metric::Zstd,
            Metric::Vm,
        ]
        .iter()
        .chain(
            Metric::IMAGE
                .iter()
                .filter(|_| diff.new.sizes.uncompressed > 0),
        )
        .map(|&m| {
            let (old, new) = (diff.old.sizes.get(m), diff.new.sizes.get(m));
            [
                m.as_str().to_owned(),
                human::size(old),
                human::size(new),
                change(old, new),
            ]
        })
        .collect(),
        tables: vec![
            change_table("Sections", &diff.sections, limit),
            change_table("Units", &diff.units, limit),
            change_table("Symbols", &diff.symbols, limit),
            // Empty for binaries, and then not shown.
            change_table("Layers", &diff.layers, limit),
            change_table("Files", &diff.files, limit),
            change_table("Units in binaries", &diff.binary_units, limit),
        ],
        causes: diff
            .causes
            .iter()
            .map(|c| {
                format!(
                    "{} {}: {} → {}",
                    c.kind,
                    c.subject,
                    c.old.as_deref().unwrap_or("none"),
                    c.new.as_deref().unwrap_or("none")
                )
            })
            .collect(),
    }
}

/// Which commit each target's diff is against: the baseline stored with the
/// commit's evaluation, so the page shows what the verdict judged; for a
/// target the evaluation has not seen yet, the gate's own candidates.
struct BaselineChoice {
    /// Per target the evaluation judged: its baseline sha, or why it had
    /// none.
    evaluated: HashMap<String, Result<String, String>>,
    /// The gate's candidates ([`CommitHistory::candidate_shas`]).
    candidates: Vec<String>,
}

impl BaselineChoice {
    fn new(commit: &CommitStatus, stored: Option<&StoredEvaluation>) -> Self {
        let history = CommitHistory::new(
            &commit.sha,
            commit.pr_number.is_some(),
            commit.base_sha.as_deref(),
            &commit.ancestors,
        );
        let evaluated = stored
            .map(|s| {
                s.evaluation
                    .targets
                    .iter()
                    .map(|t| {
                        let baseline = match (&t.baseline, &t.no_baseline) {
                            (Some(commit), _) => Ok(commit.sha.clone()),
                            (None, Some(reason)) => Err(reason.to_string()),
                            (None, None) => Err("the gate found no baseline".to_owned()),
                        };
                        (t.name.clone(), baseline)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            evaluated,
            candidates: history.candidate_shas(),
        }
    }

    /// The shas to look the target's baseline up in, or why it has none.
    fn for_target(&self, target: &str) -> Result<Vec<String>, String> {
        match self.evaluated.get(target) {
            Some(Ok(sha)) => Ok(vec![sha.clone()]),
            Some(Err(reason)) => Err(reason.clone()),
            None => Ok(self.candidates.clone()),
        }
    }
}

/// The details of every target of `commit`, with the diff against the
/// baseline `baselines` names.
async fn target_details(
    state: &AppState,
    repository: &Repository,
    commit: &CommitStatus,
    baselines: &BaselineChoice,
    change_limit: usize,
) -> Result<Vec<TargetDetail>, PageError> {
    let owner_repo = format!("{}/{}", repository.owner, repository.name);
    let measured: Vec<MeasuredTarget> = state
        .store
        .commit_measurements(repository.id, &commit.sha)
        .await?;
    // Every target's baseline in one query.
    let wanted: Vec<(i64, Vec<String>)> = measured
        .iter()
        .filter_map(|m| Some((m.target_id, baselines.for_target(&m.target).ok()?)))
        .collect();
    let mut measured_baselines = state.store.first_measured_each(&wanted).await?;
    // And every report the diffs need, with one query for their caps.
    let report_keys: Vec<&str> = measured
        .iter()
        .filter_map(|m| {
            let (_, base_key) = measured_baselines.get(&m.target_id)?;
            Some([base_key.as_str(), m.report_key.as_str()])
        })
        .flatten()
        .collect();
    let reports = state
        .store
        .read_reports(state.blobs.as_ref(), &report_keys)
        .await?;
    let mut out = Vec::with_capacity(commit.targets.len());
    for status in &commit.targets {
        let mut detail = TargetDetail {
            anchor: format!("t-{}", url(&status.target).replace(['/', '%', '.'], "-")),
            href: format!("/repos/{owner_repo}/targets/{}", url(&status.target)),
            name: status.target.clone(),
            status: status.status.to_string(),
            provenance: if status.baseline_eligible {
                format!("{} · baseline", status.provenance)
            } else {
                status.provenance.clone()
            },
            provenance_title: if status.baseline_eligible {
                "trusted upload on a protected branch: judges later commits"
            } else {
                "not baseline-eligible: never judges other commits"
            },
            error: status.error.clone().unwrap_or_default(),
            facts: vec![],
            sizes: vec![],
            sections: vec![],
            treemap: String::new(),
            image: None,
            units: vec![],
            symbols: vec![],
            advice: vec![],
            baseline: None,
            baseline_missing: String::new(),
            summary: Default::default(),
            summary_class: "same",
        };
        let Some(m) = measured.iter().find(|m| m.target == status.target) else {
            out.push(detail);
            continue;
        };
        detail.status = "done".into();
        let mut facts = vec![
            ("format", m.format.clone()),
            ("arch", m.arch.clone()),
            ("language", m.language.clone()),
            ("stripped", m.stripped.to_string()),
        ];
        let toolchain = &m.toolchain;
        for (key, value) in [("rustc", &toolchain.rustc), ("go", &toolchain.go)] {
            if let Some(v) = value {
                facts.push((key, v.clone()));
            }
        }
        if !toolchain.compilers.is_empty() {
            facts.push(("compilers", toolchain.compilers.join("; ")));
        }
        if let Some(go) = &toolchain.go_build {
            if let Some(path) = &go.path {
                facts.push(("go main module", path.clone()));
            }
            for s in go.settings.iter().take(20) {
                facts.push(("go build", format!("{}={}", s.key, s.value)));
            }
        }
        detail.facts = facts
            .into_iter()
            .map(|(k, v)| KeyValue {
                key: k.to_owned(),
                value: v,
            })
            .collect();
        detail.sizes = Metric::ALL
            .iter()
            .filter(|metric| !metric.image_only() || m.sizes.uncompressed > 0)
            .map(|&metric| KeyValue {
                key: metric.as_str().to_owned(),
                value: human::size(m.sizes.get(metric)),
            })
            .collect();
        detail.sections = m
            .sections
            .iter()
            .map(|s| SectionView {
                name: s.name.clone(),
                kind: s.kind.clone(),
                file: human::size(view::unsigned(s.file_size)),
                vm: human::size(view::unsigned(s.vm_size)),
            })
            .collect();
        let units: Vec<(String, u64)> = m
            .units
            .iter()
            .map(|u| (u.name.clone(), view::unsigned(u.size)))
            .collect();
        detail.treemap = treemap_svg(
            &units,
            &format!(
                "{}: shipped bytes by unit (largest: {})",
                status.target,
                m.units
                    .iter()
                    .max_by_key(|u| u.size)
                    .map_or("none", |u| u.name.as_str())
            ),
        );
        if m.sizes.uncompressed > 0 {
            // The layers and files live in the report only.
            match state
                .store
                .read_report(state.blobs.as_ref(), &m.report_key)
                .await
            {
                Ok(report) => {
                    detail.image = Some(super::image::ImageView::new(&status.target, &report));
                }
                Err(e) => tracing::warn!(error = %e, "reading an image report"),
            }
        }
        let mut sorted = units.clone();
        sorted.sort_by_key(|unit| std::cmp::Reverse(unit.1));
        detail.units = sorted
            .into_iter()
            .map(|(name, size)| KeyValue {
                key: name,
                value: human::size(size),
            })
            .collect();
        detail.symbols = m
            .symbols
            .iter()
            .take(TOP_SYMBOLS)
            .map(|s| SymbolView {
                name: s.name.clone(),
                unit: s.unit.clone(),
                section: s.section.clone(),
                size: human::size(view::unsigned(s.size)),
            })
            .collect();
        detail.advice = m
            .advice
            .iter()
            .map(|a| {
                if a.saving > 0 {
                    format!("{} (saves about {})", a.message, human::size(a.saving))
                } else {
                    a.message.clone()
                }
            })
            .collect();
        let head_shipped = m.sizes.shipped;
        detail.summary = [
            "—".into(),
            human::size(head_shipped),
            "no baseline".into(),
            String::new(),
        ];
        let found = match baselines.for_target(&status.target) {
            Ok(_) => measured_baselines.remove(&m.target_id),
            Err(reason) => {
                detail.baseline_missing = format!("no baseline: {reason}");
                out.push(detail);
                continue;
            }
        };
        match found {
            None => {
                detail.baseline_missing = "no measured baseline: neither the pull request base nor the first-parent ancestors sent with the upload have this target".into();
            }
            Some((base_sha, base_key)) => {
                let read = |key: &str| match reports.get(key) {
                    Some(Ok(report)) => Ok(report),
                    Some(Err(e)) => Err(e.to_string()),
                    None => Err(format!("report `{key}` not read")),
                };
                let diff = read(&base_key)
                    .and_then(|old| Ok(sizegate_analyze::diff(old, read(&m.report_key)?)));
                match diff {
                    Ok(diff) => {
                        let (old, new) = (diff.old.sizes.shipped, diff.new.sizes.shipped);
                        detail.summary = [
                            human::size(old),
                            human::size(new),
                            human::delta(view::signed(new) - view::signed(old)),
                            human::percent(view::signed(new) - view::signed(old), old),
                        ];
                        detail.summary_class = change_class(old, new);
                        detail.baseline =
                            Some(baseline_view(&owner_repo, &base_sha, &diff, change_limit));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "reading reports for a diff");
                        detail.baseline_missing = format!(
                            "baseline {} found, but its stored report could not be read",
                            short(&base_sha)
                        );
                    }
                }
            }
        }
        out.push(detail);
    }
    Ok(out)
}

#[derive(Template)]
#[template(path = "commit.html")]
struct CommitPage {
    logged_in: bool,
    repo: String,
    repo_href: String,
    sha: String,
    branch: String,
    pull: String,
    pull_href: String,
    verdict: Option<VerdictView>,
    include_comment: bool,
    verdict_missing: &'static str,
    targets: Vec<TargetDetail>,
}

/// `/repos/{owner}/{repo}/commits/{sha}`.
pub(super) async fn commit_page(
    State(state): State<AppState>,
    reader: Reader,
    Path((owner, repo, sha)): Path<(String, String, String)>,
) -> Result<Html<String>, PageError> {
    let repository = view::repository(&state, reader, &owner, &repo).await?;
    let commit = crate::api::uploaded_commit(&state, repository.id, &owner, &repo, &sha).await?;
    let sha = commit.sha.clone();
    let stored = state.store.commit_evaluation(repository.id, &sha).await?;
    let baselines = BaselineChoice::new(&commit, stored.as_ref());
    let targets = target_details(&state, &repository, &commit, &baselines, COMMIT_CHANGES).await?;
    let verdict = stored.map(|stored| verdict_view(&format!("{owner}/{repo}"), &stored));
    Ok(Html(
        CommitPage {
            logged_in: reader.can_read_private,
            repo: format!("{owner}/{repo}"),
            repo_href: format!("/repos/{owner}/{repo}"),
            branch: commit.branch.clone().unwrap_or_default(),
            pull: commit
                .pr_number
                .map(|n| format!("#{n}"))
                .unwrap_or_default(),
            pull_href: commit
                .pr_number
                .map(|n| format!("/repos/{owner}/{repo}/pulls/{n}"))
                .unwrap_or_default(),
            sha,
            verdict,
            include_comment: false,
            verdict_missing: "",
            targets,
        }
        .render()?,
    ))
}

struct PushView {
    sha: String,
    short: String,
    href: String,
    date: String,
    base: String,
    sizes: String,
}

#[derive(Template)]
#[template(path = "pull.html")]
struct PullPage {
    logged_in: bool,
    repo: String,
    repo_href: String,
    number: i64,
    head: String,
    head_short: String,
    head_href: String,
    pushes: Vec<PushView>,
    verdict: Option<VerdictView>,
    include_comment: bool,
    verdict_missing: &'static str,
    targets: Vec<TargetDetail>,
}

/// `/repos/{owner}/{repo}/pulls/{number}`.
pub(super) async fn pull_page(
    State(state): State<AppState>,
    reader: Reader,
    Path((owner, repo, number)): Path<(String, String, String)>,
) -> Result<Html<String>, PageError> {
    let repository = view::repository(&state, reader, &owner, &repo).await?;
    let number: i64 = number.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::NotFound(format!("no pull request `{}`", number.escape_default()))
    })?;
    let pushes = state
        .store
        .pull_request_pushes(repository.id, number)
        .await?;
    let Some(head) = pushes.last() else {
        return Err(ApiError::NotFound(format!(
            "no upload for pull request #{number} in {owner}/{repo}"
        ))
        .into());
    };
    let commit = state
        .store
        .commit_status(repository.id, &head.sha)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("commit {} vanished", head.sha)))?;
    let stored = state
        .store
        .commit_evaluation(repository.id, &head.sha)
        .await?;
    let baselines = BaselineChoice::new(&commit, stored.as_ref());
    let targets = target_details(&state, &repository, &commit, &baselines, MAX_PR_CHANGES).await?;
    let verdict = stored.map(|stored| verdict_view(&format!("{owner}/{repo}"), &stored));
    let shas: Vec<String> = pushes.iter().map(|p| p.sha.clone()).collect();
    let mut sizes: HashMap<String, Vec<String>> = HashMap::new();
    for (sha, target, shipped) in state.store.shipped_sizes(repository.id, &shas).await? {
        sizes
            .entry(sha)
            .or_default()
            .push(format!("{target} {}", human::size(shipped)));
    }
    let push_views = pushes
        .iter()
        .rev()
        .map(|push| PushView {
            short: short(&push.sha).to_owned(),
            href: format!("/repos/{owner}/{repo}/commits/{}", push.sha),
            date: date(push.created_at),
            base: push
                .base_sha
                .as_deref()
                .map(short)
                .unwrap_or("—")
                .to_owned(),
            sizes: sizes
                .get(&push.sha)
                .map(|list| list.join(", "))
                .unwrap_or_default(),
            sha: push.sha.clone(),
        })
        .collect();
    Ok(Html(
        PullPage {
            logged_in: reader.can_read_private,
            repo: format!("{owner}/{repo}"),
            repo_href: format!("/repos/{owner}/{repo}"),
            number,
            head_short: short(&head.sha).to_owned(),
            head_href: format!("/repos/{owner}/{repo}/commits/{}", head.sha),
            head: head.sha.clone(),
            pushes: push_views,
            verdict,
            include_comment: true,
            verdict_missing: "The gate's verdict for this push appears here once the worker has evaluated it.",
            targets,
        }
        .render()?,
    ))
}
