//! Steps in a size series: the change points that post-merge alerts report
//! and the compare page lists between two commits.
//!
//! A point is compared with the *median* of the points before it (at most
//! `window` of them, never reaching back past the previous step), not with
//! its neighbour: one noisy build moves a median by nothing, and a slow drift
//! of a few bytes per commit never adds up inside one window. With
//! `confirm > 1` the next `confirm - 1` points must stay on the same side of
//! the old level by at least the threshold too, so a single outlier build is
//! never a step; the step is then reported once the last confirming point is
//! measured. Nothing here does I/O.

use crate::config::MinChange;

/// The default `window`: trailing measured points a new one is compared with.
pub const DEFAULT_WINDOW: usize = 10;
/// The default `min_step`: half a percent of the level before the step.
pub const DEFAULT_MIN_STEP_PERCENT: f64 = 0.5;

/// How [`detect_steps`] tells a step from noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepPolicy {
    /// The smallest change of level that is a step: bytes, or a percentage
    /// of the level before it.
    pub min_step: MinChange,
    /// How many trailing points form the level a new point is compared with
    /// (at least 1).
    pub window: usize,
    /// How many points must agree before a step is reported: 1 reports on
    /// the first point past the threshold; 2 waits for the next one too.
    pub confirm: usize,
}

impl Default for StepPolicy {
    fn default() -> Self {
        Self {
            min_step: MinChange::Percent(DEFAULT_MIN_STEP_PERCENT),
            window: DEFAULT_WINDOW,
            confirm: 1,
        }
    }
}

impl StepPolicy {
    /// The smallest step, in bytes, from a level of `level` bytes (never 0).
    pub fn threshold(&self, level: u64) -> u64 {
        let bytes = match self.min_step {
            MinChange::Bytes(size) => size.bytes(),
            MinChange::Percent(p) => (level as f64 * p.max(0.0) / 100.0).ceil() as u64,
        };
        bytes.max(1)
    }
}

/// One change of level found in a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Index of the first point at the new level: the step happened between
    /// point `index - 1` and point `index` (the culprit range).
    pub index: usize,
    /// The level before: the median of the trailing window.
    pub before: u64,
    /// The level after: the median of the confirming points.
    pub after: u64,
}

impl Step {
    /// `after - before`, in bytes (negative for a drop).
    pub fn delta(&self) -> i64 {
        signed(self.after) - signed(self.before)
    }

    /// The delta in percent of the level before (0 when that was empty).
    pub fn percent(&self) -> f64 {
        if self.before == 0 {
            0.0
        } else {
            self.delta() as f64 * 100.0 / self.before as f64
        }
    }
}

/// Every step in `values` (oldest first), oldest first.
pub fn detect_steps(values: &[u64], policy: &StepPolicy) -> Vec<Step> {
    let window = policy.window.max(1);
    let confirm = policy.confirm.max(1);
    let mut steps = Vec::new();
    // Points before `level_start` belong to an older level.
    let mut level_start = 0;
    let mut i = 1;
    while i + confirm <= values.len() {
        let from = level_start.max(i.saturating_sub(window));
        let before = median(&values[from..i]);
        let after = &values[i..i + confirm];
        let threshold = policy.threshold(before);
        let up = after.iter().all(|&v| v >= before.saturating_add(threshold));
        let down = after.iter().all(|&v| v.saturating_add(threshold) <= before);
        if up || down {
            steps.push(Step {
                index: i,
                before,
                after: median(after),
            });
            level_start = i;
        }
        i += 1;
    }
    steps
}

/// The step the newest point completes, if any: what one measured push
/// checks. `values` are the trailing points of the series, oldest first;
/// pass at least `window + confirm` of them (more changes nothing but time).
pub fn newest_step(values: &[u64], policy: &StepPolicy) -> Option<Step> {
    let confirm = policy.confirm.max(1);
    detect_steps(values, policy)
        .pop()
        .filter(|step| step.index + confirm == values.len())
}

/// The median of a non-empty slice (the lower middle for an even length);
/// 0 for an empty one.
fn median(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted
        .get(sorted.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(0)
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::size::ByteSize;

    /// A deterministic noise source (xorshift), so the tests need no crate.
    struct Noise(u64);

    impl Noise {
        /// A value in [-1, 1).
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % 2_000_001) as f64 / 1_000_000.0 - 1.0
        }
    }

    #[test]
    fn a_clean_step_is_found_at_its_first_point() {
        let mut values = vec![1_000_000; 20];
        values.extend(vec![1_020_000; 20]);
        let steps = detect_steps(&values, &StepPolicy::default());
        assert_eq!(
            steps,
            vec![Step {
                index: 20,
                before: 1_000_000,
                after: 1_020_000
            }]
        );
        assert_eq!(steps[0].delta(), 20_000);
        assert!((steps[0].percent() - 2.0).abs() < 1e-9);
    }

    #[test]
    fn noise_and_slow_drift_are_not_steps_but_real_steps_are() {
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        let mut level = 8_000_000.0_f64;
        let mut values = Vec::new();
        let injected = [150, 400, 650];
        for i in 0..1_000 {
            if injected.contains(&i) {
                level *= 1.01;
            }
            level *= 1.0001; // 0.01% drift per commit
            values.push((level * (1.0 + 0.0005 * noise.next())) as u64);
        }
        let found: Vec<usize> = detect_steps(&values, &StepPolicy::default())
            .iter()
            .map(|s| s.index)
            .collect();
        assert_eq!(found, injected);
    }

    #[test]
    fn one_outlier_is_a_step_only_without_confirmation() {
        let mut values = vec![500_000; 15];
        values[10] = 520_000;
        assert_eq!(detect_steps(&values, &StepPolicy::default()).len(), 2);
        let confirmed = StepPolicy {
            confirm: 2,
            ..StepPolicy::default()
        };
        assert!(detect_steps(&values, &confirmed).is_empty());
    }

    #[test]
    fn newest_step_reports_only_the_step_the_last_point_completes() {
        let policy = StepPolicy {
            min_step: MinChange::Bytes(ByteSize(4096)),
            confirm: 2,
            ..StepPolicy::default()
        };
        let mut values = vec![100_000; 12];
        values.push(110_000);
        assert_eq!(newest_step(&values, &policy), None, "not confirmed yet");
        values.push(110_100);
        let step = newest_step(&values, &policy).expect("confirmed by the second point");
        assert_eq!(step.index, 12);
        values.push(110_050);
        assert_eq!(newest_step(&values, &policy), None, "already reported");
    }

    #[test]
    fn a_drop_is_a_step_with_a_negative_delta() {
        let mut values = vec![2_000_000; 5];
        values.extend([1_900_000; 3]);
        let steps = detect_steps(&values, &StepPolicy::default());
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].delta(), -100_000);
    }

    #[test]
    fn short_and_empty_series_have_no_steps() {
        assert!(detect_steps(&[], &StepPolicy::default()).is_empty());
        assert!(detect_steps(&[1], &StepPolicy::default()).is_empty());
        assert_eq!(median(&[]), 0);
        assert_eq!(median(&[3, 1, 2, 4]), 2);
    }
}
