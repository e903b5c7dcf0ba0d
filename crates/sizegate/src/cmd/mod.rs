//! One module per subcommand; each exposes `Args` and `run`.

pub mod analyze;
pub mod check_config;
pub mod diff;
pub mod upload;
