//! `sizegate-gate`: pure policy. Parses `sizegate.toml` budgets, chooses the
//! baseline, computes verdicts and renders the PR comment and check text.

pub mod config;
pub mod size;

pub use config::{Budget, Config, ConfigError, Glob, UnitBudget};
pub use size::{ByteSize, SizeError, parse_size};
pub mod evaluate;
pub mod input;
pub mod selection;

pub use evaluate::{
    BudgetRef, CheckStatus, Conclusion, Evaluation, TargetEvaluation, Verdict, Violation, evaluate,
};
pub use input::{
    BaselineOnlyTarget, BaselineState, Event, GateInput, HeadState, Measurement, TargetInput,
    UnitSize,
};
pub use selection::{
    BaselineCandidates, BaselineCommit, ChosenConfig, ConfigSource, NoBaseline, choose_baseline,
    choose_config,
};
