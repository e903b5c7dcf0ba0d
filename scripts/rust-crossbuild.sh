#!/usr/bin/env bash
# Real Rust release builds for macOS and Windows, with their debug files,
# made here without an SDK (the linker wrappers of scripts/crossbuild/), and
# the figures of BENCHMARKS.md ("h13mw"): language and bracketed share of
# shipped bytes, stripped alone and with the dSYM / PDB.
#   scripts/rust-crossbuild.sh build [TARGET...]    # ripgrep 14.1.1 per target -> target/test-artifacts/crossbuild/
#   scripts/rust-crossbuild.sh figures [TARGET...]  # the table
# TARGET defaults to aarch64-apple-darwin x86_64-apple-darwin
# x86_64-pc-windows-msvc aarch64-pc-windows-msvc (each needs
# `rustup target add TARGET`; .ci/run adds them). Needs network once
# (crates.io). SIZEGATE: the CLI (default target/release/sizegate, else
# target/debug/sizegate).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/target/test-artifacts/crossbuild
mode=${1:?usage: $0 build|figures [TARGET...]}
shift
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(aarch64-apple-darwin x86_64-apple-darwin x86_64-pc-windows-msvc aarch64-pc-windows-msvc)
program=ripgrep
version=14.1.1

build() {
  local target=$1 dir=$out/$1
  mkdir -p "$dir/sdk"
  export CARGO_TARGET_DIR=$out/cargo-target CARGO_PROFILE_RELEASE_DEBUG=true
  case $target in
    *-apple-darwin)
      # rustc runs dsymutil (packed) before its strip; SDKROOT keeps it
      # from looking for Xcode.
      SDKROOT=$dir/sdk CARGO_PROFILE_RELEASE_SPLIT_DEBUGINFO=packed \
        RUSTFLAGS="-C linker=$root/scripts/crossbuild/ld64-stubs.sh -C linker-flavor=ld64.lld" \
        cargo install --locked --force --target "$target" --root "$dir/install" "$program@$version"
      # cargo install moves the binary out of the target directory and
      # leaves the dSYM there.
      local built=$CARGO_TARGET_DIR/$target/release
      cp "$dir/install/bin/rg" "$dir/rg"
      rm -rf "$dir/rg.dSYM"
      cp -rL "$built/rg.dSYM" "$dir/rg.dSYM"
      # As shipped: without the symbol table (the dSYM keeps it).
      llvm-strip -o "$dir/rg-stripped" "$dir/rg"
      ;;
    *-windows-msvc)
      RUSTFLAGS="-C linker=$root/scripts/crossbuild/lld-link-stubs.sh" \
        cargo install --locked --force --target "$target" --root "$dir/install" "$program@$version"
      local built=$CARGO_TARGET_DIR/$target/release
      cp "$dir/install/bin/rg.exe" "$dir/rg.exe"
      cp "$built/rg.pdb" "$dir/rg.pdb"
      ;;
    *) echo "unsupported target $target" >&2; return 2 ;;
  esac
  echo "built $program $version for $target -> $dir"
}

figures() {
  local sizegate=${SIZEGATE:-$root/target/release/sizegate}
  [[ -x $sizegate ]] || sizegate=$root/target/debug/sizegate
  json() { "$sizegate" analyze --no-compress --format json --top 0 "$@"; }
  local tmp
  tmp=$(mktemp -d)
  echo "| $program $version, target | shipped | language: stripped / with debug file | bracketed: unstripped | stripped | stripped + debug file | crates |"
  echo "|---|---|---|---|---|---|---|"
  for target in "${targets[@]}"; do
    local dir=$out/$target unstripped stripped debug
    case $target in
      *-apple-darwin) unstripped=$dir/rg stripped=$dir/rg-stripped debug=$dir/rg.dSYM ;;
      *) unstripped=$dir/rg.exe stripped=$dir/rg.exe debug=$dir/rg.pdb ;;
    esac
    if [[ ! -e $stripped ]]; then
      echo "| $target | (not built: $0 build $target) | | | | | |"
      continue
    fi
    json "$unstripped" >"$tmp/u.json"
    json "$stripped" >"$tmp/s.json"
    json "$stripped" --debug-file "$debug" >"$tmp/d.json"
    python3 - "$target" "$tmp/u.json" "$tmp/s.json" "$tmp/d.json" <<'PY'
import json, sys
target, u, s, d = sys.argv[1], *(json.load(open(p)) for p in sys.argv[2:])
def bracketed(r):
    return 100 * sum(x["size"] for x in r["units"] if x["name"].startswith("[")) / r["sizes"]["shipped"]
crates = sum(1 for x in d["units"] if x["kind"] == "crate")
print("| %s | %.2f MB | %s / %s | %.1f%% | %.1f%% | %.1f%% | %d |" % (target, d["sizes"]["shipped"] / 1e6,
    s["language"], d["language"], bracketed(u), bracketed(s), bracketed(d), crates))
PY
  done
  rm -rf "$tmp"
}

case $mode in
  build) for target in "${targets[@]}"; do build "$target"; done ;;
  figures) figures ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
