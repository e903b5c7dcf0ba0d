//! `sizegate.toml`: the metric, the approval label and the budgets, parsed
//! into typed values. Every error names the file, the line and the field
//! (`sizegate.toml:7: budget[0].max_size: ...`); unknown keys are errors, with
//! a suggestion when one is close to a known key. One error is reported per
//! top-level key and per `[[budget]]` table, so a file with several mistakes
//! shows them all.

mod locate;
mod raw;

use globset::{GlobBuilder, GlobMatcher};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use sizegate_analyze::Metric;
use toml::de::{DeTable, DeValue};

use crate::format::{Units, plain_percent};
use crate::size::ByteSize;
use crate::steps::StepPolicy;
use locate::Locator;
pub use locate::{ConfigError, ConfigErrors};

/// Largest `sizegate.toml` accepted, in bytes. Real files are a few hundred
/// bytes; the limit keeps a hostile upload from costing memory and time.
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;

/// The keys allowed at the top level of the file.
const TOP_LEVEL_KEYS: [&str; 7] = [
    "metric",
    "approve_label",
    "comment",
    "min_change",
    "missing",
    "budget",
    "alerts",
];

/// A parsed and validated `sizegate.toml`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Config {
    /// The size budgets are measured in (default `shipped`).
    pub metric: Metric,
    /// A pull request carrying this label passes even when over budget.
    pub approve_label: Option<String>,
    /// When the pull request comment is posted (default `on-change`).
    pub comment: CommentMode,
    /// The smallest change that counts; below it a target is unchanged.
    /// `None`: 1 KiB or 0.1% of the baseline, whichever is larger.
    pub min_change: Option<MinChange>,
    /// What a target the baseline has and the head lacks does to the check
    /// (default `neutral`).
    pub missing: MissingPolicy,
    /// The `[[budget]]` tables, in file order. The first whose `target`
    /// glob matches a target judges it.
    pub budgets: Vec<Budget>,
    /// The `[alerts]` table: step detection on protected branches.
    pub alerts: AlertsConfig,
}

/// `[alerts]`: how a step in a target's size on a protected branch is told
/// from noise. Every key is optional.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "raw::RawAlerts")]
pub struct AlertsConfig {
    /// `enabled` (default true): false turns step alerts off for the repository.
    pub enabled: bool,
    /// `metric`: the size steps are measured in (default `shipped`, as budgets).
    pub metric: Metric,
    /// `min_step`: the smallest change of level that is a step, a size
    /// (`"16 KiB"`) or a percent of the level before (`"0.5%"`, the default).
    pub min_step: MinChange,
    /// `window`: how many trailing measured points the new one is compared
    /// with (default 10).
    pub window: usize,
    /// `confirm`: how many points in a row must be past the threshold
    /// before a step is reported (default 1; raise it for noisy builds).
    pub confirm: usize,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        let policy = StepPolicy::default();
        Self {
            enabled: true,
            metric: Metric::default(),
            min_step: policy.min_step,
            window: policy.window,
            confirm: policy.confirm,
        }
    }
}

impl AlertsConfig {
    /// The detector's policy for these settings.
    pub fn step_policy(&self) -> StepPolicy {
        StepPolicy {
            min_step: self.min_step,
            window: self.window,
            confirm: self.confirm,
        }
    }
}

/// One `[[budget]]` table: limits for the targets its glob matches.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "raw::RawBudget")]
pub struct Budget {
    /// Glob over target names, e.g. `x86_64-unknown-linux-gnu/*`.
    pub target: Glob,
    /// The metric its limits measure, when not the top-level `metric`
    /// (e.g. `compressed` for container images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    /// Largest allowed size.
    pub max_size: Option<ByteSize>,
    /// Largest allowed growth against the baseline.
    pub max_increase: Option<ByteSize>,
    /// Largest allowed growth against the baseline, in percent of it.
    pub max_increase_percent: Option<f64>,
    /// Per-unit (crate, Go package) limits, `[[budget.unit]]`.
    pub unit: Vec<UnitBudget>,
    /// Units its sizes were written in (`"8 MB"` is decimal): the comment
    /// writes the sizes of the targets it judges the same way.
    pub units: Units,
}

