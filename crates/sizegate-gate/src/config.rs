//! `sizegate.toml`: the metric, the approval label and the budgets, parsed
//! into typed values. Every error names the file, the line and the field
//! (`sizegate.toml:7: budget[0].max_size: ...`); unknown keys are errors, with
//! a suggestion when one is close to a known key.

use std::fmt;

use globset::{GlobBuilder, GlobMatcher};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use sizegate_analyze::Metric;

use crate::size::ByteSize;

/// Largest `sizegate.toml` accepted, in bytes. Real files are a few hundred
/// bytes; the limit keeps a hostile upload from costing memory and time.
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;

/// A parsed and validated `sizegate.toml`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Config {
    /// The size budgets are measured in (default `shipped`).
    pub metric: Metric,
    /// A pull request carrying this label passes even when over budget.
    pub approve_label: Option<String>,
    /// The `[[budget]]` tables, in file order. The first whose `target`
    /// glob matches a target judges it.
    pub budgets: Vec<Budget>,
}

/// One `[[budget]]` table: limits for the targets its glob matches.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawBudget")]
pub struct Budget {
    /// Glob over target names, e.g. `x86_64-unknown-linux-gnu/*`.
    pub target: Glob,
    /// Largest allowed size.
    pub max_size: Option<ByteSize>,
    /// Largest allowed growth against the baseline.
    pub max_increase: Option<ByteSize>,
    /// Largest allowed growth against the baseline, in percent of it.
    pub max_increase_percent: Option<f64>,
    /// Per-unit (crate, Go package) limits, `[[budget.unit]]`.
    pub unit: Vec<UnitBudget>,
}

/// One `[[budget.unit]]` table: limits for the units (crates, Go packages)
/// its glob matches, each unit judged on its own.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawUnitBudget")]
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

    /// A short description of the limits, e.g. `≤ 8.0 MiB, ≤ +64.0 KiB, ≤ +1.0%`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(max) = self.max_size {
            parts.push(format!("≤ {max}"));
        }
        if let Some(max) = self.max_increase {
            parts.push(format!("≤ +{max}"));
        }
        if let Some(max) = self.max_increase_percent {
            parts.push(format!("≤ +{max:.1}%"));
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
    /// file in error messages (usually `sizegate.toml`).
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        if text.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError {
                origin: origin.to_string(),
                line: None,
                path: String::new(),
                message: format!(
                    "the file is {} bytes; a sizegate.toml may be at most {MAX_CONFIG_BYTES} bytes",
                    text.len()
                ),
            });
        }
        let located =
            |span: Option<std::ops::Range<usize>>, path: String, message: String| ConfigError {
                origin: origin.to_string(),
                line: span.map(|s| line_of(text, s.start)),
                path,
                message,
            };
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|e| located(e.span(), String::new(), e.message().to_string()))?;
        let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let span = span_at(text, e.path());
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let inner = e.into_inner();
            located(
                span.or(inner.span()),
                path,
                improve_message(inner.message()),
            )
        })?;
        Ok(Config {
            metric: raw.metric.unwrap_or_default(),
            approve_label: raw.approve_label,
            budgets: raw.budget,
        })
    }

    /// The budget that judges `target`: the first whose glob matches.
    pub fn budget_for(&self, target: &str) -> Option<(usize, &Budget)> {
        self.budgets
            .iter()
            .enumerate()
            .find(|(_, b)| b.target.is_match(target))
    }
}

/// What is wrong with a `sizegate.toml`, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// File name as given to [`Config::parse`].
    pub origin: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Field path such as `budget[0].max_size`; empty for syntax errors.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// The file as serde sees it; checked into [`Config`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    metric: Option<Metric>,
    #[serde(default, deserialize_with = "label")]
    approve_label: Option<String>,
    #[serde(default)]
    budget: Vec<Budget>,
}

fn label<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.trim().is_empty() {
        return Err(de::Error::custom(
            "the label is empty; remove the key to turn approval off",
        ));
    }
    Ok(Some(text))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    target: Glob,
    max_size: Option<ByteSize>,
    max_increase: Option<ByteSize>,
    max_increase_percent: Option<Percent>,
    #[serde(default)]
    unit: Vec<UnitBudget>,
}

