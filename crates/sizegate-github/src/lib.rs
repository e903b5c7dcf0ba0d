//! `sizegate-github`: GitHub App auth, sticky PR comments, check runs, and
//! webhook signature checks and event parsing.

pub mod oidc;
