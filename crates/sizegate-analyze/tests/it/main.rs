//! Integration tests of the analyzer over real binaries built during the
//! run (see `fixtures`), the binaries of the machine, and corrupted inputs.

#![allow(clippy::unwrap_used)]

mod checks;
mod fixtures;
#[path = "../rust_support/mod.rs"]
mod rust_support;

mod formats;
mod invariants;
mod languages;
mod robustness;
mod system;
