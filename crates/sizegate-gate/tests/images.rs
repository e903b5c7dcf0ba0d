//! Container images as gated targets: budgets on `compressed`,
//! `uncompressed` and `pull` (top level or per `[[budget]]`), an image
//! metric on a binary target as a configuration error, layers and files as
//! budget units, and the comment's image details (snapshots).
#![allow(clippy::unwrap_used)] // tests may unwrap

mod support;

use sizegate_analyze::{DiffSide, Metric, ReportDiff, SCHEMA_VERSION, Sizes};
use sizegate_gate::{
    BaselineState, Conclusion, Event, GateInput, HeadState, Measurement, RenderContext,
    TargetInput, UnitSize, Verdict, Violation, choose_config, evaluate, render_comment,
};
use support::*;

const IMAGE: &str = "x86_64-linux/app-image";

fn image_sizes(uncompressed: u64) -> Sizes {
    Sizes {
        file: uncompressed / 3 + 10 * KIB,
        shipped: uncompressed,
        uncompressed,
        compressed: uncompressed / 3,
        pull: uncompressed / 3 + 2 * KIB,
        wasted: 0,
        ..Default::default()
    }
}

fn unit(name: &str, size: u64) -> UnitSize {
    UnitSize {
        name: name.to_string(),
        size,
        version: None,
    }
}

/// An image of `uncompressed` bytes: packages `libc6` and the path unit
/// `/usr/local/bin/app`; layer 0 (base) and layer 1 (the app).
fn image(uncompressed: u64, app: u64) -> Measurement {
    Measurement {
        sizes: image_sizes(uncompressed),
        units: vec![
            unit("libc6", uncompressed - app - MIB),
            unit("/usr/local/bin/app", app),
            unit("[wasted]", MIB),
        ],
        image: true,
        image_units: vec![
            unit("layer:0", uncompressed - app),
            unit("layer:1", app),
            unit("/usr/lib/x86_64-linux-gnu/libc.so.6", 2 * MIB),
        ],
        ..Default::default()
    }
}

fn image_diff(base: (u64, u64), head: (u64, u64)) -> ReportDiff {
    let side = |(total, _): (u64, u64), sha: &str| DiffSide {
        name: "app.tar".to_string(),
        sha256: sha.repeat(32),
        sizes: image_sizes(total),
    };
    ReportDiff {
        schema_version: SCHEMA_VERSION,
        old: side(base, "aa"),
        new: side(head, "bb"),
        sections: vec![],
        units: vec![change("/usr/local/bin/app", None, base.1, head.1)],
        symbols: vec![],
        symbols_partial: false,
        causes: vec![],
        layers: vec![
            change(
                "layer 2: COPY app /usr/local/bin/app # buildkit",
                None,
                base.1 + 1536,
                head.1 + 1536,
            ),
            change("layer 3: RUN rm -rf /tmp/cache", None, 512 * KIB, 0),
        ],
        files: vec![{
            let mut c = change("/usr/local/bin/app", None, base.1, head.1);
            c.unit = Some("/usr/local/bin/app".to_string());
            c
        }],
        binary_units: vec![
            {
                let mut c = change(
                    "aws_sdk_s3",
                    None,
                    300 * KIB,
                    300 * KIB + (head.1 - base.1) * 2 / 3,
                );
                c.unit = Some("/usr/local/bin/app".to_string());
                c
            },
            {
                let mut c = change("tokio", None, 200 * KIB, 210 * KIB);
                c.unit = Some("/usr/local/bin/app".to_string());
                c
            },
        ],
    }
}

fn image_target(base: (u64, u64), head: (u64, u64)) -> TargetInput {
    TargetInput {
        name: IMAGE.to_string(),
        head: HeadState::Measured(image(head.0, head.1)),
        baseline: BaselineState::Found {
            commit: commit("b4se000000000000000000000000000000000000", 0),
            measurement: image(base.0, base.1),
        },
        diff: Some(image_diff(base, head)),
    }
}

fn judge(text: &str, targets: Vec<TargetInput>) -> sizegate_gate::Evaluation {
    let config = config(text);
    evaluate(&GateInput {
        event: Event::PullRequest {
            number: 42,
            labels: vec![],
        },
        config: choose_config(Some(&config), None),
        targets,
        baseline_only: Vec::new(),
    })
}

const COMPRESSED_BUDGET: &str = r#"
[[budget]]
target = "*-image"
metric = "compressed"
max_size = "10 MiB"

[[budget]]
target = "*"
max_size = "8 MiB"
"#;

#[test]
fn a_budget_on_compressed_judges_the_layer_blobs() {
    // 33 MiB uncompressed is 11 MiB compressed: over 10 MiB.
    let over = judge(
        COMPRESSED_BUDGET,
        vec![image_target((30 * MIB, 4 * MIB), (33 * MIB, 7 * MIB))],
    );
    let target = &over.targets[0];
    assert_eq!(target.verdict, Verdict::Fail);
    assert_eq!(target.metric, Some(Metric::Compressed));
    assert_eq!(target.head_size, Some(11 * MIB));
    assert_eq!(
        target.violations,
        [Violation::MaxSize {
            unit: None,
            limit: 10 * MIB,
            size: 11 * MIB
        }]
    );
    assert_eq!(over.conclusion, Some(Conclusion::Failure));

    // 27 MiB uncompressed is 9 MiB compressed: within, though its
    // uncompressed size is far over the other budget's 8 MiB.
    let under = judge(
        COMPRESSED_BUDGET,
        vec![image_target((30 * MIB, 4 * MIB), (27 * MIB, 4 * MIB))],
    );
    assert_eq!(under.targets[0].verdict, Verdict::Pass);
    assert_eq!(under.conclusion, Some(Conclusion::Success));
}

