//! `sizegate.toml` parsing: accepted files and the errors users see.
#![allow(clippy::unwrap_used)] // tests may unwrap

use sizegate_analyze::Metric;
use sizegate_gate::Config;

fn error(text: &str) -> String {
    Config::parse(text, "sizegate.toml")
        .unwrap_err()
        .to_string()
}

#[test]
fn parses_the_design_example() {
    let text = r#"
metric = "shipped"                 # file | shipped | gzip | zstd | vm
approve_label = "size-approved"

[[budget]]
target = "x86_64-unknown-linux-gnu/*"
max_size = "8 MiB"
max_increase = "64 KiB"
max_increase_percent = 1.0

[[budget.unit]]
name = "regex*"
max_size = "512 KiB"

[[budget]]
target = "*"
max_size = 1500000
max_increase_percent = 2
"#;
    let config = Config::parse(text, "sizegate.toml").unwrap();
    assert_eq!(config.metric, Metric::Shipped);
    assert_eq!(config.approve_label.as_deref(), Some("size-approved"));
    assert_eq!(config.budgets.len(), 2);
    let first = &config.budgets[0];
    assert_eq!(first.target.as_str(), "x86_64-unknown-linux-gnu/*");
    assert_eq!(first.max_size.unwrap().bytes(), 8 << 20);
    assert_eq!(first.max_increase.unwrap().bytes(), 64 << 10);
    assert_eq!(first.max_increase_percent, Some(1.0));
    assert_eq!(first.unit.len(), 1);
    assert_eq!(first.unit[0].name.as_str(), "regex*");
    assert_eq!(first.unit[0].max_size.unwrap().bytes(), 512 << 10);
    assert_eq!(config.budgets[1].max_size.unwrap().bytes(), 1_500_000);
    assert_eq!(config.budgets[1].max_increase_percent, Some(2.0));
    assert_eq!(
        first.describe(),
        "≤ 8.0 MiB, ≤ +64.0 KiB, ≤ +1%, 1 unit limit"
    );
}

#[test]
fn an_empty_file_is_no_budget_and_the_default_metric() {
    let config = Config::parse("", "sizegate.toml").unwrap();
    assert_eq!(config.metric, Metric::Shipped);
    assert!(config.budgets.is_empty());
    assert!(config.approve_label.is_none());
}

#[test]
fn the_first_matching_budget_judges_a_target() {
    let text = r#"
[[budget]]
target = "x86_64-unknown-linux-gnu/*"
max_size = "8 MiB"

[[budget]]
target = "*"
max_size = "1 MiB"
"#;
    let config = Config::parse(text, "sizegate.toml").unwrap();
    assert_eq!(
        config.budget_for("x86_64-unknown-linux-gnu/app").unwrap().0,
        0
    );
    assert_eq!(config.budget_for("aarch64-apple-darwin/app").unwrap().0, 1);
    let only_linux = Config::parse(&text.replace("\"*\"", "\"*-linux-*/*\""), "f").unwrap();
    assert!(only_linux.budget_for("aarch64-apple-darwin/app").is_none());
}

#[test]
fn a_bad_size_names_line_and_field() {
    let text = "metric = \"gzip\"\n\n[[budget]]\ntarget = \"x/*\"\n\nmax_size = \"1 KiB\"\nmax_increase = \"8 MB/s\"\n";
    assert_eq!(
        error(text),
        "sizegate.toml:7: budget[0].max_increase: `8 MB/s` is not a size (examples: \"8 MiB\", \"64 KiB\", 1500000)"
    );
}

#[test]
fn negative_fractional_and_overflowing_sizes_are_rejected() {
    let budget = |value: &str| format!("[[budget]]\ntarget = \"x\"\nmax_size = {value}\n");
    assert!(
        error(&budget("-4")).starts_with("sizegate.toml:3: budget[0].max_size: `-4` is negative")
    );
    assert!(error(&budget("\"-4 KiB\"")).contains("is negative"));
    assert!(error(&budget("1.5")).contains("`1.5` is not a whole number of bytes"));
    assert!(error(&budget("\"0.5 B\"")).contains("not a whole number of bytes"));
    assert!(error(&budget("\"99999999999 TiB\"")).contains("too large"));
    assert!(error(&budget("true")).contains("budget[0].max_size"));
}

