//! `sizegate-gate`: pure policy. Parses `sizegate.toml` budgets, chooses the
//! baseline, computes verdicts and renders the PR comment and check text.
