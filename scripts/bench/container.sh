#!/usr/bin/env bash
# Container images: peak RSS and throughput of `sizegate analyze IMAGE.tar`
# on a generated image of about 2 GiB uncompressed (docker save layout,
# 4 layers: two gzip, two zstd; 64 files of 8 MiB each per layer, base64 of
# random bytes, which compresses about 1.3:1). Writes benchmarks/container.md.
#
#   scripts/bench/container.sh [--gib N] [--runs N]
#
# Needs: tar, gzip, zstd, python3, GNU time (/usr/bin/time). Uses the
# release build (cargo build --release -p sizegate) unless SIZEGATE is set.
# Targets (issue 19): peak RSS <= 256 MiB, >= 300 MB/s of uncompressed data.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
gib=2
runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --gib) gib=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
for tool in tar gzip zstd python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done
if [ -z "${SIZEGATE:-}" ]; then
  cargo build --release -p sizegate --quiet
  SIZEGATE=${CARGO_TARGET_DIR:-$root/target}/release/sizegate
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

layers=4
files_per_layer=$(( gib * 1024 / 8 / layers ))
echo "==> generating ${gib} GiB in $layers layers of $files_per_layer files"
python3 - "$work" "$layers" "$files_per_layer" <<'PY'
import base64, os, sys
work, layers, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seed = base64.b64encode(os.urandom(6 << 20))[: 8 << 20]  # 8 MiB, ~4:1 after zstd/gzip
for layer in range(layers):
    d = os.path.join(work, f"fs{layer}", "data", f"l{layer}")
    os.makedirs(d)
    for i in range(files):
        with open(os.path.join(d, f"f{i}"), "wb") as f:
            f.write(f"{layer}:{i}:".encode())
            f.write(seed[16:])
PY
manifest_layers=()
for layer in $(seq 0 $((layers - 1))); do
  mkdir -p "$work/img/l$layer"
  tar -cf "$work/l$layer.tar" -C "$work/fs$layer" .
  rm -rf "$work/fs$layer"
  if [ $((layer % 2)) -eq 0 ]; then
    gzip -1 -c "$work/l$layer.tar" > "$work/img/l$layer/layer.tar"
  else
    zstd -q -1 -T0 -c "$work/l$layer.tar" > "$work/img/l$layer/layer.tar"
  fi
  rm "$work/l$layer.tar"
  manifest_layers+=("\"l$layer/layer.tar\"")
done
echo '{"architecture":"amd64","os":"linux","history":[]}' > "$work/img/config.json"
(IFS=,; echo "[{\"Config\":\"config.json\",\"Layers\":[${manifest_layers[*]}]}]") > "$work/img/manifest.json"
tar -cf "$work/image.tar" -C "$work/img" .
rm -rf "$work/img"

"$SIZEGATE" analyze "$work/image.tar" --format json --top 3 > "$work/report.json"
read -r uncompressed compressed files <<<"$(python3 -c '
import json,sys; r=json.load(open(sys.argv[1])); s=r["sizes"]
print(s["uncompressed"], s["compressed"], sum(l["files"] for l in r["layers"]))' "$work/report.json")"
archive=$(stat -c %s "$work/image.tar")
times=()
cpus=()
peak=0
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for _ in $(seq "$runs"); do
  /usr/bin/time -f '%e %M %U %S' -o "$work/time" "$SIZEGATE" analyze "$work/image.tar" --format json --top 3 > /dev/null
  read -r secs rss user sys < "$work/time"
  times+=("$secs")
  cpus+=("$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')")
  [ "$rss" -gt "$peak" ] && peak=$rss
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
mbps=$(awk -v b="$uncompressed" -v t="$median" 'BEGIN {printf "%.0f", b / 1e6 / t}')
# CPU seconds (user + sys) do not grow with other load on the machine.
cpu_median=$(printf '%s\n' "${cpus[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
cpu_mbps=$(awk -v b="$uncompressed" -v t="$cpu_median" 'BEGIN {printf "%.0f", b / 1e6 / t}')
rss_mib=$(awk -v k="$peak" 'BEGIN {printf "%.0f", k / 1024}')
rss_ok=$([ "$rss_mib" -le 256 ] && echo met || echo missed)
speed_ok=$([ "$mbps" -ge 300 ] && echo met || echo missed)
commit=$(git rev-parse --short HEAD)
cat > benchmarks/container.md <<MD
## Container images: a ${gib} GiB image

Written by \`scripts/bench/container.sh --gib $gib --runs $runs\` at commit \`$commit\`, on $(nproc) cores. The image is generated: a \`docker save\` archive of $layers layers (two gzip -1, two zstd -1), $files regular files of 8 MiB of base64 text of random bytes (compresses about 1.3:1). Timed command, wall-clock median of $runs runs and the largest peak RSS (\`/usr/bin/time -f '%e %M %U %S'\`), release build:

\`\`\`
sizegate analyze image.tar --format json --top 3 > /dev/null
\`\`\`

| archive | compressed | uncompressed | median | throughput (uncompressed) | target ≥ 300 MB/s | peak RSS | target ≤ 256 MiB | runs (s) | load avg |
|---|---|---|---|---|---|---|---|---|---|
| $archive B | $compressed B | $uncompressed B | ${median} s | **${mbps} MB/s** | $speed_ok | **${rss_mib} MiB** | $rss_ok | ${times[*]} | $load_before → $load_after |

Per CPU second (user + sys, median ${cpu_median} s of ${cpus[*]}): **${cpu_mbps} MB/s** of uncompressed data. This figure does not grow with other load on the machine; the wall-clock one does (see load avg).

Two threads share the work of a layer: one decompresses (flate2 with the zlib-rs backend for gzip, libzstd) into four 1 MiB buffers, the other walks the tar stream and hashes every file's data (sha256, for duplicates) straight out of them; a third hashes the archive itself (\`file.sha256\`). The layers run one after the other.
MD
echo "wrote benchmarks/container.md"
cat benchmarks/container.md
