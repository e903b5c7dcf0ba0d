#!/usr/bin/env bash
# Fetch real third-party Rust release builds into target/test-artifacts/,
# once. The Rust attribution tests and the BENCHMARKS.md figures use them;
# tests skip with a message when a file is missing.
#   scripts/fetch-rust-artifacts.sh        # Debian's stripped ripgrep, fd and bat (deb/)
#   scripts/fetch-rust-artifacts.sh npm    # oxlint's macOS arm64 Mach-O and Windows x64 PE builds,
#                                          # node-pty's MSVC DLLs with their PDBs (npm/)
set -euo pipefail
cd "$(dirname "$0")/.."
case ${1:-deb} in
deb)
  dest=target/test-artifacts/deb
  mkdir -p "$dest"
  cd "$dest"
  if [[ -x x/usr/bin/rg && -x x/usr/lib/cargo/bin/fd && -x x/usr/bin/batcat ]]; then exit 0; fi
  apt-get download ripgrep fd-find bat
  for deb in *.deb; do dpkg-deb -x "$deb" x; done
  echo "fetched ripgrep, fd-find, bat -> $dest/x"
  ;;
npm)
  # Native Node.js bindings: Rust cdylibs built for each platform.
  version=1.96.0
  dest=target/test-artifacts/npm
  mkdir -p "$dest"
  cd "$dest"
  for platform in darwin-arm64 win32-x64-msvc; do
    dir=oxlint-binding-$platform-$version
    [[ -d $dir/package ]] && continue
    npm pack "@oxlint/binding-$platform@$version" >/dev/null
    mkdir -p "$dir"
    tar xzf "$dir.tgz" -C "$dir"
    echo "fetched @oxlint/binding-$platform@$version -> $dest/$dir/package"
  done
  # A real MSVC (C++) build that ships its PDBs: node-pty's conpty.node
  # and conpty.pdb, for the PE + PDB debug-file test and figures.
  dir=node-pty-win32-x64-1.1.0
  if [[ ! -d $dir/package ]]; then
    npm pack "@lydell/node-pty-win32-x64@1.1.0" >/dev/null
    mkdir -p "$dir"
    tar xzf lydell-node-pty-win32-x64-1.1.0.tgz -C "$dir"
    echo "fetched @lydell/node-pty-win32-x64@1.1.0 -> $dest/$dir/package"
  fi
  ;;
*) echo "usage: $0 [deb|npm]" >&2; exit 2 ;;
esac
