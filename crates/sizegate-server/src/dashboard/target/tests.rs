//! The target page model built from a hand-made series, no database.

use chrono::{Duration, TimeZone};

use super::*;

/// A series of `values`, one commit a day; commit `i` is `i` as 40 hex digits.
fn series(values: &[i64]) -> Vec<MetricPoint> {
    let start = Utc
        .with_ymd_and_hms(2026, 11, 1, 9, 0, 0)
        .single()
        .expect("a valid time");
    values
        .iter()
        .enumerate()
        .map(|(i, &value)| MetricPoint {
            build_id: i as i64,
            commit: format!("{i:040x}"),
            uploaded_at: start + Duration::days(i as i64),
            value,
        })
        .collect()
}

fn settings(threshold: u64) -> ViewSettings {
    ViewSettings {
        metric: Metric::Shipped,
        count: DEFAULT_COUNT,
        since: None,
        threshold,
    }
}

fn shown() -> Shown {
    Shown {
        owner_repo: "o/r".into(),
        target: "app".into(),
        since: String::new(),
        threshold: "16 KiB".into(),
        logged_in: false,
    }
}

fn reads(values: &[i64], alerted: &[usize]) -> TargetReads {
    let series = series(values);
    TargetReads {
        branches: vec!["main".into(), "dev".into()],
        branch: Some("main".into()),
        alerted: alerted.iter().map(|&i| series[i].commit.clone()).collect(),
        series,
        budget: Some((Metric::Shipped, 2_000_000)),
    }
}

#[test]
fn a_level_shift_is_one_step_and_the_table_is_newest_first() {
    let mut values = vec![1_000_000; 12];
    values.extend([1_100_000; 12]);
    let page = target_page(shown(), &settings(16 * 1024), reads(&values, &[]));
    assert_eq!(page.points, 24);
    assert_eq!(page.steps.len(), 1, "one step, at the shift");
    let step = &page.steps[0];
    assert_eq!(step.class, "up");
    assert_eq!(step.href, format!("/repos/o/r/commits/{:040x}", 12));
    assert_eq!(
        step.text,
        format!("{} at {}", human::delta(100_000), "0000000")
    );
    assert_eq!(page.rows.len(), 24);
    assert_eq!(page.rows[0].sha, format!("{:040x}", 23));
    assert_eq!(page.rows[0].change_class, "same");
    assert_eq!(page.rows[11].change_class, "up");
    assert_eq!(page.rows[23].change, "—");
    assert_eq!(page.budget, format!("{} (shipped)", human::size(2_000_000)));
    assert_eq!(page.repo_href, "/repos/o/r?branch=main");
    assert!(
        page.chart
            .contains("shipped size of app on main: 24 points")
    );
}

#[test]
fn a_step_under_the_threshold_is_marked_only_when_an_alert_names_it() {
    let mut values = vec![1_000_000; 12];
    values.extend([1_001_000; 12]);
    let quiet = target_page(shown(), &settings(16 * 1024), reads(&values, &[]));
    assert!(quiet.steps.is_empty());
    let alerted = target_page(shown(), &settings(16 * 1024), reads(&values, &[12]));
    assert_eq!(alerted.steps.len(), 1);
    assert_eq!(
        alerted.steps[0].href,
        format!("/repos/o/r/commits/{:040x}", 12)
    );
    // The first point has no change before it, so an alert on it lists nothing.
    let first = target_page(shown(), &settings(16 * 1024), reads(&values, &[0]));
    assert!(first.steps.is_empty());
}

#[test]
fn the_table_keeps_the_newest_rows_and_an_empty_series_draws_nothing() {
    let values: Vec<i64> = (0..250).map(|i| 1_000 + i).collect();
    let page = target_page(shown(), &settings(1), reads(&values, &[]));
    assert_eq!(page.rows.len(), TABLE_ROWS);
    assert_eq!(
        page.rows.last().map(|r| r.sha.clone()),
        Some(format!("{:040x}", 50))
    );
    let empty = target_page(shown(), &settings(16 * 1024), reads(&[], &[]));
    assert_eq!(
        (empty.points, empty.steps.len(), empty.rows.len()),
        (0, 0, 0)
    );
}

#[test]
fn the_query_is_checked_before_any_read() {
    let bad = |query: TargetQuery| ViewSettings::parse(&query).err().map(|e| e.to_string());
    assert!(
        bad(TargetQuery {
            count: Some(0),
            ..TargetQuery::default()
        })
        .is_some()
    );
    assert!(
        bad(TargetQuery {
            since: Some("yesterday".into()),
            ..TargetQuery::default()
        })
        .is_some()
    );
    let ok = ViewSettings::parse(&TargetQuery {
        since: Some("2026-01-31".into()),
        threshold: Some("1 KiB".into()),
        ..TargetQuery::default()
    })
    .expect("a valid query");
    assert_eq!(ok.threshold, 1024);
    assert_eq!(ok.metric, Metric::Shipped);
    assert_eq!(
        ok.since.map(|s| s.to_rfc3339()).as_deref(),
        Some("2026-01-31T00:00:00+00:00")
    );
}
