#!/usr/bin/env bash
# Step detection for one push: `Worker::check_steps` (what the worker runs
# after each measured build) with 100,000 measurements in the table
# (10 targets x 10,000 commits), timed over 21 runs by the example
# crates/sizegate-worker/examples/bench_alerts.rs. Target: <= 50 ms.
# Writes benchmarks/alerts.md.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres scripts/bench/alerts.sh
#
# Needs: a PostgreSQL server (DATABASE_URL; a database is created and dropped).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL server}"
db_name="bench_alerts_$$"
db="${DATABASE_URL%/*}/$db_name"
out=$(mktemp)
cleanup() {
  psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" > /dev/null 2>&1 || true
  rm -f "$out"
}
trap cleanup EXIT
psql "$DATABASE_URL" -qc "CREATE DATABASE $db_name" > /dev/null
cargo build -q -p sizegate-worker --example bench_alerts
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
DATABASE_URL="$db" cargo run -q -p sizegate-worker --example bench_alerts > "$out"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
summary=$(grep '^measurements=' "$out")
median=$(sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p' <<< "$summary")
max=$(sed -n 's/.*max_ms=\([0-9.]*\).*/\1/p' <<< "$summary")
count=$(sed -n 's/^measurements=\([0-9]*\).*/\1/p' <<< "$summary")
outcome=$(sed -n 's/^run 0: .*(\(.*\))$/\1/p' "$out")
verdict=$(awk -v m="$median" 'BEGIN { print (m <= 50 ? "met" : "missed") }')
cat > benchmarks/alerts.md <<MD
## Alerts: step detection for one push

Written by \`scripts/bench/alerts.sh\` at commit \`$(git rev-parse --short HEAD)\`.
Target: detection for one push takes at most 50 ms with 100,000
measurements in the table. The example
\`crates/sizegate-worker/examples/bench_alerts.rs\` (debug build) seeds 10
targets x 10,000 commits on \`main\` ($count measurements), records one more
push and times \`Worker::check_steps\` on it 21 times: the advisory lock, the
backfill check, the one index scan over the trailing series
(\`builds_eligible_series\`) and the detector (outcome: \`$outcome\`, the
new point is no step). Load average $load_before → $load_after.

| measurements | median | slowest | target ≤ 50 ms |
|---|---|---|---|
| $count | **$median ms** | $max ms | $verdict |
MD
cat benchmarks/alerts.md
