#!/usr/bin/env bash
# Benchmark `sizegate analyze` against the reference tools, and write the
# results as the markdown fragment benchmarks/analyzer.md.
#
#   scripts/bench/analyzer.sh [--runs N] [--nice N] [--sizegate PATH] [--work DIR] [--out FILE]
#
# --nice N runs every timed command (sizegate and the reference tools alike)
# under `nice -n N`; on a machine shared with other jobs a negative N (as
# root) approaches the figures of an idle machine. CPU time (user + sys) is
# reported beside wall time, as it depends less on the other jobs.
#
# What it measures (each command runs N times, default 5; the median is
# reported, with the reference tool measured in the same run):
#   1. attribution alone (`analyze --no-compress`) against
#      `go tool nm -size -sort size` on Go binaries with symbols: a large
#      generated Go program (scripts/bench/gen-go) and the `go` command,
#      both built here;
#   2. attribution alone against `cargo bloat --release --crates` (build
#      already fresh) on hexyl 0.17.0 from crates.io;
#   3. the full report (gzip, zstd, sha256 included) on every 50+ MB
#      binary found (Go binaries from Debian packages and the Cloud SDK,
#      the generated Go program, a Rust binary with symbols and debug
#      info): wall time and peak RSS, beside `gzip -6` of the same file;
#   4. the gzip figure against `gzip -6` output sizes.
#
# It installs nothing: it checks for its tools and says what to install.
# Big inputs are built once into the work directory (default
# /tmp/sizegate-bench) and reused.
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
runs=5
nice_level=""
sizegate=""
work=/tmp/sizegate-bench
out="$here/benchmarks/analyzer.md"
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --nice) nice_level=$2; shift 2 ;;
    --sizegate) sizegate=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

# --- tools ------------------------------------------------------------------
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$1: $2"); }
need go "apt-get install golang-go"
need cargo "https://rustup.rs"
need cargo-bloat "cargo install --locked cargo-bloat"
need python3 "apt-get install python3"
need gzip "apt-get install gzip"
[ -x /usr/bin/time ] || missing+=("/usr/bin/time: apt-get install time")
if [ -z "$sizegate" ]; then
    for candidate in "${CARGO_TARGET_DIR:-$here/target}/release/sizegate"; do
        if [ -x "$candidate" ]; then sizegate=$candidate; break; fi
    done
fi
[ -n "$sizegate" ] && [ -x "$sizegate" ] ||
    missing+=("sizegate: cargo build --release -p sizegate (or pass --sizegate PATH)")