#[test]
fn unknown_keys_are_errors_with_a_suggestion() {
    let text = "[[budget]]\ntarget = \"x/*\"\nmax_sise = \"8 MB\"\n";
    assert_eq!(
        error(text),
        "sizegate.toml:3: budget[0].max_sise: unknown key `max_sise` (did you mean `max_size`?); \
         allowed here: target, metric, max_size, max_increase, max_increase_percent, unit"
    );
    assert!(error("metrc = \"file\"\n").contains("(did you mean `metric`?)"));
    let far = error("colour = 3\n");
    assert!(
        far.contains("unknown key `colour`") && !far.contains("did you mean"),
        "{far}"
    );
    let unit = "[[budget]]\ntarget = \"x\"\n[[budget.unit]]\nname = \"a\"\nmax_increse = 1\n";
    assert!(error(unit).starts_with("sizegate.toml:5: budget[0].unit[0].max_increse: unknown key"));
}

#[test]
fn semantic_errors_name_the_table() {
    let empty = "[[budget]]\ntarget = \"x\"\nmax_size = 1\n\n[[budget]]\ntarget = \"y\"\n";
    assert_eq!(
        error(empty),
        "sizegate.toml:5: budget[1]: the budget for `y` sets no limit: add max_size, \
         max_increase, max_increase_percent or a [[budget.unit]]"
    );
    let third = "[[budget]]\ntarget = \"x\"\nmax_size = 1\n\n[[budget]]\ntarget = \"y\"\nmax_size = 1\n\n\
                 [[budget]]\nmax_size = 3\n";
    assert_eq!(
        error(third),
        "sizegate.toml:9: budget[2]: missing field `target`"
    );
    let unit = "[[budget]]\ntarget = \"x\"\n[[budget.unit]]\nname = \"a\"\nmax_size = 1\n\
                [[budget.unit]]\nname = \"serde*\"\n";
    assert!(
        error(unit).starts_with(
            "sizegate.toml:6: budget[0].unit[1]: the unit budget for `serde*` sets no limit"
        ),
        "{}",
        error(unit)
    );
    assert!(error("metric = \"bytes\"\n").starts_with(
        "sizegate.toml:1: metric: unknown value `bytes`; allowed here: file, vm, shipped"
    ));
    assert!(error("approve_label = \"\"\n").contains("approve_label: the label is empty"));
    let glob = "[[budget]]\ntarget = \"x/[\"\nmax_size = 1\n";
    assert!(error(glob).starts_with("sizegate.toml:2: budget[0].target: `x/[` is not a glob"));
    let percent = "[[budget]]\ntarget = \"x\"\nmax_increase_percent = -1\n";
    assert!(error(percent).contains("budget[0].max_increase_percent: `-1` is not a percentage"));
    let nan = "[[budget]]\ntarget = \"x\"\nmax_increase_percent = nan\n";
    assert!(error(nan).contains("is not a percentage"));
}

#[test]
fn syntax_errors_name_the_line() {
    let message = error("metric = \"file\"\n[[budget]\n");
    assert!(message.starts_with("sizegate.toml:2: "), "{message}");
    assert_eq!(
        error("metric = \"file\"\nmetric = \"vm\"\n"),
        "sizegate.toml:2: duplicate key"
    );
    assert_eq!(
        error("[budget]\ntarget = \"x\"\n"),
        "sizegate.toml:1: budget: expected [[budget]] tables (an array of tables), not a single value or [budget]"
    );
}

#[test]
fn oversized_files_are_refused_before_parsing() {
    let text = format!("# {}\n", "x".repeat(sizegate_gate::MAX_CONFIG_BYTES));
    assert_eq!(
        error(&text),
        "sizegate.toml: the file is 262147 bytes; a sizegate.toml may be at most 262144 bytes"
    );
}

