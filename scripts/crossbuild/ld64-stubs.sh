#!/usr/bin/env bash
# A linker for rustc's *-apple-darwin targets without the macOS SDK (use
# with `-C linker-flavor=ld64.lld`): ld64.lld with a text stub (.tbd) for
# every system library the command names, and undefined symbols left to the
# dynamic loader. The output is a real Mach-O; it is not meant to run.
set -euo pipefail
ld64=${LD64_LLD:-}
if [[ -z $ld64 ]]; then
  for candidate in ld64.lld /usr/lib/llvm-*/bin/ld64.lld; do
    if command -v "$candidate" >/dev/null 2>&1; then ld64=$candidate; break; fi
  done
fi
[[ -n $ld64 ]] || { echo "ld64-stubs: ld64.lld not found" >&2; exit 1; }
stubs=$(mktemp -d)
trap 'rm -rf "$stubs"' EXIT
for arg in "$@"; do
  case "$arg" in
    -l*)
      name=${arg#-l}
      printf -- '--- !tapi-tbd\ntbd-version: 4\ntargets: [ x86_64-macos, arm64-macos ]\ninstall-name: %s\n...\n' \
        "'/usr/lib/lib$name.dylib'" > "$stubs/lib$name.tbd"
      ;;
  esac
done
"$ld64" "$@" -L "$stubs" -undefined dynamic_lookup