/// `comment = "always" | "on-change" | "on-failure"`: when the sticky pull
/// request comment is created. An existing comment is always kept up to
/// date (with a one-line "no size change" when there is nothing to say);
/// the check run is posted in every case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommentMode {
    /// On every pull request.
    Always,
    /// When a target changed by at least `min_change`, is new (no
    /// baseline), fails, is missing or failed to analyze.
    #[default]
    OnChange,
    /// Only when the check fails (or a failure is approved by label).
    OnFailure,
}

/// `missing = "fail" | "neutral"`: the check's conclusion when a target the
/// baseline measured was not uploaded for the head commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissingPolicy {
    /// The check fails.
    Fail,
    /// The check is `neutral` (not `success`) and names the missing targets.
    #[default]
    Neutral,
}

/// `min_change`: a size (`"2 KiB"`, `4096`) or a percentage of the
/// baseline (`"0.5%"`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "raw::RawMinChange")]
#[serde(rename_all = "snake_case")]
pub enum MinChange {
    /// A number of bytes.
    Bytes(ByteSize),
    /// A percentage of the baseline size.
    Percent(f64),
}

/// The default `min_change`: 1 KiB or 0.1% of the baseline, whichever is larger.
pub const DEFAULT_MIN_CHANGE_BYTES: u64 = 1024;
/// The default `min_change` in percent of the baseline.
pub const DEFAULT_MIN_CHANGE_PERCENT: f64 = 0.1;

impl Config {
    /// The smallest change of a target whose baseline weighs `base` bytes
    /// that counts as a change, in bytes.
    pub fn min_change_bytes(&self, base: u64) -> u64 {
        let percent = |p: f64| (base as f64 * p / 100.0).ceil() as u64;
        match self.min_change {
            Some(MinChange::Bytes(bytes)) => bytes.bytes(),
            Some(MinChange::Percent(p)) => percent(p),
            None => DEFAULT_MIN_CHANGE_BYTES.max(percent(DEFAULT_MIN_CHANGE_PERCENT)),
        }
    }
}

/// One `[[budget.unit]]` table: limits for the units (crates, Go packages)
/// its glob matches, each unit judged on its own.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "raw::RawUnitBudget")]
pub struct UnitBudget {
    /// Glob over unit names, e.g. `regex*` or `github.com/spf13/*`.
    pub name: Glob,
    /// Largest allowed size of each matching unit.
    pub max_size: Option<ByteSize>,
    /// Largest allowed growth of each matching unit against the baseline.
    pub max_increase: Option<ByteSize>,
}

/// A glob as written in the file, with its compiled matcher. `*` matches
/// any run of characters, `/` included; `?`, `[abc]` and `{a,b}` work as
/// in a shell.
#[derive(Debug, Clone)]
pub struct Glob {
    text: String,
    matcher: GlobMatcher,
}

impl Glob {
    /// Compile a glob.
    pub fn new(text: &str) -> Result<Glob, globset::Error> {
        let glob = GlobBuilder::new(text).literal_separator(false).build()?;
        Ok(Glob {
            text: text.to_string(),
            matcher: glob.compile_matcher(),
        })
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `name` matches.
    pub fn is_match(&self, name: &str) -> bool {
        self.matcher.is_match(name)
    }
}

impl Serialize for Glob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Glob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.is_empty() {
            return Err(de::Error::custom(
                "the glob is empty; `*` matches everything",
            ));
        }
        Glob::new(&text)
            .map_err(|e| de::Error::custom(format_args!("`{text}` is not a glob: {}", e.kind())))
    }
}

impl Budget {
    /// True when a limit needs a baseline to be judged.
    pub fn has_increase_limits(&self) -> bool {
        self.max_increase.is_some()
            || self.max_increase_percent.is_some()
            || self.unit.iter().any(|u| u.max_increase.is_some())
    }