if [ ${#missing[@]} -gt 0 ]; then
    echo "missing tools:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    exit 1
fi
mkdir -p "$work" "$(dirname "$out")"
results="$work/results.tsv"
: >"$results"

# --- inputs -------------------------------------------------------------------
# A large Go program with its symbol table and DWARF (about 74 MB).
big_go="$work/big-go"
if [ ! -x "$big_go" ]; then
    echo "building the generated Go program (a few minutes)..." >&2
    rm -rf "$work/big-go-src"
    go run "$here/scripts/bench/gen-go/main.go" -out "$work/big-go-src" -packages 120 -funcs 600
    (cd "$work/big-go-src" && go build -o "$big_go" .)
fi
# The `go` command itself, built from the installed toolchain's source.
go_cmd="$work/go-cmd"
if [ ! -x "$go_cmd" ]; then
    echo "building cmd/go with symbols..." >&2
    go build -o "$go_cmd" cmd/go
fi
# hexyl 0.17.0, from crates.io through cargo's own registry cache.
hexyl="$work/hexyl-0.17.0"
if [ ! -d "$hexyl" ]; then
    echo "fetching hexyl 0.17.0 from crates.io..." >&2
    fetch="$work/fetch-hexyl"
    mkdir -p "$fetch/src"
    printf '[package]\nname = "fetch-hexyl"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nhexyl = "=0.17.0"\n' >"$fetch/Cargo.toml"
    echo 'fn main() {}' >"$fetch/src/main.rs"
    (cd "$fetch" && cargo fetch --quiet)
    cp -r "$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/hexyl-0.17.0 | head -1)" "$hexyl"
fi
echo "building hexyl (release, its own profile)..." >&2
(cd "$hexyl" && env -u CARGO_TARGET_DIR cargo build --release --locked --quiet)

# --- measuring ----------------------------------------------------------------
# measure NAME FILE COMMAND...: run COMMAND $runs times (after one warm-up
# run that also checks it succeeds), append "NAME FILE wall_s rss_kb" rows.
measure() {
    local name=$1 file=$2
    shift 2
    "$@" >/dev/null 2>"$work/stderr" || {
        echo "command failed: $*" >&2
        cat "$work/stderr" >&2
        exit 1
    }
    local prefix=()
    [ -n "$nice_level" ] && prefix=(nice -n "$nice_level")
    for _ in $(seq "$runs"); do
        "${prefix[@]}" /usr/bin/time -f '%e %M %U %S' -o "$work/time" "$@" >/dev/null 2>/dev/null
        read -r wall rss user sys <"$work/time"
        printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$file" "$wall" "$rss" \
            "$(python3 -c "print(round($user + $sys, 2))")" >>"$results"
    done
}
load() { cut -d' ' -f1-3 /proc/loadavg; }

go_inputs=("$big_go" "$go_cmd")
declare -A loads
for bin in "${go_inputs[@]}"; do
    before=$(load)
    measure "go tool nm" "$bin" go tool nm -size -sort size "$bin"
    measure "sizegate --no-compress" "$bin" "$sizegate" analyze --no-compress --format json --top 0 "$bin"
    loads[$bin]="$before → $(load)"
done

hexyl_bin="$hexyl/target/release/hexyl"
before=$(load)
measure "cargo bloat" "$hexyl_bin" bash -c "cd '$hexyl' && env -u CARGO_TARGET_DIR cargo bloat --release --crates -n 0"
measure "sizegate --no-compress" "$hexyl_bin" "$sizegate" analyze --no-compress --format json --top 0 "$hexyl_bin"
loads[$hexyl_bin]="$before → $(load)"

# Every binary of 50 MB or more at hand (and the big ones built above).
rust_big=""
for candidate in "${SIZEGATE_BENCH_RUST:-}" /work/target-dev/debug/sizegate "$here/target/debug/sizegate"; do
    if [ -n "$candidate" ] && [ -f "$candidate" ]; then rust_big=$candidate; break; fi
done
big=()
for candidate in "$big_go" /usr/bin/hugo /usr/bin/rclone /usr/lib/google-cloud-sdk/bin/kubectl \
    /usr/lib/google-cloud-sdk/bin/anthoscli "$rust_big"; do
    if [ -n "$candidate" ] && [ -f "$candidate" ] && [ "$(stat -c %s "$candidate")" -ge 50000000 ]; then
        big+=("$candidate")
    fi
done
if [ -n "$rust_big" ]; then
    # Copied, so a rebuild during the run cannot change it.
    cp "$rust_big" "$work/sizegate-debug"
    big=("${big[@]/#$rust_big/$work/sizegate-debug}")
fi
for bin in "${big[@]}"; do
    before=$(load)
    measure "gzip -6" "$bin" gzip -6 -c "$bin"
    measure "sizegate (full)" "$bin" "$sizegate" analyze --format json --top 0 "$bin"
    loads[$bin]="$before → $(load)"
done

# The gzip figure against real `gzip -6` output.
sizes="$work/sizes.tsv"
: >"$sizes"
for bin in "${big[@]}" "$go_cmd" "$hexyl_bin"; do
    ours=$("$sizegate" analyze --format json --top 1 "$bin" |
        python3 -c 'import json,sys; s=json.load(sys.stdin)["sizes"]; print(s["gzip"], s["zstd"])')
    printf '%s\t%s\t%s\t%s\t%s\n' "$bin" "$(stat -c %s "$bin")" "$(gzip -6 -c "$bin" | wc -c)" \
        "$ours" "$(command -v zstd >/dev/null && zstd -3 -c -q "$bin" | wc -c || echo -)" >>"$sizes"
done

loads_file="$work/loads.tsv"
: >"$loads_file"
for key in "${!loads[@]}"; do printf '%s\t%s\n' "$key" "${loads[$key]}" >>"$loads_file"; done

# --- the fragment -------------------------------------------------------------
python3 - "$results" "$sizes" "$loads_file" "$out" "$runs" "$sizegate" "$(nproc)" "${nice_level:-0}" \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
    "$("$sizegate" --version 2>/dev/null || echo sizegate)" "$(git -C "$here" rev-parse --short HEAD)" \
    "$(go version)" "$(cargo bloat --version 2>/dev/null || echo cargo-bloat)" "$here/scripts/bench/analyzer-notes.md" <<'PY'
import collections, os, statistics, sys

results, sizes, loads_file, out, runs, sizegate, cores, nice_level, cpu, version, commit, go, bloat, notes = sys.argv[1:]
rows = collections.defaultdict(list)
cpu_time = collections.defaultdict(list)
for line in open(results):
    name, file, wall, rss, cpu_s = line.rstrip("\n").split("\t")
    rows[(name, file)].append((float(wall), int(rss)))
    cpu_time[(name, file)].append(float(cpu_s))
loads = dict(line.rstrip("\n").split("\t") for line in open(loads_file))

def med(name, file):
    samples = rows[(name, file)]
    return statistics.median(w for w, _ in samples), max(r for _, r in samples), samples

def cpu_med(name, file):
    return statistics.median(cpu_time[(name, file)])

def mb(n):
    return f"{n / 1e6:.1f} MB"

def size(path):
    return os.stat(path).st_size

def cell(samples):
    return " ".join(f"{w:.2f}" for w, _ in samples)

o = []
w = o.append
w("## Analyzer: how these figures were made\n")
w(f"Written by `scripts/bench/analyzer.sh --runs {runs}` at commit `{commit}` "
  f"({version}), on {cores} cores ({cpu}), {go}, {bloat}. Each command ran "
  f"{runs} times after one warm-up run; times are wall-clock medians from "
  "`/usr/bin/time -f '%e %M %U %S'` (resolution 10 ms); CPU is the median of user + sys "
  "time of all threads and children; peak RSS is the largest of the runs. "
  + (f"Every timed command ran under `nice -n {nice_level}` (both sizegate and the "
     "reference tool), to take back the cores from the other jobs of the shared machine. "
     if nice_level != "0" else "") +
  "The machine is shared with other builds: the load average before and after "
  "each benchmark is given, and the reference tool ran in the same minute as "
  "sizegate, so the ratio is fairer than either time. "
  f"The timed binary is `{sizegate}`, built with the workspace's `[profile.release]` "
  "(`opt-level = \"s\"`, fat LTO, one codegen unit, `panic = \"abort\"`; the "
  "codecs at `opt-level = 3`, see Cargo.toml).\n")

w("## Analyzer: attribution alone vs `go tool nm -size -sort size`\n")
w("Target: `sizegate analyze --no-compress` (sections, symbols, units, sha256; "
  "no gzip or zstd) takes at most 1.0x the time of `go tool nm -size -sort size` "
  "on the same Go binary. Both write every symbol (`--format json --top 0`).\n")
w("```\ngo tool nm -size -sort size BINARY > /dev/null\n"
  "sizegate analyze --no-compress --format json --top 0 BINARY > /dev/null\n```\n")
w("| binary | size | `go tool nm` median | sizegate median | ratio | target ≤ 1.0x | CPU: nm / sizegate | load avg | runs (s, sizegate) |")
w("|---|---|---|---|---|---|---|---|---|")
files = sorted({f for (n, f) in rows if n == "go tool nm"})
for f in files:
    ref, _, _ = med("go tool nm", f)
    ours, _, samples = med("sizegate --no-compress", f)
    ratio = ours / ref if ref else float("inf")
    w(f"| `{os.path.basename(f)}` | {mb(size(f))} | {ref:.2f} s | {ours:.2f} s | **{ratio:.2f}x** | "
      f"{'met' if ratio <= 1.0 else 'missed'} | {cpu_med('go tool nm', f):.2f} s / {cpu_med('sizegate --no-compress', f):.2f} s | "
      f"{loads.get(f, '')} | {cell(samples)} |")
w("")

w("## Analyzer: attribution alone vs `cargo bloat --release --crates`\n")
w("Target: at most 0.5x the time of `cargo bloat --release --crates` on the same "
  "Rust project, its build already fresh (hexyl 0.17.0 from crates.io, its own "
  "release profile: LTO, one codegen unit, symbols kept).\n")
w("```\ncd hexyl-0.17.0 && cargo build --release --locked   # once, not timed\n"
  "cargo bloat --release --crates -n 0 > /dev/null\n"
  "sizegate analyze --no-compress --format json --top 0 target/release/hexyl > /dev/null\n```\n")
w("| binary | size | `cargo bloat` median | sizegate median | ratio | target ≤ 0.5x | CPU: bloat / sizegate | load avg | runs (s, sizegate) |")
w("|---|---|---|---|---|---|---|---|---|")
for f in sorted({f for (n, f) in rows if n == "cargo bloat"}):
    ref, _, _ = med("cargo bloat", f)
    ours, _, samples = med("sizegate --no-compress", f)
    ratio = ours / ref if ref else float("inf")
    w(f"| `hexyl` 0.17.0 | {mb(size(f))} | {ref:.2f} s | {ours:.2f} s | **{ratio:.2f}x** | "
      f"{'met' if ratio <= 0.5 else 'missed'} | {cpu_med('cargo bloat', f):.2f} s / {cpu_med('sizegate --no-compress', f):.2f} s | "
      f"{loads.get(f, '')} | {cell(samples)} |")
w("")

w("## Analyzer: the full report on 50+ MB binaries\n")
w("Target: the full report (sections, symbols, units, sha256, gzip and zstd "
  "sizes) of a 50+ MB binary in at most 1.0 s wall on this 2-core machine, "
  "with a peak RSS of at most 2x the file's size. `gzip -6` of the same file "
  "(one core, C zlib) is the reference.\n")
w("```\ngzip -6 -c BINARY > /dev/null\n"
  "sizegate analyze --format json --top 0 BINARY > /dev/null\n```\n")
w("| binary | size | `gzip -6` median | sizegate median | ratio | ≤ 1.0 s | sizegate CPU | peak RSS | RSS / size | ≤ 2x | load avg | runs (s) |")
w("|---|---|---|---|---|---|---|---|---|---|---|---|")
for f in sorted({f for (n, f) in rows if n == "sizegate (full)"}, key=size):
    ref, _, _ = med("gzip -6", f)
    ours, rss, samples = med("sizegate (full)", f)
    rss_b = rss * 1024
    w(f"| `{os.path.basename(f)}` | {mb(size(f))} | {ref:.2f} s | {ours:.2f} s | {ours / ref:.2f}x | "
      f"{'met' if ours <= 1.0 else 'missed'} | {cpu_med('sizegate (full)', f):.2f} s | {mb(rss_b)} | {rss_b / size(f):.2f}x | "
      f"{'met' if rss_b <= 2 * size(f) else 'missed'} | {loads.get(f, '')} | {cell(samples)} |")
w("")

w("## Analyzer: the gzip figure against `gzip -6`\n")
w("The `gzip` figure is the size of the file cut into fixed 4 MiB chunks, each "
  "compressed at deflate level 6 by libdeflate as its own gzip member (a valid "
  "multi-member gzip file). It does not depend on the number of threads. "
  "How far it is from GNU `gzip -6` output of the whole file, and the zstd "
  "figure (one level-3 frame of the whole file) beside `zstd -3`:\n")
w("```\ngzip -6 -c BINARY | wc -c\nzstd -3 -c -q BINARY | wc -c\n"
  "sizegate analyze --format json BINARY   # sizes.gzip, sizes.zstd\n```\n")
w("| binary | size | `gzip -6` | sizegate gzip | difference | `zstd -3` | sizegate zstd |")
w("|---|---|---|---|---|---|---|")
for line in open(sizes):
    f, n, gz, ours, zs = line.rstrip("\n").split("\t")
    ours_gz, ours_zs = ours.split()
    diff = (int(ours_gz) - int(gz)) * 100 / int(gz)
    w(f"| `{os.path.basename(f)}` | {mb(int(n))} | {int(gz):,} | {int(ours_gz):,} | {diff:+.2f}% | "
      f"{zs if zs == '-' else format(int(zs), ',')} | {int(ours_zs):,} |")
w("")
if os.path.exists(notes):
    o.append(open(notes).read().rstrip() + "\n")
open(out, "w").write("\n".join(o))
print(f"wrote {out}")
PY
