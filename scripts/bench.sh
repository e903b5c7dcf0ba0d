#!/usr/bin/env bash
# Runs every benchmark harness under scripts/bench/ (or the ones named) and
# updates BENCHMARKS.md: the machine lines of its header, and each harness's
# fragment from benchmarks/*.md between its `<!-- bench:NAME -->` markers
# (scripts/bench/assemble.py); hand-written sections are kept.
#
#   scripts/bench.sh              # all harnesses, then assemble
#   scripts/bench.sh analyzer     # one harness, then assemble
#   scripts/bench.sh --assemble   # only update BENCHMARKS.md from the fragments
#
# Each harness scripts/bench/NAME.sh writes benchmarks/NAME.md and nothing else
# in the repository; it says which tools it needs and how to install them. A
# fragment without a harness (benchmarks/diff.md, from criterion) names the
# command that produced it.
set -euo pipefail
cd "$(dirname "$0")/.."

assemble_only=false
names=()
for arg in "$@"; do
  case "$arg" in
    --assemble) assemble_only=true ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) names+=("$arg") ;;
  esac
done

if ! $assemble_only; then
  if [ "${#names[@]}" -eq 0 ]; then
    for script in scripts/bench/*.sh; do names+=("$(basename "$script" .sh)"); done
  fi
  for name in "${names[@]}"; do
    [ -f "scripts/bench/$name.sh" ] || { echo "no harness scripts/bench/$name.sh" >&2; exit 2; }
    printf '\n==> benchmark: %s\n' "$name"
    bash "scripts/bench/$name.sh"
  done
fi

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)
mem=$(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null || echo unknown)
# Only the text between each fragment's markers is replaced: the sections
# written by hand (records of sessions and issues) stay as they are.
python3 scripts/bench/assemble.py \
  "Machine of the last assembly: $(nproc) cores ($cpu), $mem memory," \
  "$(uname -sr), $(rustc --version 2>/dev/null || echo 'rustc not found')."
echo "wrote BENCHMARKS.md"