#[test]
fn top_level_pull_and_uncompressed_metrics() {
    let pull = judge(
        "metric = \"pull\"\n[[budget]]\ntarget = \"*\"\nmax_increase = \"1 MiB\"\n",
        vec![image_target((30 * MIB, 4 * MIB), (36 * MIB, 10 * MIB))],
    );
    assert_eq!(pull.metric, Metric::Pull);
    assert_eq!(pull.targets[0].metric, None, "the evaluation's metric");
    assert_eq!(pull.targets[0].delta(), Some(2 * MIB as i64));
    assert_eq!(pull.targets[0].verdict, Verdict::Fail);

    let uncompressed = judge(
        "metric = \"uncompressed\"\n[[budget]]\ntarget = \"*\"\nmax_size = \"40 MiB\"\n",
        vec![image_target((30 * MIB, 4 * MIB), (36 * MIB, 10 * MIB))],
    );
    assert_eq!(uncompressed.targets[0].head_size, Some(36 * MIB));
    assert_eq!(uncompressed.targets[0].verdict, Verdict::Pass);
}

#[test]
fn an_image_metric_on_a_binary_is_a_configuration_error() {
    let eval = judge(
        "[[budget]]\ntarget = \"*\"\nmetric = \"compressed\"\nmax_size = \"10 MiB\"\n",
        vec![
            measured("x86_64-linux/app", 4 * MIB, 4 * MIB),
            image_target((30 * MIB, 4 * MIB), (27 * MIB, 4 * MIB)),
        ],
    );
    let binary = eval
        .targets
        .iter()
        .find(|t| t.name == "x86_64-linux/app")
        .unwrap();
    assert_eq!(binary.verdict, Verdict::Error);
    let error = binary.error.as_deref().unwrap();
    assert!(
        error.contains("budget[0] (`*`) sets `metric = \"compressed\"`")
            && error.contains("not an image"),
        "{error}"
    );
    assert_eq!(eval.conclusion, Some(Conclusion::Failure));
    let comment = render_comment(
        &eval,
        &RenderContext::new("https://sizegate.example.com", "acme", "app"),
    );
    assert!(comment.contains("configuration error"), "{comment}");

    let top_level = judge(
        "metric = \"pull\"\n[[budget]]\ntarget = \"*\"\nmax_size = \"10 MiB\"\n",
        vec![measured("x86_64-linux/app", 4 * MIB, 4 * MIB)],
    );
    let error = top_level.targets[0].error.as_deref().unwrap();
    assert!(
        error.contains("the top-level `metric = \"pull\"`"),
        "{error}"
    );
}

#[test]
fn layers_files_packages_and_wasted_bytes_take_unit_budgets() {
    let text = r#"
[[budget]]
target = "*-image"
metric = "compressed"
max_size = "1 GiB"

[[budget.unit]]
name = "/usr/local/bin/*"
max_size = "6 MiB"
max_increase = "1 MiB"

[[budget.unit]]
name = "layer:0"
max_size = "20 MiB"

[[budget.unit]]
name = "libc*"
max_size = "100 MiB"

[[budget.unit]]
name = "/usr/lib/*/libc.so.*"
max_size = "1 MiB"

[[budget.unit]]
name = "[[]wasted]"
max_size = "512 KiB"
"#;
    let eval = judge(
        text,
        vec![image_target((30 * MIB, 4 * MIB), (33 * MIB, 7 * MIB))],
    );
    let described: Vec<String> = eval.targets[0]
        .violations
        .iter()
        .map(Violation::describe)
        .collect();
    assert_eq!(
        described,
        [
            // A binary in a bin directory is its own path unit: judged once.
            "unit `/usr/local/bin/app`: 7.0 MiB is over max_size 6.0 MiB by 1.0 MiB",
            "unit `/usr/local/bin/app`: grew +3.0 MiB, over max_increase 1.0 MiB by 2.0 MiB",
            "unit `layer:0`: 26.0 MiB is over max_size 20.0 MiB by 6.0 MiB",
            "unit `/usr/lib/x86_64-linux-gnu/libc.so.6`: 2.0 MiB is over max_size 1.0 MiB by 1.0 MiB",
            "unit `[wasted]`: 1.0 MiB is over max_size 512.0 KiB by 512.0 KiB",
        ]
    );
}

#[test]
fn comment_for_an_image_that_grew() {
    let eval = judge(
        COMPRESSED_BUDGET,
        vec![
            image_target((30 * MIB, 4 * MIB), (33 * MIB, 7 * MIB)),
            measured("x86_64-linux/app", 4 * MIB, 4 * MIB + 2 * KIB),
        ],
    );
    let ctx = RenderContext {
        head_sha: Some("4ead00000000000000000000000000000000beef".to_string()),
        ..RenderContext::new("https://sizegate.example.com/", "acme", "rocket")
    };
    let comment = render_comment(&eval, &ctx);
    assert!(
        comment.contains(
            "Image +3.0 MiB uncompressed: `/usr/local/bin/app` +3.0 MiB, of which `aws_sdk_s3` +2.0 MiB."
        ),
        "{comment}"
    );
    insta::assert_snapshot!(comment);
}
