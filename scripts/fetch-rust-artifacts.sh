#!/usr/bin/env bash
# Fetch real third-party stripped Rust release builds (Debian's ripgrep, fd
# and bat) into target/test-artifacts/deb/, once. The Rust attribution tests
# and the BENCHMARKS.md figures use them; tests skip with a message when a
# file is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=target/test-artifacts/deb
mkdir -p "$dest"
cd "$dest"
if [[ -x x/usr/bin/rg && -x x/usr/lib/cargo/bin/fd && -x x/usr/bin/batcat ]]; then exit 0; fi
apt-get download ripgrep fd-find bat
for deb in *.deb; do dpkg-deb -x "$deb" x; done
echo "fetched ripgrep, fd-find, bat -> $dest/x"
