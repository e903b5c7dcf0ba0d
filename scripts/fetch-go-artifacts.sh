#!/usr/bin/env bash
# Fetch real third-party Go release builds (Linux ELF, macOS Mach-O, Windows
# PE) from the npm registry into target/test-artifacts/, once. The Go
# attribution tests and the BENCHMARKS.md figures use them; tests skip with
# a message when a file is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=target/test-artifacts
mkdir -p "$dest"
fetch() { # package, path inside the tarball, output name
  local out="$dest/$3"
  if [[ -s "$out" ]]; then return; fi
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$1" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  cp "$tmp/package/$2" "$out"
  rm -rf "$tmp"
  echo "fetched $1 -> $out"
}
fetch @bufbuild/buf-linux-x64@1.47.2 bin/buf buf-linux-x64
fetch @bufbuild/buf-darwin-arm64@1.47.2 bin/buf buf-darwin-arm64
fetch @bufbuild/buf-win32-x64@1.47.2 bin/buf.exe buf-win32-x64.exe
fetch @esbuild/linux-x64@0.24.0 bin/esbuild esbuild-linux-x64
