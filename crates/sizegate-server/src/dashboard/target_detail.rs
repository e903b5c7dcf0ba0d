//! What the commit and pull request pages show of one target: sizes,
//! sections, a treemap of units, top symbols, advice, toolchain facts and
//! the diff against its baseline. Built by pure functions from what the
//! page read (`commit.rs` loads), so the view is tested without a database.

use std::collections::HashMap;
use std::fmt::Display;

use sizegate_analyze::{Change, Metric, Report, ReportDiff, human};
use sizegate_gate::CommitHistory;
use sizegate_store::MeasuredTarget;
use sizegate_store::evaluations::StoredEvaluation;
use sizegate_store::history::{CommitStatus, TargetStatus};

use super::image::ImageView;
use super::treemap::treemap_svg;
use super::view::{self, change, change_class, short, url};

/// Symbols listed per target.
const TOP_SYMBOLS: usize = 25;
/// Go build settings listed per target.
const GO_SETTINGS: usize = 20;

pub(super) struct KeyValue {
    pub(super) key: String,
    pub(super) value: String,
}

pub(super) struct ChangeRow {
    pub(super) name: String,
    pub(super) old: String,
    pub(super) new: String,
    pub(super) delta: String,
    pub(super) class: &'static str,
}

pub(super) struct ChangeTable {
    pub(super) title: &'static str,
    pub(super) rows: Vec<ChangeRow>,
    pub(super) more: usize,
}

pub(super) struct Baseline {
    pub(super) sha: String,
    pub(super) short: String,
    pub(super) href: String,
    /// Per headline metric: name, old, new, change.
    pub(super) sizes: Vec<[String; 4]>,
    pub(super) tables: Vec<ChangeTable>,
    pub(super) causes: Vec<String>,
}

pub(super) struct SectionView {
    pub(super) name: String,
    pub(super) kind: String,
    pub(super) file: String,
    pub(super) vm: String,
}

pub(super) struct SymbolView {
    pub(super) name: String,
    pub(super) unit: String,
    pub(super) section: String,
    pub(super) size: String,
}

pub(super) struct TargetDetail {
    pub(super) name: String,
    pub(super) anchor: String,
    pub(super) href: String,
    pub(super) status: String,
    /// How the build shown was uploaded, and whether it can be a baseline.
    pub(super) provenance: String,
    pub(super) provenance_title: &'static str,
    pub(super) error: String,
    pub(super) facts: Vec<KeyValue>,
    pub(super) sizes: Vec<KeyValue>,
    pub(super) sections: Vec<SectionView>,
    pub(super) treemap: String,
    /// A container image's layer chart and file treemap.
    pub(super) image: Option<ImageView>,
    pub(super) units: Vec<KeyValue>,
    pub(super) symbols: Vec<SymbolView>,
    pub(super) advice: Vec<String>,
    pub(super) baseline: Option<Baseline>,
    pub(super) baseline_missing: String,
    /// For the PR summary: baseline, head, change in `shipped`.
    pub(super) summary: [String; 4],
    pub(super) summary_class: &'static str,
}

/// Which commit each target's diff is against: the baseline stored with the
/// commit's evaluation, so the page shows what the verdict judged; for a
/// target the evaluation has not seen yet, the gate's own candidates.
pub(super) struct BaselineChoice {
    /// Per target the evaluation judged: its baseline sha, or why it had
    /// none.
    evaluated: HashMap<String, Result<String, String>>,
    /// The gate's candidates ([`CommitHistory::candidate_shas`]).
    candidates: Vec<String>,
}

impl BaselineChoice {
    pub(super) fn new(commit: &CommitStatus, stored: Option<&StoredEvaluation>) -> Self {
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
    pub(super) fn for_target(&self, target: &str) -> Result<Vec<String>, String> {
        match self.evaluated.get(target) {
            Some(Ok(sha)) => Ok(vec![sha.clone()]),
            Some(Err(reason)) => Err(reason.clone()),
            None => Ok(self.candidates.clone()),
        }
    }
}

/// What became of a measured target's baseline.
pub(super) enum BaselineOutcome {
    /// The evaluation judged it without a baseline, for this reason.
    Refused(String),
    /// No candidate commit has a measured build of the target.
    NotMeasured,
    /// The baseline at this sha was found, but a report could not be read.
    Unreadable(String),
    /// The diff against the baseline at `sha`.
    Diff { sha: String, diff: Box<ReportDiff> },
}

/// Decide the baseline of `measured`: the choice's verdict, the measured
/// baseline found among its candidates (sha, report key), and the diff of
/// the two reports read.
pub(super) fn decide_baseline<E: Display>(
    choice: &BaselineChoice,
    measured: &MeasuredTarget,
    found: Option<&(String, String)>,
    reports: &HashMap<String, Result<Report, E>>,
) -> BaselineOutcome {
    if let Err(reason) = choice.for_target(&measured.target) {
        return BaselineOutcome::Refused(reason);
    }
    let Some((sha, base_key)) = found else {
        return BaselineOutcome::NotMeasured;
    };
    let read = |key: &str| match reports.get(key) {
        Some(Ok(report)) => Ok(report),
        Some(Err(e)) => Err(e.to_string()),
        None => Err(format!("report `{key}` not read")),
    };
    match read(base_key)
        .and_then(|old| Ok(sizegate_analyze::diff(old, read(&measured.report_key)?)))
    {
        Ok(diff) => BaselineOutcome::Diff {
            sha: sha.clone(),
            diff: Box::new(diff),
        },
        Err(e) => {
            tracing::warn!(error = %e, "reading reports for a diff");
            BaselineOutcome::Unreadable(sha.clone())
        }
    }
}

/// What the page knows of a measured target.
pub(super) struct Measured<'a> {
    pub(super) measurement: &'a MeasuredTarget,
    /// A container image's full report (its layers and files live there
    /// only); `None` for a binary or when it could not be read.
    pub(super) image: Option<&'a Report>,
    pub(super) baseline: BaselineOutcome,
}