#[test]
fn deeply_nested_input_is_an_error_not_a_crash() {
    let text = format!("metric = {}{}\n", "[".repeat(5000), "]".repeat(5000));
    assert!(error(&text).starts_with("sizegate.toml:1: "));
}

#[test]
fn the_documented_example_is_valid() {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/budgets.md"
    ))
    .unwrap();
    let section = page.split("# Budgets: `sizegate.toml`").nth(1).unwrap();
    let example = section
        .split("```toml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let config = Config::parse(example, "docs/budgets.md").unwrap();
    assert_eq!(config.budgets.len(), 2);
    assert_eq!(config.approve_label.as_deref(), Some("size-approved"));
    assert_eq!(
        config.budgets[0].unit[0].max_increase.unwrap().bytes(),
        16 * 1024
    );
}

#[test]
fn globs_match_go_packages_targets_and_alternatives() {
    use sizegate_gate::Glob;
    let go = Glob::new("github.com/spf13/*").unwrap();
    assert!(go.is_match("github.com/spf13/cobra"));
    assert!(go.is_match("github.com/spf13/cobra/doc"));
    assert!(!go.is_match("github.com/sirupsen/logrus"));
    let alternatives = Glob::new("{x86_64,aarch64}-*-linux-*/app").unwrap();
    assert!(alternatives.is_match("aarch64-unknown-linux-musl/app"));
    assert!(!alternatives.is_match("aarch64-apple-darwin/app"));
    let single = Glob::new("app-v?").unwrap();
    assert!(single.is_match("app-v2") && !single.is_match("app-v10"));
    let pseudo = Glob::new("[[].rodata*").unwrap();
    assert!(pseudo.is_match("[.rodata unattributed]"));
}

#[test]
fn all_mistakes_are_reported_in_line_order() {
    let text = "metric = \"bytes\"\ncolour = 1\n\n[[budget]]\ntarget = \"a\"\nmax_size = \"1 KB/s\"\n\n\
                [[budget]]\ntarget = \"b\"\nmax_size = 1\n\n[[budget]]\ntarget = \"c\"\nmax_sise = 1\n";
    let errors = Config::parse(text, "sizegate.toml").unwrap_err();
    let lines: Vec<(Option<usize>, &str)> =
        errors.0.iter().map(|e| (e.line, e.path.as_str())).collect();
    assert_eq!(
        lines,
        [
            (Some(1), "metric"),
            (Some(2), "colour"),
            (Some(6), "budget[0].max_size"),
            (Some(14), "budget[2].max_sise"),
        ]
    );
    assert_eq!(errors.to_string().lines().count(), 4);
}

#[test]
fn a_budget_that_is_not_a_table_says_what_is_expected() {
    assert_eq!(
        error("budget = [1]\n"),
        "sizegate.toml:1: budget[0]: invalid type: integer `1`, expected a [[budget]] table"
    );
}

#[test]
fn a_mistyped_metric_gets_a_suggestion() {
    assert_eq!(
        error("metric = \"shiped\"\n"),
        "sizegate.toml:1: metric: unknown value `shiped` (did you mean `shipped`?); \
         allowed here: file, vm, shipped, gzip, zstd, debug, symbols, compressed, uncompressed, pull"
    );
}

