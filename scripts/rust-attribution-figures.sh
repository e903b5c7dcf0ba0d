#!/usr/bin/env bash
# The Rust attribution figures of BENCHMARKS.md and docs/analysis-rust.md.
#   scripts/rust-attribution-figures.sh detect BINARY...   # stripped builds: language, rustc, crates, bracketed share
#   scripts/rust-attribution-figures.sh debug BINARY...    # unstripped build vs strip + objcopy --only-keep-debug
# SIZEGATE: the CLI to run (default target/release/sizegate, else target/debug/sizegate).
# Debian's stripped ripgrep, fd and bat: scripts/fetch-rust-artifacts.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sizegate=${SIZEGATE:-$root/target/release/sizegate}
[[ -x $sizegate ]] || sizegate=$root/target/debug/sizegate
mode=${1:?usage: $0 detect|debug BINARY...}
shift
json() { "$sizegate" analyze --no-compress --format json --top 0 "$@"; }
case $mode in
detect)
  echo "| binary | language | rustc (source paths) | crate versions | crates with bytes | bracketed |"
  echo "|---|---|---|---|---|---|"
  for binary in "$@"; do
    json "$binary" | python3 -c '
import json, sys
r = json.load(sys.stdin); t = r["toolchain"]
shipped = r["sizes"]["shipped"]
bracketed = sum(u["size"] for u in r["units"] if u["name"].startswith("["))
crates = sum(1 for u in r["units"] if u["kind"] == "crate")
rustc = t.get("rustc_release") or t.get("rustc_commit") or t.get("rustc") or "-"
print("| `%s` | %s | %s | %d (%s) | %d | %.1f%% |" % (sys.argv[1], r["language"], rustc,
    len(t.get("crates", [])), t.get("crate_versions", "-"), crates, 100 * bracketed / shipped))
' "$(basename "$binary")"
  done
  ;;
debug)
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "| binary | shipped | bracketed (unstripped) | bracketed (stripped + debug file) | units >= 1 KiB | largest unit gap |"
  echo "|---|---|---|---|---|---|"
  for binary in "$@"; do
    name=$(basename "$binary")
    objcopy --only-keep-debug "$binary" "$tmp/$name.debug"
    strip --strip-all -o "$tmp/$name.stripped" "$binary"
    json "$binary" > "$tmp/u.json"
    json "$tmp/$name.stripped" --debug-file "$tmp/$name.debug" > "$tmp/s.json"
    python3 - "$name" "$tmp/u.json" "$tmp/s.json" <<'PY'
import json, sys
name, u, s = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
def bracketed(r):
    return 100 * sum(x["size"] for x in r["units"] if x["name"].startswith("[")) / r["sizes"]["shipped"]
su = {x["name"]: x["size"] for x in s["units"]}
big = [x for x in u["units"] if x["size"] >= 1024]
gap = max((abs(x["size"] - su.get(x["name"], 0)) / x["size"] for x in big), default=0)
print("| `%s` | %.2f MB | %.1f%% | %.1f%% | %d | %.2f%% |" % (name, u["sizes"]["shipped"] / 1e6,
    bracketed(u), bracketed(s), len(big), 100 * gap))
PY
  done
  ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac
