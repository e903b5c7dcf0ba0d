//! One module per subcommand; each exposes `Args` and `run`.

pub mod analyze;
pub mod check_config;
pub mod diff;
pub mod gc;
pub mod github_app;
pub mod local_pg;
pub mod migrate;
pub mod repo;
pub mod report;
pub mod run_limited;
pub mod serve;
pub mod service;
pub mod token;
pub mod upload;
pub mod wait;
pub mod worker;

/// The exit codes of `analyze` and `diff`, shown in their `--help`.
pub const EXIT_CODES: &str = "Exit codes: 0 done; 2 usage or input error (the message on standard \
     error names the file and says what was wrong).";