#[test]
fn comment_min_change_and_missing_keys() {
    use sizegate_gate::{CommentMode, MinChange, MissingPolicy, Units};
    let defaults = Config::parse("", "sizegate.toml").unwrap();
    assert_eq!(defaults.comment, CommentMode::OnChange);
    assert_eq!(defaults.missing, MissingPolicy::Neutral);
    assert_eq!(defaults.min_change, None);
    // 1 KiB or 0.1%, whichever is larger.
    assert_eq!(defaults.min_change_bytes(100 * 1024), 1024);
    assert_eq!(defaults.min_change_bytes(10_000_000), 10_000);

    let text = "comment = \"on-failure\"\nmissing = \"fail\"\nmin_change = \"2 KiB\"\n";
    let config = Config::parse(text, "sizegate.toml").unwrap();
    assert_eq!(config.comment, CommentMode::OnFailure);
    assert_eq!(config.missing, MissingPolicy::Fail);
    assert!(matches!(config.min_change, Some(MinChange::Bytes(b)) if b.bytes() == 2048));
    assert_eq!(config.min_change_bytes(u64::MAX / 2), 2048);

    let config = Config::parse("comment = \"always\"\nmin_change = \"0.5%\"", "s").unwrap();
    assert_eq!(config.comment, CommentMode::Always);
    assert_eq!(config.min_change_bytes(1_000_000), 5_000);
    let config = Config::parse("min_change = 4096", "s").unwrap();
    assert_eq!(config.min_change_bytes(1), 4096);

    let decimal = Config::parse("[[budget]]\ntarget = \"*\"\nmax_size = \"8 MB\"\n", "s").unwrap();
    assert_eq!(decimal.budgets[0].units, Units::Decimal);
    assert_eq!(decimal.budgets[0].describe(), "≤ 8.0 MB");
    let binary = Config::parse("[[budget]]\ntarget = \"*\"\nmax_size = \"8 MiB\"\n", "s").unwrap();
    assert_eq!(binary.budgets[0].units, Units::Binary);
}

#[test]
fn bad_comment_min_change_and_missing_values_say_what_is_allowed() {
    assert_eq!(
        error("comment = \"on-chnage\""),
        "sizegate.toml:1: comment: unknown value `on-chnage` (did you mean `on-change`?); \
         allowed here: always, on-change, on-failure"
    );
    assert!(
        error("missing = \"ignore\"").contains("allowed here: fail, neutral"),
        "{}",
        error("missing = \"ignore\"")
    );
    assert!(
        error("min_change = \"lots\"")
            .starts_with("sizegate.toml:1: min_change: `lots` is not a size")
    );
    assert!(error("min_change = \"-1%\"").contains("`-1%` is not a percentage"));
    assert!(error("min_change = true").contains("expected a size or a percentage"));
    assert!(error("comennt = \"always\"").contains("did you mean `comment`?"));
}

#[test]
fn the_alerts_table_sets_the_step_policy() {
    let text = r#"
[alerts]
metric = "file"
min_step = "16 KiB"
window = 20
confirm = 2
"#;
    let config = Config::parse(text, "sizegate.toml").unwrap();
    assert_eq!(config.alerts.metric, Metric::File);
    let policy = config.alerts.step_policy();
    assert_eq!(
        policy.min_step,
        sizegate_gate::MinChange::Bytes(sizegate_gate::ByteSize(16 << 10))
    );
    assert_eq!((policy.window, policy.confirm), (20, 2));
    assert!(config.alerts.enabled);

    let percent = Config::parse("[alerts]\nmin_step = \"0.5%\"\nenabled = false\n", "x").unwrap();
    assert_eq!(
        percent.alerts.min_step,
        sizegate_gate::MinChange::Percent(0.5)
    );
    assert!(!percent.alerts.enabled);
}

#[test]
fn without_an_alerts_table_the_defaults_apply() {
    let config = Config::parse("", "sizegate.toml").unwrap();
    assert_eq!(config.alerts.metric, Metric::Shipped);
    assert_eq!(
        config.alerts.step_policy(),
        sizegate_gate::StepPolicy::default()
    );
    assert_eq!(config.alerts.window, 10);
}

#[test]
fn alerts_mistakes_are_named() {
    let typo = error("[alerts]\nwindw = 5\n");
    assert!(typo.contains("did you mean `window`"), "{typo}");
    let zero = error("[alerts]\nwindow = 0\n");
    assert!(
        zero.contains("alerts.window") && zero.contains("from 1 to"),
        "{zero}"
    );
    let text = error("[alerts]\nconfirm = \"two\"\n");
    assert!(text.contains("integer"), "{text}");
    let step = error("[alerts]\nmin_step = \"lots\"\n");
    assert!(step.contains("min_step"), "{step}");
    let top = error("[alert]\nwindow = 5\n");
    assert!(top.contains("did you mean `alerts`"), "{top}");
}