impl TryFrom<RawBudget> for Budget {
    type Error = String;

    fn try_from(raw: RawBudget) -> Result<Budget, String> {
        if raw.max_size.is_none()
            && raw.max_increase.is_none()
            && raw.max_increase_percent.is_none()
            && raw.unit.is_empty()
        {
            return Err(format!(
                "the budget for `{}` sets no limit: add max_size, max_increase, \
                 max_increase_percent or a [[budget.unit]]",
                raw.target.as_str()
            ));
        }
        Ok(Budget {
            target: raw.target,
            max_size: raw.max_size,
            max_increase: raw.max_increase,
            max_increase_percent: raw.max_increase_percent.map(|p| p.0),
            unit: raw.unit,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnitBudget {
    name: Glob,
    max_size: Option<ByteSize>,
    max_increase: Option<ByteSize>,
}

impl TryFrom<RawUnitBudget> for UnitBudget {
    type Error = String;

    fn try_from(raw: RawUnitBudget) -> Result<UnitBudget, String> {
        if raw.max_size.is_none() && raw.max_increase.is_none() {
            return Err(format!(
                "the unit budget for `{}` sets no limit: add max_size or max_increase",
                raw.name.as_str()
            ));
        }
        Ok(UnitBudget {
            name: raw.name,
            max_size: raw.max_size,
            max_increase: raw.max_increase,
        })
    }
}

/// A percentage: finite and not negative.
#[derive(Debug, Clone, Copy)]
struct Percent(f64);

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Number {
            Int(i64),
            Float(f64),
        }
        let value = match Number::deserialize(deserializer) {
            Ok(Number::Int(i)) => i as f64,
            Ok(Number::Float(f)) => f,
            Err(_) => {
                return Err(de::Error::custom(
                    "expected a percentage as a number, such as 1.0 or 5",
                ));
            }
        };
        if !value.is_finite() || value < 0.0 {
            return Err(de::Error::custom(format_args!(
                "`{value}` is not a percentage: write a number of 0 or more, such as 1.0"
            )));
        }
        Ok(Percent(value))
    }
}

/// Every key the file may hold, for suggestions.
const KNOWN_KEYS: &[&str] = &[
    "metric",
    "approve_label",
    "budget",
    "target",
    "max_size",
    "max_increase",
    "max_increase_percent",
    "unit",
    "name",
];

/// Add a "did you mean" to serde's unknown-field message.
fn improve_message(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((field, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    // serde lists the allowed names in backticks after the field.
    let allowed: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let candidates: &[&str] = if allowed.is_empty() {
        KNOWN_KEYS
    } else {
        &allowed
    };
    let closest = candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(field, c), *c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let list = if allowed.is_empty() {
        String::new()
    } else {
        format!("; allowed here: {}", allowed.join(", "))
    };
    match closest {
        Some((_, suggestion)) => {
            format!("unknown key `{field}` (did you mean `{suggestion}`?){list}")
        }
        None => format!("unknown key `{field}`{list}"),
    }
}

/// The span of the value at `path` in the document tree. serde's errors
/// place every table of an array of tables (`[[budget]]`) at the first one;
/// the tree knows where each is.
fn span_at(text: &str, path: &serde_path_to_error::Path) -> Option<std::ops::Range<usize>> {
    use serde_path_to_error::Segment;
    use toml::de::{DeArray, DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
    let mut array: Option<&DeArray<'_>> = None;
    let mut span = None;
    for segment in path.iter() {
        let value = match segment {
            Segment::Map { key } => {
                table?
                    .iter()
                    .find(|(k, _)| k.get_ref().as_ref() == key.as_str())?
                    .1
            }
            Segment::Seq { index } => array?.get(*index)?,
            Segment::Enum { .. } | Segment::Unknown => return span,
        };
        span = Some(value.span());
        (table, array) = match value.get_ref() {
            DeValue::Table(t) => (Some(t), None),
            DeValue::Array(a) => (None, Some(a)),
            _ => (None, None),
        };
    }
    span
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
