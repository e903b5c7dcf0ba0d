#!/usr/bin/env bash
# Rust cross-builds for Windows (x86_64-pc-windows-gnu, a mingw PE) and
# WebAssembly (wasm32-wasip1): the figures of BENCHMARKS.md section "h13x".
#   scripts/rust-gnu-wasm-figures.sh build     # ripgrep 14.1.1 from crates.io, both targets, and their strip variants
#   scripts/rust-gnu-wasm-figures.sh figures   # language, crates with bytes, bracketed share of each build
# Builds go to target/test-artifacts/rust-cross/ (once). Needs the two rustup
# targets, x86_64-w64-mingw32-gcc (gcc-mingw-w64-x86-64-win32), strip for
# PE (binutils-mingw-w64), wasm-strip (wabt) and wasm-opt (binaryen).
# ANALYZE: the analyzer example to run (default target/release/examples/analyze,
# else target/debug/examples/analyze; `cargo build --release -p sizegate-analyze --example analyze`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/target/test-artifacts/rust-cross
version=14.1.1
case ${1:-figures} in
build)
  mkdir -p "$dest"
  cd "$dest"
  if [[ ! -f rg-debug.exe ]]; then
    # ripgrep's release profile keeps DWARF (debug = 1); the mingw linker
    # keeps the COFF symbol table.
    CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc \
      cargo install --locked "ripgrep@$version" --target x86_64-pc-windows-gnu \
      --root win --target-dir build
    cp win/bin/rg.exe rg-debug.exe
  fi
  # Symbols kept, DWARF dropped; then everything dropped.
  x86_64-w64-mingw32-strip --strip-debug -o rg-symbols.exe rg-debug.exe
  x86_64-w64-mingw32-strip --strip-all -o rg-stripped.exe rg-debug.exe
  if [[ ! -f rg-debug.wasm ]]; then
    cargo install --locked "ripgrep@$version" --target wasm32-wasip1 \
      --root wasi --target-dir build
    cp wasi/bin/rg.wasm rg-debug.wasm
  fi
  # The `name` section kept, DWARF dropped; everything custom dropped;
  # binaryen's optimizer (which drops names and DWARF without -g).
  llvm-strip --strip-debug -o rg-names.wasm rg-debug.wasm 2>/dev/null \
    || wasm-strip -k name -o rg-names.wasm rg-debug.wasm
  wasm-strip -o rg-stripped.wasm rg-debug.wasm
  wasm-opt -O2 --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
    --enable-mutable-globals -o rg-opt.wasm rg-names.wasm
  ls -l "$dest"/rg-*
  ;;
figures)
  analyze=${ANALYZE:-$root/target/release/examples/analyze}
  [[ -x $analyze ]] || analyze=$root/target/debug/examples/analyze
  cat /proc/loadavg
  echo "| build | file | shipped | language | crates with bytes | std/core/alloc | bracketed |"
  echo "|---|---|---|---|---|---|---|"
  for build in rg-debug.exe rg-symbols.exe rg-stripped.exe rg-debug.wasm rg-names.wasm rg-stripped.wasm rg-opt.wasm; do
    [[ -f $dest/$build ]] || { echo "| $build | missing: run \`$0 build\` | | | | | |"; continue; }
    SIZEGATE_NO_COMPRESS=1 "$analyze" "$dest/$build" 0 | python3 -c '
import json, sys
r = json.load(sys.stdin)
shipped = r["sizes"]["shipped"]
bracketed = sum(u["size"] for u in r["units"] if u["name"].startswith("["))
crates = [u for u in r["units"] if u["kind"] == "crate" and u["size"] > 0]
std = sum(u["size"] for u in crates if u["name"] in ("std", "core", "alloc"))
print("| `%s` | %.2f MB | %.2f MB | %s | %d | %.1f%% | %.1f%% |" % (sys.argv[1], r["sizes"]["file"] / 1e6,
    shipped / 1e6, r["language"], len(crates), 100 * std / shipped, 100 * bracketed / shipped))
' "$build"
  done
  ;;
*) echo "usage: $0 build|figures" >&2; exit 2 ;;
esac
