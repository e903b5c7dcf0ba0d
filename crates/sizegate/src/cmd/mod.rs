//! One module per subcommand; each exposes `Args` and `run`.

pub mod analyze;
pub mod check_config;
pub mod diff;
pub mod migrate;
pub mod run_limited;
pub mod serve;
pub mod service;
pub mod token;
pub mod worker;
