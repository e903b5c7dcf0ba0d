//! The shapes serde reads before they are checked into the public types:
//! a budget must set at least one limit, a percentage must be a finite
//! number of 0 or more, a label must not be empty.

use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::{Budget, Glob, UnitBudget};
use crate::size::ByteSize;

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