    /// A short description of the limits, e.g. `≤ 8.0 MiB, ≤ +64.0 KiB, ≤ +1%`,
    /// in the units the budget was written in.
    pub fn describe(&self) -> String {
        let size = |b: ByteSize| crate::format::size(b.bytes(), self.units);
        let mut parts = Vec::new();
        if let Some(max) = self.max_size {
            parts.push(format!("≤ {}", size(max)));
        }
        if let Some(max) = self.max_increase {
            parts.push(format!("≤ +{}", size(max)));
        }
        if let Some(max) = self.max_increase_percent {
            parts.push(format!("≤ +{}", plain_percent(max)));
        }
        if !self.unit.is_empty() {
            let n = self.unit.len();
            parts.push(format!("{n} unit limit{}", if n == 1 { "" } else { "s" }));
        }
        parts.join(", ")
    }
}

impl Config {
    /// Parse and validate the text of a `sizegate.toml`. `origin` names the
    /// file in error messages (usually `sizegate.toml`). On error, every
    /// problem found, in line order.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigErrors> {
        let locator = Locator { text, origin };
        if text.len() > MAX_CONFIG_BYTES {
            return Err(ConfigErrors::one(locator.error(
                None,
                String::new(),
                format!(
                    "the file is {} bytes; a sizegate.toml may be at most {MAX_CONFIG_BYTES} bytes",
                    text.len()
                ),
            )));
        }
        let root = DeTable::parse(text).map_err(|e| {
            ConfigErrors::one(locator.error(e.span(), String::new(), e.message().to_string()))
        })?;
        let mut config = Config::default();
        let mut errors = Vec::new();
        for (key, value) in root.get_ref().iter() {
            let name: &str = key.get_ref().as_ref();
            match name {
                "metric" => match locator.deserialize::<Metric>(value, name) {
                    Ok(metric) => config.metric = metric,
                    Err(e) => errors.push(e),
                },
                "approve_label" => match locator.deserialize::<raw::Label>(value, name) {
                    Ok(label) => config.approve_label = Some(label.0),
                    Err(e) => errors.push(e),
                },
                "comment" => match locator.deserialize::<CommentMode>(value, name) {
                    Ok(mode) => config.comment = mode,
                    Err(e) => errors.push(e),
                },
                "missing" => match locator.deserialize::<MissingPolicy>(value, name) {
                    Ok(policy) => config.missing = policy,
                    Err(e) => errors.push(e),
                },
                "min_change" => match locator.deserialize::<raw::RawMinChange>(value, name) {
                    Ok(min) => config.min_change = Some(min.0),
                    Err(e) => errors.push(e),
                },
                "alerts" => match locator.deserialize::<AlertsConfig>(value, name) {
                    Ok(alerts) => config.alerts = alerts,
                    Err(e) => errors.push(e),
                },
                "budget" => match value.get_ref() {
                    DeValue::Array(tables) => {
                        for (i, table) in tables.iter().enumerate() {
                            match locator.deserialize::<Budget>(table, &format!("budget[{i}]")) {
                                Ok(budget) => config.budgets.push(budget),
                                Err(e) => errors.push(e),
                            }
                        }
                    }
                    _ => errors.push(locator.error(
                        Some(value.span()),
                        name.to_string(),
                        "expected [[budget]] tables (an array of tables), not a single value or [budget]"
                            .to_string(),
                    )),
                },
                unknown => errors.push(locator.error(
                    Some(key.span()),
                    unknown.to_string(),
                    locate::unknown_key(unknown, &TOP_LEVEL_KEYS),
                )),
            }
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            errors.sort_by_key(|e| e.line);
            Err(ConfigErrors(errors))
        }
    }

    /// The budget that judges `target`: the first whose glob matches.
    pub fn budget_for(&self, target: &str) -> Option<(usize, &Budget)> {
        self.budgets
            .iter()
            .enumerate()
            .find(|(_, b)| b.target.is_match(target))
    }
}
