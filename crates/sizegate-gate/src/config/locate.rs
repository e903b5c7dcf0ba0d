//! Where a problem is in the file and how to say it: file, line, field path
//! and message, with a suggestion for a mistyped key.

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use serde_path_to_error::Segment;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue, ValueDeserializer};

/// What is wrong with a `sizegate.toml`, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// File name as given to [`crate::Config::parse`].
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

/// Every problem found in a `sizegate.toml`, in line order (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub(super) fn one(error: ConfigError) -> ConfigErrors {
        ConfigErrors(vec![error])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Turns spans and serde errors into [`ConfigError`]s for one file.
#[derive(Debug, Clone, Copy)]
pub(super) struct Locator<'a> {
    pub text: &'a str,
    pub origin: &'a str,
}

impl Locator<'_> {
    /// An error at `span` (a byte range of the file).
    pub fn error(&self, span: Option<Range<usize>>, path: String, message: String) -> ConfigError {
        ConfigError {
            origin: self.origin.to_string(),
            line: span.map(|s| line_of(self.text, s.start)),
            path,
            message,
        }
    }

    /// Deserialize one value of the document; errors are located by the
    /// value's own tree, their path prefixed with `prefix`.
    pub fn deserialize<T>(
        &self,
        value: &Spanned<DeValue<'_>>,
        prefix: &str,
    ) -> Result<T, ConfigError>
    where
        T: for<'de> Deserialize<'de>,
    {
        serde_path_to_error::deserialize(ValueDeserializer::from(value.clone())).map_err(|e| {
            let span = span_at(value, e.path());
            let suffix = e.path().to_string();
            let path = match suffix.as_str() {
                "." => prefix.to_string(),
                s if s.starts_with('[') => format!("{prefix}{s}"),
                s => format!("{prefix}.{s}"),
            };
            let inner = e.into_inner();
            self.error(
                span.or(inner.span()),
                path,
                improve_message(inner.message()),
            )
        })
    }
}

/// Every key the file may hold, for suggestions.
const KNOWN_KEYS: &[&str] = &[
    "metric",
    "approve_label",
    "comment",
    "min_change",
    "missing",
    "budget",
    "target",
    "metric",
    "max_size",
    "max_increase",
    "max_increase_percent",
    "unit",
    "name",
    "alerts",
    "enabled",
    "min_step",
    "window",
    "confirm",
];

/// Add a "did you mean" to serde's unknown-field and unknown-variant
/// messages (a mistyped key, or a mistyped `metric`).
pub(super) fn improve_message(message: &str) -> String {
    let (what, rest) = if let Some(rest) = message.strip_prefix("unknown field `") {
        ("key", rest)
    } else if let Some(rest) = message.strip_prefix("unknown variant `") {
        ("value", rest)
    } else {
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
            format!("unknown {what} `{field}` (did you mean `{suggestion}`?){list}")
        }
        None => format!("unknown {what} `{field}`{list}"),
    }
}

/// The message for a key that is not allowed where it is.
pub(super) fn unknown_key(key: &str, allowed: &[&str]) -> String {
    let list = allowed
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    improve_message(&format!("unknown field `{key}`, expected one of {list}"))
}

/// The span of the value at `path` below `start`. serde's errors place every
/// table of an array of tables (`[[budget.unit]]`) at the first one; the
/// tree knows where each is.
fn span_at(start: &Spanned<DeValue<'_>>, path: &serde_path_to_error::Path) -> Option<Range<usize>> {
    let mut span = start.span();
    let (mut table, mut array) = children(start.get_ref());
    for segment in path.iter() {
        let value = match segment {
            Segment::Map { key } => {
                table?
                    .iter()
                    .find(|(k, _)| k.get_ref().as_ref() == key.as_str())?
                    .1
            }
            Segment::Seq { index } => array?.get(*index)?,
            Segment::Enum { .. } | Segment::Unknown => return Some(span),
        };
        span = value.span();
        (table, array) = children(value.get_ref());
    }
    Some(span)
}

type Children<'v, 'i> = (Option<&'v DeTable<'i>>, Option<&'v DeArray<'i>>);

fn children<'v, 'i>(value: &'v DeValue<'i>) -> Children<'v, 'i> {
    match value {
        DeValue::Table(t) => (Some(t), None),
        DeValue::Array(a) => (None, Some(a)),
        _ => (None, None),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
