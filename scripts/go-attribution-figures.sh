#!/usr/bin/env bash
# The Go attribution figures of BENCHMARKS.md: bracketed share of shipped
# bytes per binary. Usage: scripts/go-attribution-figures.sh BINARY...
# Needs the release example: cargo build --release -p sizegate-analyze --example analyze
set -euo pipefail
analyze="${ANALYZE:-$(dirname "$0")/../target/release/examples/analyze}"
for binary in "$@"; do
  SIZEGATE_NO_COMPRESS=1 "$analyze" "$binary" 1 | python3 -c '
import json, sys
r = json.load(sys.stdin)
shipped = r["sizes"]["shipped"]
bracketed = sum(u["size"] for u in r["units"] if u["name"].startswith("["))
top = sorted((u for u in r["units"] if u["name"].startswith("[")), key=lambda u: -u["size"])[:3]
packages = sum(1 for u in r["units"] if u["kind"] == "package" and not u["name"].startswith("["))
print("| `%s` | %s | %s | %s | %.1f MB | %d | %.1f%% | %s |" % (
    sys.argv[1], r["format"], r["toolchain"]["go"], "yes" if r["stripped"] else "no",
    shipped / 1e6, packages, 100 * bracketed / shipped,
    ", ".join("%s %.1f%%" % (u["name"], 100 * u["size"] / shipped) for u in top)))
' "$(basename "$binary")"
done
