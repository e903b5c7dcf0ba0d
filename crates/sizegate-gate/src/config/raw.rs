//! The shapes serde reads before they are checked into the public types:
//! a budget must set at least one limit, a percentage must be a finite
//! number of 0 or more, a label must not be empty.

use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::{AlertsConfig, Budget, Glob, MinChange, UnitBudget};
use crate::format::Units;
use crate::size::{ByteSize, ByteSizeVisitor, parse_size};
use sizegate_analyze::Metric;

/// `approve_label`: a non-empty string.
#[derive(Debug)]
pub(super) struct Label(pub String);

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim().is_empty() {
            return Err(de::Error::custom(
                "the label is empty; remove the key to turn approval off",
            ));
        }
        Ok(Label(text))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[budget]] table")]
pub(super) struct RawBudget {
    target: Glob,
    metric: Option<sizegate_analyze::Metric>,
    max_size: Option<WrittenSize>,
    max_increase: Option<WrittenSize>,
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
        let decimal = [raw.max_size, raw.max_increase]
            .iter()
            .flatten()
            .any(|s| s.units == Units::Decimal);
        Ok(Budget {
            target: raw.target,
            metric: raw.metric,
            max_size: raw.max_size.map(|s| s.bytes),
            max_increase: raw.max_increase.map(|s| s.bytes),
            max_increase_percent: raw.max_increase_percent.map(|p| p.0),
            unit: raw.unit,
            units: if decimal {
                Units::Decimal
            } else {
                Units::Binary
            },
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[budget.unit]] table")]
pub(super) struct RawUnitBudget {
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

/// A size and the units it was written in (`"8 MB"` is decimal; a bare
/// number or a binary unit is binary).
#[derive(Debug, Clone, Copy)]
struct WrittenSize {
    bytes: ByteSize,
    units: Units,
}

impl<'de> Deserialize<'de> for WrittenSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WrittenSizeVisitor)
    }
}

/// Reads a size like [`ByteSize`] does, keeping the units of a string.
struct WrittenSizeVisitor;

impl<'de> de::Visitor<'de> for WrittenSizeVisitor {
    type Value = WrittenSize;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        de::Visitor::expecting(&ByteSizeVisitor, f)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<WrittenSize, E> {
        ByteSizeVisitor.visit_u64(v).map(WrittenSize::binary)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<WrittenSize, E> {
        ByteSizeVisitor.visit_i64(v).map(WrittenSize::binary)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<WrittenSize, E> {
        ByteSizeVisitor.visit_f64(v).map(WrittenSize::binary)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<WrittenSize, E> {
        Ok(WrittenSize {
            bytes: parse_size(v).map_err(E::custom)?,
            units: units_of(v),
        })
    }
}

impl WrittenSize {
    fn binary(bytes: ByteSize) -> WrittenSize {
        WrittenSize {
            bytes,
            units: Units::Binary,
        }
    }
}

/// Decimal when the unit is `kB`, `MB`, `GB` or `TB`.
fn units_of(text: &str) -> Units {
    let unit = text
        .trim()
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
        .trim()
        .to_ascii_lowercase();
    if matches!(unit.as_str(), "kb" | "mb" | "gb" | "tb") {
        Units::Decimal
    } else {
        Units::Binary
    }
}

/// `min_change`: a size or a percentage such as `"0.5%"`.
#[derive(Debug)]
pub(super) struct RawMinChange(pub MinChange);

impl From<RawMinChange> for MinChange {
    fn from(raw: RawMinChange) -> MinChange {
        raw.0
    }
}

/// `[alerts]` as written: every key optional, counts at least 1.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [alerts] table")]
pub(super) struct RawAlerts {
    enabled: Option<bool>,
    metric: Option<Metric>,
    min_step: Option<RawMinChange>,
    window: Option<Count>,
    confirm: Option<Count>,
}

impl TryFrom<RawAlerts> for AlertsConfig {
    type Error = String;

    fn try_from(raw: RawAlerts) -> Result<AlertsConfig, String> {
        let defaults = AlertsConfig::default();
        Ok(AlertsConfig {
            enabled: raw.enabled.unwrap_or(defaults.enabled),
            metric: raw.metric.unwrap_or(defaults.metric),
            min_step: raw.min_step.map_or(defaults.min_step, |m| m.0),
            window: raw.window.map_or(defaults.window, |c| c.0),
            confirm: raw.confirm.map_or(defaults.confirm, |c| c.0),
        })
    }
}

/// A count of points: an integer from 1 to 1000.
#[derive(Debug, Clone, Copy)]
struct Count(usize);

/// Largest `window` or `confirm`: more points cost time on every push and
/// never make a step clearer.
const MAX_COUNT: i64 = 1000;

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = i64::deserialize(deserializer)
            .map_err(|_| de::Error::custom("expected a number of points, an integer such as 10"))?;
        if !(1..=MAX_COUNT).contains(&value) {
            return Err(de::Error::custom(format_args!(
                "`{value}` points: write an integer from 1 to {MAX_COUNT}"
            )));
        }
        usize::try_from(value)
            .map(Count)
            .map_err(|_| de::Error::custom("the number of points does not fit"))
    }
}

impl<'de> Deserialize<'de> for RawMinChange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const EXPECTED: &str =
            "expected a size or a percentage of the baseline, such as \"2 KiB\", 4096 or \"0.5%\"";
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Text(String),
            Bytes(u64),
        }
        match Written::deserialize(deserializer) {
            Ok(Written::Bytes(bytes)) => Ok(RawMinChange(MinChange::Bytes(ByteSize(bytes)))),
            Ok(Written::Text(text)) => match text.trim().strip_suffix('%') {
                Some(number) => match number.trim().parse::<f64>() {
                    Ok(p) if p.is_finite() && p >= 0.0 => Ok(RawMinChange(MinChange::Percent(p))),
                    _ => Err(de::Error::custom(format_args!(
                        "`{text}` is not a percentage; {EXPECTED}"
                    ))),
                },
                None => parse_size(&text)
                    .map(|bytes| RawMinChange(MinChange::Bytes(bytes)))
                    .map_err(|e| {
                        de::Error::custom(format_args!("{e}; or a percentage such as \"0.5%\""))
                    }),
            },
            Err(_) => Err(de::Error::custom(EXPECTED)),
        }
    }
}