/// The view of one target of a commit `owner_repo`, with at most
/// `change_limit` rows per change table.
pub(super) fn target_detail(
    owner_repo: &str,
    status: &TargetStatus,
    measured: Option<Measured<'_>>,
    change_limit: usize,
) -> TargetDetail {
    let mut detail = unmeasured_detail(owner_repo, status);
    let Some(Measured {
        measurement: m,
        image,
        baseline,
    }) = measured
    else {
        return detail;
    };
    detail.status = "done".into();
    detail.facts = facts(m);
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
    let (treemap, units) = units_view(&status.target, m);
    detail.treemap = treemap;
    detail.units = units;
    detail.image = image.map(|report| ImageView::new(&status.target, report));
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
        .map(|a| match a.saving {
            0 => a.message.clone(),
            saving => format!("{} (saves about {})", a.message, human::size(saving)),
        })
        .collect();
    show_baseline(
        &mut detail,
        owner_repo,
        m.sizes.shipped,
        baseline,
        change_limit,
    );
    detail
}

/// A target as its job left it (name, links, status, provenance, error);
/// nothing measured yet.
fn unmeasured_detail(owner_repo: &str, status: &TargetStatus) -> TargetDetail {
    TargetDetail {
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
    }
}

/// Format, architecture, language, stripping and the toolchain's facts.
fn facts(m: &MeasuredTarget) -> Vec<KeyValue> {
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
        for s in go.settings.iter().take(GO_SETTINGS) {
            facts.push(("go build", format!("{}={}", s.key, s.value)));
        }
    }
    facts
        .into_iter()
        .map(|(k, v)| KeyValue {
            key: k.to_owned(),
            value: v,
        })
        .collect()
}

/// The treemap of the units in report order, and the units largest first.
fn units_view(target: &str, m: &MeasuredTarget) -> (String, Vec<KeyValue>) {
    let units: Vec<(String, u64)> = m
        .units
        .iter()
        .map(|u| (u.name.clone(), view::unsigned(u.size)))
        .collect();
    let largest = m
        .units
        .iter()
        .max_by_key(|u| u.size)
        .map_or("none", |u| u.name.as_str());
    let treemap = treemap_svg(
        &units,
        &format!("{target}: shipped bytes by unit (largest: {largest})"),
    );
    let mut sorted = units;
    sorted.sort_by_key(|unit| std::cmp::Reverse(unit.1));
    let listed = sorted
        .into_iter()
        .map(|(name, size)| KeyValue {
            key: name,
            value: human::size(size),
        })
        .collect();
    (treemap, listed)
}

/// The PR summary row and the baseline section (or why there is none).
fn show_baseline(
    detail: &mut TargetDetail,
    owner_repo: &str,
    head_shipped: u64,
    outcome: BaselineOutcome,
    change_limit: usize,
) {
    detail.summary = [
        "—".into(),
        human::size(head_shipped),
        "no baseline".into(),
        String::new(),
    ];
    match outcome {
        BaselineOutcome::Refused(reason) => {
            detail.baseline_missing = format!("no baseline: {reason}");
        }
        BaselineOutcome::NotMeasured => {
            detail.baseline_missing = "no measured baseline: neither the pull request base nor the first-parent ancestors sent with the upload have this target".into();
        }
        BaselineOutcome::Unreadable(sha) => {
            detail.baseline_missing = format!(
                "baseline {} found, but its stored report could not be read",
                short(&sha)
            );
        }
        BaselineOutcome::Diff { sha, diff } => {
            let (old, new) = (diff.old.sizes.shipped, diff.new.sizes.shipped);
            let delta = view::signed(new) - view::signed(old);
            detail.summary = [
                human::size(old),
                human::size(new),
                human::delta(delta),
                human::percent(delta, old),
            ];
            detail.summary_class = change_class(old, new);
            detail.baseline = Some(baseline_view(owner_repo, &sha, &diff, change_limit));
        }
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

#[cfg(test)]
mod tests;
