#!/usr/bin/env bash
# The pull request page with 50 targets x 20 pushes (issue 17, item 6),
# printed for the fragment benchmarks/pullpage.md (its table is kept by hand).
#
#   scripts/bench/pullpage.sh [RUNS]
#
# Needs: a Postgres with trust auth at $DATABASE_URL (the driver creates and
# drops the database sizegate_bench_pull next to it). The driver is the
# dev-profile example crates/sizegate-server/examples/pull_page.rs: it seeds
# through the store's own functions, serves the dashboard on loopback and
# times GET /repos/acme/app/pulls/1; statements are counted from
# pg_stat_database.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUNS=${1:-20}
: "${DATABASE_URL:?set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres}"
cd "$ROOT"
cargo build -q -p sizegate-server --example pull_page
line=$(target/debug/examples/pull_page "$RUNS" | tail -1)
load=$(cut -d' ' -f1-3 /proc/loadavg)
# The fragment benchmarks/pullpage.md keeps the before/after table by hand;
# print the new figure to be put into its "after" row.
echo "$line (load average $load, commit $(git rev-parse --short HEAD))"
