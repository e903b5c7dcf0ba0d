//! `sizegate-gate`: pure policy. Parses `sizegate.toml` budgets, chooses the
//! baseline, computes verdicts and renders the PR comment and check text.

pub mod config;
pub mod size;

pub use config::{Budget, Config, ConfigError, Glob, UnitBudget};
pub use size::{ByteSize, SizeError, parse_size};
