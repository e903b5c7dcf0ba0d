//! How long the gate takes on a huge matrix: 500 targets with 1000 symbol
//! changes each, judged and rendered into a comment and a check summary cut
//! to GitHub's limits. Run with `cargo bench -p sizegate-gate`; prints the
//! median of a few runs (no extra dependency: the product preaches lean).
#![allow(clippy::unwrap_used)] // benchmarks may unwrap

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use sizegate_analyze::{Change, ChangeStatus};
use sizegate_gate::{
    Event, GateInput, RenderContext, TargetInput, choose_config, evaluate, render_check,
    render_comment,
};
use support::*;

fn huge_matrix() -> Vec<TargetInput> {
    (0..500u64)
        .map(|i| {
            let mut target = measured(
                &format!("x86_64-linux-{i:03}/app"),
                4 * MIB,
                4 * MIB + i * 100,
            );
            target.diff.as_mut().unwrap().symbols = (0..1000u64)
                .map(|s| Change {
                    name: format!("crate_{i}::module::function_{s}::<T>"),
                    unit: Some(format!("crate_{i}")),
                    old: 1000,
                    new: 1000 + s,
                    delta: s as i64,
                    status: ChangeStatus::Grown,
                })
                .collect();
            target
        })
        .collect()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let config =
        config("[[budget]]\ntarget = \"*\"\nmax_size = \"8 MiB\"\nmax_increase_percent = 1.0\n");
    let input = GateInput {
        event: Event::PullRequest {
            number: 1,
            labels: Vec::new(),
        },
        config: choose_config(Some(&config), None),
        targets: huge_matrix(),
        baseline_only: Vec::new(),
    };
    let ctx = RenderContext::new("https://sizegate.example.com", "acme", "rocket");
    let runs = 9;
    let mut judge = Vec::new();
    let mut comment = Vec::new();
    let mut check = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let evaluation = evaluate(&input);
        judge.push(start.elapsed());
        let start = Instant::now();
        let text = render_comment(&evaluation, &ctx);
        comment.push(start.elapsed());
        let start = Instant::now();
        let output = render_check(&evaluation, &ctx);
        check.push(start.elapsed());
        assert!(text.len() <= sizegate_gate::COMMENT_LIMIT);
        assert!(output.summary.len() <= sizegate_gate::CHECK_SUMMARY_LIMIT);
    }
    println!("500 targets x 1000 symbol changes, median of {runs} runs:");
    println!("  evaluate        {:?}", median(judge));
    println!("  render_comment  {:?}", median(comment));
    println!("  render_check    {:?}", median(check));
}
