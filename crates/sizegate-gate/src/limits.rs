//! The limits of a budget and how a measured target exceeds them: the
//! [`Violation`] type, with the sentences that explain it, and the check of
//! one budget against a head measurement and its baseline.

use serde::{Deserialize, Serialize};
use sizegate_analyze::Metric;

use crate::config::Budget;
use crate::input::Measurement;

/// A limit a target (or one of its units) is over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Violation {
    /// Bigger than `max_size`.
    MaxSize {
        /// The unit, for a `[[budget.unit]]` limit.
        unit: Option<String>,
        /// The limit in bytes.
        limit: u64,
        /// The size in bytes.
        size: u64,
    },
    /// Grew more than `max_increase`.
    MaxIncrease {
        /// The unit, for a `[[budget.unit]]` limit.
        unit: Option<String>,
        /// The limit in bytes.
        limit: u64,
        /// The growth in bytes.
        increase: i64,
    },
    /// Grew more than `max_increase_percent`.
    MaxIncreasePercent {
        /// The limit in percent.
        limit: f64,
        /// The growth in percent.
        increase: f64,
        /// The limit in bytes: that percentage of the baseline size.
        allowed: u64,
        /// The growth in bytes.
        grew: u64,
    },
}

impl Violation {
    /// How far over its limit, in bytes: what ranks the worst failure.
    pub fn excess(&self) -> u64 {
        match self {
            Violation::MaxSize { limit, size, .. } => size.saturating_sub(*limit),
            Violation::MaxIncrease {
                limit, increase, ..
            } => increase.max(&0).unsigned_abs().saturating_sub(*limit),
            Violation::MaxIncreasePercent { allowed, grew, .. } => grew.saturating_sub(*allowed),
        }
    }

    /// The unit the limit is about, for a `[[budget.unit]]` limit.
    pub fn unit(&self) -> Option<&str> {
        match self {
            Violation::MaxSize { unit, .. } | Violation::MaxIncrease { unit, .. } => {
                unit.as_deref()
            }
            Violation::MaxIncreasePercent { .. } => None,
        }
    }

    /// The key of the limit in `sizegate.toml`.
    pub fn key(&self) -> &'static str {
        match self {
            Violation::MaxSize { .. } => "max_size",
            Violation::MaxIncrease { .. } => "max_increase",
            Violation::MaxIncreasePercent { .. } => "max_increase_percent",
        }
    }

    /// A few words for a table cell: the limit and the excess, e.g.
    /// `max_size +1.0 MiB` or `regex: max_increase +12.0 KiB`.
    pub fn short(&self) -> String {
        let unit = self.unit().map(|u| format!("{u}: ")).unwrap_or_default();
        format!(
            "{unit}{} +{}",
            self.key(),
            sizegate_analyze::human::size(self.excess())
        )
    }

    /// One sentence: which limit, and by how much it is exceeded.
    pub fn describe(&self) -> String {
        use sizegate_analyze::human::{delta, size};
        let unit = self
            .unit()
            .map(|u| format!("unit `{u}`: "))
            .unwrap_or_default();
        // A `MaxIncrease` is only found for a growth, so its excess is the
        // growth past the limit.
        let over = size(self.excess());
        match self {
            Violation::MaxSize {
                limit,
                size: actual,
                ..
            } => format!(
                "{unit}{} is over max_size {} by {over}",
                size(*actual),
                size(*limit)
            ),
            Violation::MaxIncrease {
                limit, increase, ..
            } => format!(
                "{unit}grew {}, over max_increase {} by {over}",
                delta(*increase),
                size(*limit)
            ),
            Violation::MaxIncreasePercent {
                limit,
                increase,
                allowed,
                grew,
            } => format!(
                "grew {} ({}), over max_increase_percent {} ({}) by {over}",
                delta(i64::try_from(*grew).unwrap_or(i64::MAX)),
                crate::format::signed_percent(*increase),
                crate::format::plain_percent(*limit),
                size(*allowed)
            ),
        }
    }
}

/// Every limit of `budget` that `head` exceeds. Increase limits are only
/// checked when there is a baseline.
pub(crate) fn violations(
    budget: &Budget,
    head: &Measurement,
    base: Option<&Measurement>,
    metric: Metric,
) -> Vec<Violation> {
    let mut found = Vec::new();
    let size = head.sizes.get(metric);
    if let Some(limit) = budget.max_size.filter(|l| size > l.bytes()) {
        found.push(Violation::MaxSize {
            unit: None,
            limit: limit.bytes(),
            size,
        });
    }
    if let Some(base) = base {
        let base_size = base.sizes.get(metric);
        let increase = signed_delta(base_size, size);
        let grew = increase.max(0).unsigned_abs();
        if let Some(limit) = budget.max_increase.filter(|l| grew > l.bytes()) {
            found.push(Violation::MaxIncrease {
                unit: None,
                limit: limit.bytes(),
                increase,
            });
        }
        if let Some(limit) = budget.max_increase_percent.filter(|_| increase > 0) {
            let percent = if base_size == 0 {
                f64::INFINITY
            } else {
                increase as f64 * 100.0 / base_size as f64
            };
            if percent > limit {
                found.push(Violation::MaxIncreasePercent {
                    limit,
                    increase: percent,
                    // Saturates for absurd limits, which then cannot be exceeded anyway.
                    allowed: (base_size as f64 * limit / 100.0) as u64,
                    grew: increase.unsigned_abs(),
                });
            }
        }
    }
    for unit_budget in &budget.unit {
        for unit in head
            .budgetable_units()
            .filter(|u| unit_budget.name.is_match(&u.name))
        {
            if let Some(limit) = unit_budget.max_size.filter(|l| unit.size > l.bytes()) {
                found.push(Violation::MaxSize {
                    unit: Some(unit.name.clone()),
                    limit: limit.bytes(),
                    size: unit.size,
                });
            }
            let (Some(limit), Some(base)) = (unit_budget.max_increase, base) else {
                continue;
            };
            // A unit the baseline lacks grew from nothing.
            let before = base
                .budgetable_units()
                .find(|b| b.name == unit.name)
                .map_or(0, |b| b.size);
            let increase = signed_delta(before, unit.size);
            if increase > 0 && increase.unsigned_abs() > limit.bytes() {
                found.push(Violation::MaxIncrease {
                    unit: Some(unit.name.clone()),
                    limit: limit.bytes(),
                    increase,
                });
            }
        }
    }
    found
}

/// `new - old` without overflow.
pub(crate) fn signed_delta(old: u64, new: u64) -> i64 {
    if new >= old {
        i64::try_from(new - old).unwrap_or(i64::MAX)
    } else {
        i64::try_from(old - new).map_or(i64::MIN, |d| -d)
    }
}
