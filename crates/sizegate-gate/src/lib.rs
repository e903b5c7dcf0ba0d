//! `sizegate-gate`: pure policy. Parses `sizegate.toml` budgets, chooses the
//! baseline, computes verdicts and renders the PR comment and check text.
//!
//! The worker calls, in order: [`Config::parse`] on the uploaded configs,
//! [`choose_config`], [`CommitHistory::choose_baseline`] per target (with the
//! set of commits the store knows to have measured it; the dashboard lists
//! the same [`CommitHistory::candidate_shas`]), [`evaluate()`], then
//! [`render_comment`] and [`render_check`]. Nothing here does I/O.

pub mod config;
pub mod evaluate;
pub mod format;
pub mod input;
pub mod limits;
pub mod render;
pub mod selection;
pub mod size;
pub mod steps;

pub use config::{
    AlertsConfig, Budget, CommentMode, Config, ConfigError, Glob, MAX_CONFIG_BYTES, MinChange,
    MissingPolicy, UnitBudget,
};
pub use evaluate::{
    BudgetRef, CheckStatus, Conclusion, Evaluation, TargetEvaluation, UnitGrowth, Verdict, evaluate,
};
pub use format::Units;
pub use input::{
    BaselineOnlyTarget, BaselineState, Event, GateInput, HeadState, Measurement, TargetInput,
    UnitSize,
};
pub use limits::Violation;
pub use render::{
    CHECK_NAME, CHECK_SUMMARY_LIMIT, COMMENT_LIMIT, COMMENT_MARKER, CheckOutput, RenderContext,
    render_check, render_comment, render_quiet_comment,
};
pub use selection::{
    BaselineCandidates, BaselineCommit, ChosenConfig, CommitHistory, ConfigSource, NoBaseline,
    choose_baseline, choose_config,
};
pub use size::{ByteSize, SizeError, parse_size};
pub use steps::{Step, StepPolicy, detect_steps, newest_step};
