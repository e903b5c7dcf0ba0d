//! What the worker hands to [`crate::evaluate()`]: every target uploaded for
//! the head commit with its state and baseline, the targets only the baseline
//! has, the event (pull request or push) and the chosen config.

use sizegate_analyze::{Advice, Report, ReportDiff, Sizes};

use crate::selection::{BaselineCommit, ChosenConfig, NoBaseline};

/// Everything needed to judge one commit.
#[derive(Debug, Clone)]
pub struct GateInput<'a> {
    /// Pull request (with its labels) or push.
    pub event: Event,
    /// The config that judges, from [`crate::choose_config`].
    pub config: ChosenConfig<'a>,
    /// Every target uploaded for the head commit, measured or not.
    pub targets: Vec<TargetInput>,
    /// Targets the baseline has and the head commit has not (reported as
    /// missing).
    pub baseline_only: Vec<BaselineOnlyTarget>,
}

/// What triggered the evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A pull request.
    PullRequest {
        /// Its number.
        number: u64,
        /// Its labels (names), for the approval label.
        labels: Vec<String>,
    },
    /// A push to a branch.
    Push,
}

/// One target uploaded for the head commit.
#[derive(Debug, Clone)]
pub struct TargetInput {
    /// Target name, e.g. `x86_64-unknown-linux-gnu/app`.
    pub name: String,
    /// Its state at the head commit.
    pub head: HeadState,
    /// Its baseline, or why there is none.
    pub baseline: BaselineState,
    /// The diff of the baseline report against the head report, when both
    /// exist (`sizegate_analyze::diff`); feeds the details of the comment.
    pub diff: Option<ReportDiff>,
}

/// A target's state at the head commit.
#[derive(Debug, Clone)]
pub enum HeadState {
    /// Uploaded, not measured yet.
    Pending,
    /// The analysis failed; the message says why.
    Failed {
        /// The analyzer's error.
        error: String,
    },
    /// Measured.
    Measured(Measurement),
}

/// A target's baseline.
#[derive(Debug, Clone)]
pub enum BaselineState {
    /// A baseline commit measured this target.
    Found {
        /// The commit, from [`crate::choose_baseline`].
        commit: BaselineCommit,
        /// Its measurement.
        measurement: Measurement,
    },
    /// There is none.
    None(NoBaseline),
}

/// The figures of one measured artifact that the gate needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measurement {
    /// Headline sizes.
    pub sizes: Sizes,
    /// Unit (crate, Go package) sizes, for `[[budget.unit]]`.
    pub units: Vec<UnitSize>,
    /// The analyzer's advice for this artifact.
    pub advice: Vec<Advice>,
    /// Whether the artifact is a container image (it alone has the
    /// `compressed`, `uncompressed` and `pull` metrics).
    pub image: bool,
    /// Container images: each layer as `layer:<index>` (0 is the bottom
    /// layer) with its uncompressed size, then each file the report lists
    /// by its path (`/usr/local/bin/app`), for `[[budget.unit]]` globs.
    pub image_units: Vec<UnitSize>,
}

/// The size of one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitSize {
    /// Crate or package name.
    pub name: String,
    /// Shipped bytes charged to it.
    pub size: u64,
    /// The crate or module version, where the binary says so.
    pub version: Option<String>,
}

impl Measurement {
    /// The figures of a report.
    pub fn from_report(report: &Report) -> Measurement {
        Measurement {
            sizes: report.sizes,
            units: report
                .units
                .iter()
                .map(|u| UnitSize {
                    name: u.name.clone(),
                    size: u.size,
                    version: u.version.clone(),
                })
                .collect(),
            advice: report.advice.clone(),
            image: report.format.is_image(),
            image_units: image_units(report),
        }
    }

    /// Every name a `[[budget.unit]]` glob may match: the units, then (for
    /// an image) its layers and files.
    pub fn budgetable_units(&self) -> impl Iterator<Item = &UnitSize> {
        self.units.iter().chain(&self.image_units)
    }
}

/// The layers (`layer:<index>`) and the listed files (by path) of an image.
fn image_units(report: &Report) -> Vec<UnitSize> {
    let layers = report.layers.iter().enumerate().map(|(i, l)| UnitSize {
        name: format!("layer:{i}"),
        size: l.uncompressed_size,
        version: None,
    });
    // A file in a `bin` directory is its own path unit already.
    let files = report
        .files
        .iter()
        .filter(|f| !report.units.iter().any(|u| u.name == f.path))
        .map(|f| UnitSize {
            name: f.path.clone(),
            size: f.size,
            version: None,
        });
    layers.chain(files).collect()
}

/// A target the baseline has and the head commit has not.
#[derive(Debug, Clone)]
pub struct BaselineOnlyTarget {
    /// Target name.
    pub name: String,
    /// The baseline commit that measured it.
    pub commit: BaselineCommit,
    /// Its sizes there.
    pub sizes: Sizes,
}
