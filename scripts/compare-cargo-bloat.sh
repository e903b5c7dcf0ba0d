#!/usr/bin/env bash
# Compare sizegate's per-crate attribution with `cargo bloat --crates` on the
# same release build of a Rust project.
#
#   scripts/compare-cargo-bloat.sh PROJECT_DIR BINARY_NAME
#
# Needs cargo-bloat (`cargo install cargo-bloat`) and python3. cargo bloat
# counts only the .text section, so sizegate's figures are restricted to the
# symbols it places in .text for the comparison; its `units` cover every
# shipped byte (rodata, data, unwind tables...) and are shown beside them.
set -euo pipefail
project=$1
name=$2
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$project" && cargo bloat --release --crates --split-std -n 0 --message-format json) > "$work/bloat.json"
binary="$project/target/release/$name"
(cd "$here" && cargo run --quiet --release -p sizegate -- analyze "$binary" --format json --top 0) > "$work/report.json"

python3 - "$work/report.json" "$work/bloat.json" <<'PY'
import collections, json, sys
report = json.load(open(sys.argv[1]))
bloat = json.load(open(sys.argv[2]))
text = collections.Counter()
for symbol in report["symbols"]:
    if symbol["section"] == ".text":
        text[symbol["unit"]] += symbol["size"]
units = {u["name"]: u["size"] for u in report["units"]}
print(f"file {report['sizes']['file']} B; cargo bloat .text {bloat['text-section-size']} B; "
      f"sizegate .text symbols {sum(text.values())} B; sizegate shipped {report['sizes']['shipped']} B")
print(f"{'crate':24} {'cargo bloat':>11} {'sizegate .text':>14} {'diff':>7} {'sizegate unit':>13}")
for crate in bloat["crates"]:
    ours = text.get(crate["name"], 0)
    diff = (ours - crate["size"]) * 100 / crate["size"] if crate["size"] else 0.0
    print(f"{crate['name']:24} {crate['size']:>11} {ours:>14} {diff:>6.1f}% {units.get(crate['name'], 0):>13}")
known = {c["name"] for c in bloat["crates"]}
extra = [(k, v) for k, v in text.most_common() if k not in known]
if extra:
    print("only in sizegate:", ", ".join(f"{k} {v}" for k, v in extra))
PY
