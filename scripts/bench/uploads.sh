#!/usr/bin/env bash
# Resumable uploads: a SIZE artifact (default 2 GiB) sent by `sizegate upload`
# in a session through a loopback proxy that cuts the connection once 60% of
# the bytes went through; records the bytes sent again, the wall time, and
# the RSS of the server (sampled every 0.2 s) and of the client. Writes
# benchmarks/uploads.md.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres scripts/bench/uploads.sh [SIZE_MIB]
#
# Needs: a PostgreSQL server (DATABASE_URL, a database is created and dropped),
# python3, GNU time, about 3x SIZE of free space under ${TMPDIR:-/tmp}.
# Uses target/debug/sizegate unless SIZEGATE_BIN names another binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mib=${1:-2048}
size=$((size_mib * 1048576))
bin=${SIZEGATE_BIN:-target/debug/sizegate}
[ -x "$bin" ] || cargo build -p sizegate
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL server}"
work=$(mktemp -d)
db_name="bench_uploads_$$"
db="${DATABASE_URL%/*}/$db_name"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
  psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" migrate --database-url "$db" > /dev/null
token=$("$bin" token create acme/app --database-url "$db" 2> /dev/null | grep -o 'sgu_[A-Za-z0-9_]*' | head -n 1)
SIZEGATE_MAX_ARTIFACT_BYTES=$((size * 2)) SIZEGATE_MAX_UPLOAD_BYTES=$((size * 2)) \
  "$bin" serve --listen 127.0.0.1:0 --database-url "$db" --data-dir "$work/data" \
  --analyzer tests/fixtures/fake-analyzer 2> "$work/serve.log" &
serve_pid=$!
pids+=("$serve_pid")
for _ in $(seq 100); do
  grep -q 'listening on http://' "$work/serve.log" && break
  sleep 0.1
done
server=$(grep -o 'listening on http://[0-9.:]*' "$work/serve.log" | head -n 1 | sed 's/listening on //')

# The cutting proxy: forwards both ways, counts client bytes, cuts once.
cat > "$work/proxy.py" <<'PY'
import socket, sys, threading
host, port = sys.argv[1].split("//")[1].split(":")
cut_at = int(sys.argv[2]); out = sys.argv[3]
lock = threading.Lock(); state = {"up": 0, "cut": False}
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0)); srv.listen(64)
print(srv.getsockname()[1], flush=True)
def down(s, c):
    try:
        while True:
            b = s.recv(65536)
            if not b: break
            c.sendall(b)
    except OSError: pass
    for x in (c, s):
        try: x.shutdown(socket.SHUT_RDWR)
        except OSError: pass
def serve(c):
    s = socket.create_connection((host, int(port)))
    threading.Thread(target=down, args=(s, c), daemon=True).start()
    try:
        while True:
            b = c.recv(65536)
            if not b: break
            with lock:
                state["up"] += len(b)
                cut = not state["cut"] and state["up"] > cut_at
                if cut: state["cut"] = True
                open(out, "w").write(str(state["up"]))
            if cut:
                for x in (c, s):
                    try: x.shutdown(socket.SHUT_RDWR); x.close()
                    except OSError: pass
                return
            s.sendall(b)
    except OSError: pass
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
python3 "$work/proxy.py" "$server" $((size * 6 / 10)) "$work/upstream" > "$work/proxy.port" &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/proxy.port" ] && break; sleep 0.1; done
proxy="http://127.0.0.1:$(head -n 1 "$work/proxy.port")"

truncate -s "$size" "$work/artifact"
# Real bytes, not a hole: the file is read from disk like a build output.
head -c "$size" /dev/urandom > "$work/artifact"

# Server RSS every 0.2 s while the upload runs.
( while kill -0 "$serve_pid" 2> /dev/null; do
    awk '/^VmRSS/ {print $2}' "/proc/$serve_pid/status" 2> /dev/null
    sleep 0.2
  done > "$work/rss" ) &
pids+=($!)
rss_before=$(awk '/^VmRSS/ {print $2}' "/proc/$serve_pid/status")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$work/client.time" "$bin" upload --server "$proxy" --token "$token" \
  --repo acme/app --commit "$(printf 'c%.0s' $(seq 40))" --branch main \
  "bench/app=$work/artifact" > "$work/upload.out" 2> "$work/upload.err" || {
  cat "$work/upload.err" >&2
  exit 1
}
end=$(date +%s.%N)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
sent=$(cat "$work/upstream")
resent=$((sent - size))
resumes=$(grep -c 'going on from there' "$work/upload.err" || true)
rss_max=$(sort -n "$work/rss" | tail -n 1)
client_rss=$(cat "$work/client.time")
wall=$(echo "$end - $start" | bc)
commit=$(git rev-parse --short HEAD)
mib() { echo "scale=1; $1 / 1024" | bc; }
pct=$(printf '%.1f' "$(echo "scale=3; 100 * $resent / $size" | bc)")
case "$bin" in
  */debug/*) build="a debug build" ;;
  *) build="the binary named by SIZEGATE_BIN" ;;
esac

cat > benchmarks/uploads.md <<MD
<!-- Written by scripts/bench/uploads.sh; run it again rather than editing by hand. -->

## Uploads: a resumable session cut at 60%

Command: \`DATABASE_URL=... scripts/bench/uploads.sh $size_mib\` at commit \`$commit\`:
\`sizegate upload\` ($build, default thresholds: sessions above 64 MiB, 16 MiB chunks)
of a ${size_mib} MiB file of random bytes to \`sizegate serve\` (local blob store, fake analyzer)
through a loopback proxy that cuts the connection once 60% of the bytes went through.
Server RSS sampled from /proc every 0.2 s; client peak RSS from GNU time.
Load average $load_before → $load_after.

| figure | measured | target | verdict |
|---|---|---|---|
| bytes sent again after the cut | $resent ($pct% of the artifact) | ≤ 45% | $( [ "$(echo "$pct <= 45" | bc)" = 1 ] && echo met || echo missed ) |
| resumes | $resumes | ≥ 1 | $( [ "$resumes" -ge 1 ] && echo met || echo missed ) |
| server RSS before the upload | $(mib "$rss_before") MiB | | |
| server RSS, peak during the upload | $(mib "$rss_max") MiB | flat (not growing with the artifact) | $( [ $((rss_max - rss_before)) -lt 131072 ] && echo "met (+$(mib $((rss_max - rss_before))) MiB)" || echo "missed (+$(mib $((rss_max - rss_before))) MiB)" ) |
| client peak RSS | $(mib "$client_rss") MiB | flat | |
| wall time (sha256, send, resume, join on the server) | ${wall%.*} s | | |
MD
echo "wrote benchmarks/uploads.md"
cat benchmarks/uploads.md
