#!/usr/bin/env bash
# The service and footprint benchmarks of sizegate (issue 7), written as the
# markdown fragment benchmarks/service.md (the integrator assembles
# BENCHMARKS.md from benchmarks/*.md).
#
#   scripts/bench/service.sh [SECTION...]
#
# Sections: footprint startup ingest webhook checkrun history (default: all);
# `assemble` only rewrites the fragment from the kept results and the notes.
# Each section's result is kept under $SIZEGATE_BENCH_STATE, so running one
# section again rewrites only its part of the fragment.
#
# Needs: a Postgres reachable at $SIZEGATE_BENCH_PG (trust auth; the script
# creates and drops databases named sizegate_bench_*), curl, psql, wrk,
# openssl, awk. Everything listens on 127.0.0.1 only and every run is bounded
# in count and time.
#
# Environment:
#   CARGO_TARGET_DIR              where the release binary is built (default target/)
#   SIZEGATE_BENCH_DEV_TARGET_DIR where the benchmark driver (a dev-profile
#                                 example) is built (default: CARGO_TARGET_DIR)
#   SIZEGATE_BIN                  use this sizegate binary instead of building one
#   SIZEGATE_BENCH_PG             default postgres://postgres@127.0.0.1:5432
#   SIZEGATE_BENCH_RUNS           runs per benchmark (default 5)
#   SIZEGATE_BENCH_ARTIFACT       the ~50 MB binary of the check-run benchmark
#                                 (default: the ELF file closest to 50 MB under
#                                 /usr/bin, /usr/local/bin, /usr/lib)
#   SIZEGATE_BENCH_RESEED=1       rebuild the 1,000,000-measurement database
#   SIZEGATE_BENCH_OUT            write the fragment elsewhere (default benchmarks/service.md)
#   SIZEGATE_BENCH_STATE          where section results are kept (default target/bench/service)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
DEV_TARGET_DIR=${SIZEGATE_BENCH_DEV_TARGET_DIR:-$TARGET_DIR}
PG=${SIZEGATE_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
RUNS=${SIZEGATE_BENCH_RUNS:-5}
STATE=${SIZEGATE_BENCH_STATE:-$ROOT/target/bench/service}
OUT=${SIZEGATE_BENCH_OUT:-$ROOT/benchmarks/service.md}
BIN=${SIZEGATE_BIN:-$TARGET_DIR/release/sizegate}
SECTIONS=(footprint startup ingest webhook checkrun history)
WEBHOOK_SECRET=bench-webhook-secret
APP_ID=4242

WORK=$(mktemp -d /tmp/sizegate-svc-bench.XXXXXX)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
now_ns() { date +%s%N; }

# percentile P FILE: nearest-rank percentile of the numbers in FILE (one per line).
percentile() {
    sort -g "$2" | awk -v p="$1" '{ a[NR] = $1 } END {
        if (NR == 0) { print "NA"; exit }
        i = int(p * NR / 100); if (i < p * NR / 100) i++; if (i < 1) i = 1;
        print a[i] }'
}
median() { percentile 50 "$1"; }
fmt() { awk -v v="$1" -v d="${2:-1}" 'BEGIN { if (v == "NA") print v; else printf "%.*f", d, v }'; }

psql_q() { psql -X -v ON_ERROR_STOP=1 -q -At "$@"; }

fresh_db() {
    local name=$1
    psql_q "$PG/postgres" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name"
    "$BIN" migrate --database-url "$PG/$name" >/dev/null 2>&1 || die "migrating $name"
}

free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 30000))
        if ! ss -Htln "sport = :$port" | grep -q .; then
            echo "$port"
            return
        fi
    done
}

# healthz_once PORT: 0 when GET /healthz answers 200 (bash's /dev/tcp: no
# process is started per attempt, so polling is fine-grained).
healthz_once() {
    { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
    local line=""
    IFS= read -r -t 2 line <&3 || true
    exec 3<&- 3>&-
    [[ $line == *" 200 "* ]]
}

# start_server LOG [serve args...]: start `sizegate serve` on a free
# loopback port, wait until /healthz answers; sets SERVER_PID and SERVER_URL.
start_server() {
    local logfile=$1
    shift
    local port
    port=$(free_port)
    mkdir -p "$WORK/data"
    "$BIN" serve --listen "127.0.0.1:$port" --data-dir "$WORK/data" "$@" >"$logfile" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    SERVER_URL="http://127.0.0.1:$port"
    local i
    for i in $(seq 1 600); do
        healthz_once "$port" && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$logfile" >&2; die "the server exited"; }
        sleep 0.05
    done
    die "the server did not become ready in 30 s"
}

stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

token_for() { "$BIN" token create "$2" --database-url "$PG/$1" 2>/dev/null | tail -n1; }

ensure_binary() {
    if [[ -z ${SIZEGATE_BIN:-} ]]; then
        log "building the release binary (cargo build --release --locked -p sizegate)"
        (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --locked -p sizegate) >&2
    fi
    [[ -x $BIN ]] || die "no sizegate binary at $BIN"
}

section_file() { echo "$STATE/$1.md"; }

# ---------------------------------------------------------------------------
bench_footprint() {
    local out size stripped
    out=$(section_file footprint)
    size=$(stat -c %s "$BIN")
    stripped=$(file -b "$BIN" | grep -o 'not stripped\|stripped' | head -n1 || true)
    {
        echo "## Footprint: the release binary and its dependency tree"
        echo
        echo "Command: \`cargo build --release --locked -p sizegate\` (workspace \`[profile.release]\`:"
        echo "\`opt-level = \"s\"\`, fat LTO, \`codegen-units = 1\`, \`panic = \"abort\"\`, \`strip = true\`),"
        echo "then \`stat -c %s\`; duplicates from"
        echo "\`cargo tree -e normal -p sizegate --target x86_64-unknown-linux-gnu\` (what is linked into the binary)."
        echo
        echo "| figure | measured | target | verdict |"
        echo "|---|---|---|---|"
        echo "| \`sizegate\` binary, x86_64 Linux ($stripped) | $(awk -v s="$size" 'BEGIN { printf "%.2f MB (%d bytes)", s / 1e6, s }') | ≤ 15 MB | $(awk -v s="$size" 'BEGIN { if (s <= 15e6) printf "met (%.1f MB to spare)", (15e6 - s) / 1e6; else printf "missed by %.2f MB", (s - 15e6) / 1e6 }') |"
        echo
        echo "Crates linked in more than one version, and who asks for each"
        echo "(\`cargo tree -i NAME@VERSION --depth 1\`):"
        echo
        echo "| crate | version | pulled in by |"
        echo "|---|---|---|"
        local tree
        tree=$(cd "$ROOT" && cargo tree -e normal -p sizegate --locked --target x86_64-unknown-linux-gnu --prefix none 2>/dev/null)
        local dups name version by
        dups=$(awk '{ print $1, $2 }' <<<"$tree" | sort -u | awk '{ c[$1]++; v[$1] = v[$1] " " $2 } END { for (k in c) if (c[k] > 1) print k v[k] }' | sort)
        while read -r name versions; do
            [[ -n $name ]] || continue
            for version in $versions; do
                by=$(cd "$ROOT" && cargo tree -e normal -p sizegate --locked --target x86_64-unknown-linux-gnu \
                    -i "$name@${version#v}" --depth 1 --prefix none 2>/dev/null |
                    awk 'NR > 1 && NF { print $1 }' | grep -v "^$name$" | sort -u | paste -sd, - | sed 's/,/, /g')
                echo "| $name | $version | $by |"
            done
        done <<<"$dups"
        echo
    } >"$out"
}

# ---------------------------------------------------------------------------
bench_startup() {
    local out times db=sizegate_bench_startup n=${SIZEGATE_BENCH_STARTUP_RUNS:-20}
    out=$(section_file startup)
    times=$WORK/startup.txt
    : >"$times"
    : >"$WORK/startup-sched.txt"
    fresh_db "$db"
    local load_before i port t0 t1 pid
    load_before=$(load)
    for i in $(seq 1 "$n"); do
        port=$(free_port)
        t0=$(now_ns)
        "$BIN" serve --listen "127.0.0.1:$port" --database-url "$PG/$db" --data-dir "$WORK/data" \
            >"$WORK/startup-$i.log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        until healthz_once "$port"; do
            kill -0 "$pid" 2>/dev/null || { cat "$WORK/startup-$i.log" >&2; die "the server exited during start-up"; }
        done
        t1=$(now_ns)
        echo $(((t1 - t0) / 1000)) | awk '{ printf "%.2f\n", $1 / 1000 }' >>"$times"
        # The scheduler's account of all its threads so far: time on a CPU
        # and time runnable but waiting for one (the cost of a loaded machine).
        cat "/proc/$pid/task/"*/schedstat 2>/dev/null |
            awk '{ c += $1; w += $2 } END { printf "%.2f %.2f\n", c / 1e6, w / 1e6 }' >>"$WORK/startup-sched.txt"
        kill -TERM "$pid"
        wait "$pid" 2>/dev/null || true
    done
    local med p90 max oncpu waitcpu
    awk '{ print $1 }' "$WORK/startup-sched.txt" >"$WORK/startup-oncpu.txt"
    awk '{ print $2 }' "$WORK/startup-sched.txt" >"$WORK/startup-wait.txt"
    oncpu=$(median "$WORK/startup-oncpu.txt")
    waitcpu=$(median "$WORK/startup-wait.txt")
    med=$(median "$times")
    p90=$(percentile 90 "$times")
    max=$(percentile 100 "$times")
    {
        echo "## Start-up: exec to the first 200 from \`/healthz\`"
        echo
        echo "Command: \`scripts/bench/service.sh startup\`: $n times, \`sizegate serve\` (with its"
        echo "in-process workers) on an already migrated database, timed from just before"
        echo "the exec to the first \`200\` read from \`GET /healthz\` (polled over bash's"
        echo "\`/dev/tcp\`, no process per attempt; the time includes the fork and exec)."
        echo
        echo "| runs | median | p90 | max | target | verdict | load before |"
        echo "|---|---|---|---|---|---|---|"
        echo "| $n | **$(fmt "$med") ms** | $(fmt "$p90") ms | $(fmt "$max") ms | ≤ 100 ms | $(verdict_le "$med" 100 ms) | $load_before |"
        echo
        echo "Of that, from \`/proc/PID/task/*/schedstat\` (summed over the server's threads, until"
        echo "ready; medians): $(fmt "$oncpu") ms on a CPU, $(fmt "$waitcpu") ms runnable but waiting for a CPU"
        echo "(the shared machine's load); the rest is the exec itself and waiting on Postgres"
        echo "(one connection, the migration check) and the network."
        echo
    } >"$out"
}

# verdict_le VALUE TARGET UNIT: "met" / "missed by X UNIT" for a ≤ target.
verdict_le() {
    awk -v v="$1" -v t="$2" -v u="$3" 'BEGIN {
        if (v == "NA") print "not measured";
        else if (v <= t) printf "met (%.1fx headroom)", (v > 0 ? t / v : 0);
        else printf "missed by %.1f %s (%.0f%%)", v - t, u, 100 * (v - t) / t }'
}
# verdict_ge VALUE TARGET UNIT: for a ≥ target.
verdict_ge() {
    awk -v v="$1" -v t="$2" -v u="$3" 'BEGIN {
        if (v == "NA") print "not measured";
        else if (v >= t) printf "met (%.1fx the target)", v / t;
        else printf "missed by %.0f %s (%.0f%%)", t - v, u, 100 * (t - v) / t }'
}

# ---------------------------------------------------------------------------
bench_ingest() {
    local out db=sizegate_bench_ingest
    out=$(section_file ingest)
    fresh_db "$db"
    start_server "$WORK/ingest-server.log" --database-url "$PG/$db" --no-worker \
        --max-artifact-bytes $((1 << 30))
    local token
    token=$(token_for "$db" bench/ingest)
    local load_before
    load_before=$(load)
    local rows=$WORK/ingest-rows.md
    : >"$rows"
    local mb file run stamp sha t hwm base rate
    for mb in 10 100 400; do
        file=$WORK/artifact-$mb.bin
        head -c $((mb * 1000 * 1000)) /dev/urandom >"$file"
        : >"$WORK/rate-$mb.txt"
        : >"$WORK/hwm-$mb.txt"
        for run in $(seq 1 "$RUNS"); do
            # New content for every run (no deduplication), new commit.
            printf '%016x' "$((RANDOM * 65536 + run))" | dd of="$file" bs=1 seek=0 conv=notrunc status=none
            sha=$(printf '%040x' "$((mb * 1000 + run))$RANDOM")
            sha=${sha: -40}
            echo 5 >"/proc/$SERVER_PID/clear_refs" # reset VmHWM to the current RSS
            base=$(awk '/VmRSS/ { print $2 }' "/proc/$SERVER_PID/status")
            t=$(curl -sS -o "$WORK/ingest-answer.json" -w '%{http_code} %{time_total}' \
                -H "Authorization: Bearer $token" \
                -F "meta={\"repo\":\"bench/ingest\",\"commit\":\"$sha\",\"branch\":\"main\"};type=application/json" \
                -F "artifact=@$file;filename=x86_64-unknown-linux-gnu/app;type=application/octet-stream" \
                "$SERVER_URL/api/v1/uploads")
            [[ ${t%% *} == 202 ]] || die "upload answered ${t%% *}: $(cat "$WORK/ingest-answer.json")"
            hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$SERVER_PID/status")
            awk -v s=$((mb * 1000 * 1000)) -v t="${t#* }" 'BEGIN { printf "%.1f\n", s / t / 1e6 }' >>"$WORK/rate-$mb.txt"
            echo "$((hwm / 1024)) $((base / 1024))" >>"$WORK/hwm-$mb.txt"
        done
        rate=$(median "$WORK/rate-$mb.txt")
        echo "$mb $rate" >>"$WORK/ingest-medians.txt"
        printf '| %s MB | %s | **%s MB/s** | %s MB/s | %s MiB | %s MiB |\n' "$mb" "$RUNS" "$(fmt "$rate")" \
            "$(sort -g "$WORK/rate-$mb.txt" | head -n1)-$(sort -g "$WORK/rate-$mb.txt" | tail -n1)" \
            "$(awk '{ print $2 }' "$WORK/hwm-$mb.txt" | sort -g | tail -n1)" \
            "$(awk '{ print $1 }' "$WORK/hwm-$mb.txt" | sort -g | tail -n1)" >>"$rows"
    done
    local load_after
    load_after=$(load)
    stop_server
    # Context: what the disk and sha256 alone do on this machine.
    local dd_rate sha_rate t0 t1
    t0=$(now_ns)
    dd if="$WORK/artifact-400.bin" of="$WORK/data/dd-probe" bs=1M conv=fsync status=none
    t1=$(now_ns)
    dd_rate=$(awk -v s=400e6 -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", s / (ns / 1e9) / 1e6 }')
    rm -f "$WORK/data/dd-probe"
    t0=$(now_ns)
    sha256sum "$WORK/artifact-400.bin" >/dev/null
    t1=$(now_ns)
    sha_rate=$(awk -v s=400e6 -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", s / (ns / 1e9) / 1e6 }')
    rm -f "$WORK"/artifact-*.bin
    local med100
    med100=$(awk '$1 == 100 { print $2 }' "$WORK/ingest-medians.txt")
    {
        echo "## Ingest: streamed upload of one artifact"
        echo
        echo "Command: \`scripts/bench/service.sh ingest\`: \`sizegate serve --no-worker\` (release"
        echo "binary, local blob store, \`--max-artifact-bytes\` 1 GiB), then $RUNS uploads per size of"
        echo "random bytes (new content and a new commit each time) with"
        echo "\`curl -F meta=…;type=application/json -F artifact=@FILE;filename=x86_64-unknown-linux-gnu/app\`"
        echo "to \`POST /api/v1/uploads\`. Throughput = artifact size / curl's \`time_total\`, i.e."
        echo "until the \`202\`: streaming, sha256, the fsync of the blob, the rename and the"
        echo "database transaction all included. Peak RSS is the server's \`VmHWM\` from"
        echo "\`/proc/PID/status\`, reset before each upload with \`echo 5 > /proc/PID/clear_refs\`."
        echo "MB = 10^6 bytes."
        echo
        echo "| artifact | runs | median throughput | min-max | RSS before | peak RSS during |"
        echo "|---|---|---|---|---|---|"
        cat "$rows"
        echo
        echo "Target: ≥ 200 MB/s for 100 MB, memory flat in the artifact's size."
        echo "100 MB: $(verdict_ge "$med100" 200 MB/s). Load average before/after: $load_before / $load_after."
        echo "For scale on this machine: \`dd bs=1M conv=fsync\` of 400 MB writes at $dd_rate MB/s,"
        echo "\`sha256sum\` hashes at $sha_rate MB/s."
        echo
    } >"$out"
}

# ---------------------------------------------------------------------------
bench_webhook() {
    local out db=sizegate_bench_webhook duration=${SIZEGATE_BENCH_WRK_SECS:-10}
    local conns=${SIZEGATE_BENCH_WRK_CONNS:-32}
    out=$(section_file webhook)
    command -v wrk >/dev/null || die "wrk is needed (apt-get install wrk)"
    fresh_db "$db"
    # The fixture's repository is known (as after its first upload), so each
    # delivery runs the whole pull_request path: delivery id recorded,
    # repository found, pull request state upserted, evaluation requested.
    token_for "$db" Codertocat/Hello-World >/dev/null
    SIZEGATE_GITHUB_WEBHOOK_SECRET=$WEBHOOK_SECRET \
        start_server "$WORK/webhook-server.log" --database-url "$PG/$db" --no-worker
    local fixture=$ROOT/crates/sizegate-github/fixtures/webhooks/pull_request.synchronize.json
    [[ -f $fixture ]] || fixture=/work/shared/fixtures/github/webhooks/pull_request.synchronize.json
    [[ -f $fixture ]] || die "no pull_request.synchronize.json fixture"
    local variants=${SIZEGATE_BENCH_WEBHOOK_PRS:-64} i
    mkdir -p "$WORK/hooks"
    for i in $(seq 1 "$variants"); do
        # The same payload for $variants different pull requests (GitHub
        # sends each PR's events separately); signatures precomputed.
        jq -c ".number = $i | .pull_request.number = $i" "$fixture" >"$WORK/hooks/body-$i.json"
        openssl dgst -sha256 -hmac "$WEBHOOK_SECRET" -r "$WORK/hooks/body-$i.json" |
            cut -d' ' -f1 >"$WORK/hooks/sig-$i.txt"
    done
    cat >"$WORK/webhook.lua" <<'LUA'
-- POST /webhooks/github with precomputed signed bodies; a distinct
-- X-GitHub-Delivery per request, so no request is a redelivery.
local counter = 0
local thread_count = 0
local bodies, sigs = {}, {}

function setup(thread)
    thread_count = thread_count + 1
    thread:set("tid", thread_count)
end

function init(args)
    local dir, n, run = args[1], tonumber(args[2]), args[3]
    for i = 1, n do
        local f = assert(io.open(dir .. "/body-" .. i .. ".json", "rb"))
        bodies[i] = f:read("*a"); f:close()
        local s = assert(io.open(dir .. "/sig-" .. i .. ".txt", "rb"))
        sigs[i] = "sha256=" .. s:read("*l"); s:close()
    end
    prefix = run .. "-" .. tostring(tid) .. "-"
end

function request()
    counter = counter + 1
    local i = (counter % #bodies) + 1
    return wrk.format("POST", "/webhooks/github", {
        ["Content-Type"] = "application/json",
        ["X-GitHub-Event"] = "pull_request",
        ["X-GitHub-Delivery"] = prefix .. counter,
        ["X-Hub-Signature-256"] = sigs[i],
        ["User-Agent"] = "GitHub-Hookshot/bench",
    }, bodies[i])
end
LUA
    # A short warm-up (connections, plan cache), not counted.
    wrk -t2 -c"$conns" -d2s -s "$WORK/webhook.lua" "$SERVER_URL/webhooks/github" -- "$WORK/hooks" "$variants" warm >/dev/null
    local rps=$WORK/webhook-rps.txt p50=$WORK/webhook-p50.txt p99=$WORK/webhook-p99.txt
    : >"$rps"; : >"$p50"; : >"$p99"
    local load_before run res errors=0 cpu_before cpu_after requests=0
    load_before=$(load)
    cpu_before=$(server_cpu_ms)
    for run in $(seq 1 "$RUNS"); do
        res=$WORK/wrk-$run.txt
        wrk -t2 -c"$conns" -d"${duration}s" --latency -s "$WORK/webhook.lua" \
            "$SERVER_URL/webhooks/github" -- "$WORK/hooks" "$variants" "r$run$RANDOM" >"$res"
        awk '/^Requests\/sec:/ { print $2 }' "$res" >>"$rps"
        to_ms "$(awk '$1 == "50%" { print $2 }' "$res")" >>"$p50"
        to_ms "$(awk '$1 == "99%" { print $2 }' "$res")" >>"$p99"
        errors=$((errors + $(awk '/Non-2xx/ { n = $5 } END { print n + 0 }' "$res")))
        requests=$((requests + $(awk '/requests in/ { print $1 }' "$res")))
    done
    cpu_after=$(server_cpu_ms)
    local load_after
    load_after=$(load)
    local stored
    stored=$(psql_q "$PG/$db" -c "SELECT count(*) FROM webhook_deliveries")
    stop_server
    local mrps mp50 mp99
    mrps=$(median "$rps"); mp50=$(median "$p50"); mp99=$(median "$p99")
    {
        echo "## \`POST /webhooks/github\` under load"
        echo
        echo "Command: \`scripts/bench/service.sh webhook\`: \`sizegate serve --no-worker\` (release"
        echo "binary, default pool of 10 connections, request log on at \`info\`), the fixture's"
        echo "repository registered, then $RUNS runs of"
        echo "\`wrk -t2 -c$conns -d${duration}s --latency -s webhook.lua URL/webhooks/github\`"
        echo "from a second process on the same 2 cores. The body is"
        echo "\`pull_request.synchronize.json\` (octokit/webhooks, 28 KB) for $variants pull request"
        echo "numbers, each signed once with HMAC-SHA256 beforehand; every request has a new"
        echo "\`X-GitHub-Delivery\`, so each one is verified, parsed and recorded (delivery row,"
        echo "pull request upsert, evaluation request)."
        echo
        echo "| runs | requests/s (median) | per run | p50 latency | p99 latency (median of runs) | p99 per run | non-2xx |"
        echo "|---|---|---|---|---|---|---|"
        echo "| $RUNS | **$(fmt "$mrps" 0)** | $(sort -g "$rps" | awk '{ printf "%s%.0f", (NR > 1 ? ", " : ""), $1 }') | $(fmt "$mp50" 2) ms | **$(fmt "$mp99" 2) ms** | $(awk '{ printf "%s%.1f", (NR > 1 ? ", " : ""), $1 }' "$p99") ms | $errors |"
        echo
        echo "Target: ≥ 2,000 requests/s with p99 ≤ 50 ms: throughput $(verdict_ge "$mrps" 2000 req/s),"
        echo "p99 $(verdict_le "$mp99" 50 ms). Deliveries stored: $stored (warm-up included)."
        if ((errors > 0)); then
            echo "**$errors answers were not 2xx: these figures do not count.**"
        fi
        echo "Load average before/after: $load_before / $load_after."
        echo "The server spent $(awk -v c=$((cpu_after - cpu_before)) -v n=$requests 'BEGIN { printf "%.3f", c / n }') ms of CPU per request"
        echo "(\`/proc/PID/task/*/schedstat\` over the $requests measured requests); Postgres and wrk share the same two cores."
        echo
    } >"$out"
}

# server_cpu_ms: CPU time of the running server so far, all threads, in ms.
server_cpu_ms() {
    cat "/proc/$SERVER_PID/task/"*/schedstat 2>/dev/null | awk '{ c += $1 } END { printf "%d\n", c / 1e6 }'
}

# to_ms "12.34ms" → 12.34 (wrk prints us, ms or s).
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f\n", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f\n", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f\n", v * 1000 }
        else print "NA" }'
}

# ---------------------------------------------------------------------------
find_artifact() {
    if [[ -n ${SIZEGATE_BENCH_ARTIFACT:-} ]]; then
        echo "$SIZEGATE_BENCH_ARTIFACT"
        return
    fi
    find /usr/bin /usr/local/bin /usr/lib -maxdepth 4 -type f -size +30M -size -80M 2>/dev/null |
        while read -r f; do
            [[ $(head -c 4 "$f" | od -An -c | tr -d ' ') == 177ELF ]] || continue
            echo "$(($(stat -c %s "$f") - 50000000)) $f"
        done | awk '{ d = $1 < 0 ? -$1 : $1; print d, $2 }' | sort -n | head -n1 | cut -d' ' -f2
}

bench_checkrun() {
    local out db=sizegate_bench_checkrun
    out=$(section_file checkrun)
    local artifact
    artifact=$(find_artifact)
    [[ -n $artifact && -f $artifact ]] || die "no ~50 MB ELF file found: set SIZEGATE_BENCH_ARTIFACT"
    log "building the check-run driver (dev profile example of sizegate-github)"
    (cd "$ROOT" && CARGO_TARGET_DIR=$DEV_TARGET_DIR cargo build --locked -q -p sizegate-github \
        --features fake --example check_run_latency) >&2
    local driver=$DEV_TARGET_DIR/debug/examples/check_run_latency
    fresh_db "$db"
    openssl genrsa -traditional -out "$WORK/app.pem" 2048 2>/dev/null
    openssl rsa -RSAPublicKey_out -outform DER -in "$WORK/app.pem" -out "$WORK/app.der" 2>/dev/null
    "$driver" --public-key "$WORK/app.der" --app-id "$APP_ID" --url-file "$WORK/fake.url" \
        --server-file "$WORK/server.url" --token-file "$WORK/token" --artifact "$artifact" \
        --runs "$RUNS" --scratch "$WORK" >"$WORK/checkrun.out" 2>"$WORK/checkrun.err" &
    local driver_pid=$!
    PIDS+=("$driver_pid")
    local i
    for i in $(seq 1 200); do [[ -s $WORK/fake.url ]] && break; sleep 0.05; done
    [[ -s $WORK/fake.url ]] || die "the fake GitHub did not start: $(cat "$WORK/checkrun.err")"
    local token
    token=$(token_for "$db" bench-org/app)
    SIZEGATE_GITHUB_APP_ID=$APP_ID SIZEGATE_GITHUB_PRIVATE_KEY_FILE=$WORK/app.pem \
        SIZEGATE_GITHUB_API_URL=$(cat "$WORK/fake.url") \
        start_server "$WORK/checkrun-server.log" --database-url "$PG/$db" --max-artifact-bytes $((1 << 30))
    local load_before
    load_before=$(load)
    echo "$token" >"$WORK/token"
    echo "$SERVER_URL" >"$WORK/server.url"
    wait "$driver_pid" || die "the driver failed: $(cat "$WORK/checkrun.err")"
    local load_after
    load_after=$(load)
    # Where the time went, per commit, from the database's own timestamps.
    psql_q "$PG/$db" -F' ' -c "
        SELECT c.sha,
               round(extract(epoch FROM j.started_at - j.created_at) * 1000),
               round(extract(epoch FROM m.created_at - j.started_at) * 1000),
               round(extract(epoch FROM e.evaluated_at - m.created_at) * 1000),
               round(extract(epoch FROM e.reported_at - e.evaluated_at) * 1000)
        FROM commits c
        JOIN builds b ON b.commit_id = c.id AND b.superseded_at IS NULL
        JOIN jobs j ON j.build_id = b.id
        JOIN measurements m ON m.artifact_id = b.artifact_id
        LEFT JOIN evaluations e ON e.commit_id = c.id" >"$WORK/stages.txt"
    stop_server
    # The analyzer alone on the same file, as the worker runs it.
    local t0 t1 analyze_ms
    t0=$(now_ns)
    "$BIN" analyze --format json --top 0 "$artifact" >/dev/null
    t1=$(now_ns)
    analyze_ms=$(((t1 - t0) / 1000000))
    grep -o 'completed_ms=[0-9.]*' "$WORK/checkrun.out" | cut -d= -f2 >"$WORK/completed.txt"
    grep -o 'upload_ms=[0-9.]*' "$WORK/checkrun.out" | cut -d= -f2 >"$WORK/upload.txt"
    grep -o 'first_check_ms=[0-9.]*' "$WORK/checkrun.out" | cut -d= -f2 >"$WORK/first.txt"
    local col
    for col in 2 3 4 5; do awk -v c=$col '{ print $c }' "$WORK/stages.txt" >"$WORK/stage-$col.txt"; done
    local p50 size
    p50=$(median "$WORK/completed.txt")
    size=$(stat -c %s "$artifact")
    {
        echo "## Upload → check run completed (fake GitHub)"
        echo
        echo "Command: \`scripts/bench/service.sh checkrun\`: a real \`sizegate serve\` (release binary,"
        echo "in-process workers, the analyzer as a child process, as shipped) with the GitHub App"
        echo "settings pointing at the fake GitHub (\`sizegate-github\` feature \`fake\`, real clock), driven"
        echo "by \`crates/sizegate-github/examples/check_run_latency.rs\`: $RUNS uploads of"
        echo "\`$artifact\` ($(awk -v s="$size" 'BEGIN { printf "%.1f MB", s / 1e6 }'), 16 distinct bytes appended per run so nothing is"
        echo "deduplicated) for a pull request, timed from just before \`curl\` starts to the"
        echo "moment the commit's check run shows \`completed\` on the fake (polled every 2 ms)."
        echo
        echo "| runs | p50 upload → completed | per run | upload answered (p50) | first check run seen (p50) | target | verdict |"
        echo "|---|---|---|---|---|---|---|"
        echo "| $RUNS | **$(fmt "$(awk '{ print $1 / 1000 }' "$WORK/completed.txt" | sort -g | awk -v p=50 '{ a[NR] = $1 } END { i = int(p * NR / 100); if (i < p * NR / 100) i++; print a[i] }')" 2) s** | $(awk '{ printf "%s%.2f", (NR > 1 ? ", " : ""), $1 / 1000 }' "$WORK/completed.txt") s | $(fmt "$(median "$WORK/upload.txt")" 0) ms | $(fmt "$(median "$WORK/first.txt")" 0) ms | ≤ 2 s | $(verdict_le "$(awk -v v="$p50" 'BEGIN { print v / 1000 }')" 2 s) |"
        echo
        echo "Where the time goes (medians over the runs, from the database's timestamps):"
        echo
        echo "| stage | median |"
        echo "|---|---|"
        echo "| upload streamed, stored and recorded (curl until \`202\`) | $(fmt "$(median "$WORK/upload.txt")" 0) ms |"
        echo "| queue pickup (job created → claimed) | $(median "$WORK/stage-2.txt") ms |"
        echo "| analysis (claimed → measurement stored: blob read, analyzer child, report stored) | $(median "$WORK/stage-3.txt") ms |"
        echo "| evaluation (measurement stored → gate evaluated) | $(median "$WORK/stage-4.txt") ms |"
        echo "| reporting (evaluated → comment and check run posted) | $(median "$WORK/stage-5.txt") ms |"
        echo
        echo "For reference, \`sizegate analyze --format json --top 0\` alone on the same file: $analyze_ms ms."
        echo "Load average before/after: $load_before / $load_after."
        echo
    } >"$out"
}

# ---------------------------------------------------------------------------
# 1,000,000 measurements: set-based SQL in a dedicated database, the real
# schema and constraints. Repository 1 (bench/hot) has 200,000 commits; its
# target x86_64-unknown-linux-gnu/app is measured on every one (the hot
# target), two more targets on every 4th. 500 more repositories have 350
# commits with 4 targets each. 1 job per build. Sections, units and symbols
# rows are not seeded (the history API and the target page never read them).
SEED_VERSION=1
seed_1m() {
    local db=$1
    psql_q "$PG/$db" <<'SQL'
BEGIN;
CREATE TABLE bench_seed (version int NOT NULL);
INSERT INTO repositories (id, owner, name, created_at)
    SELECT g, 'bench', CASE WHEN g = 1 THEN 'hot' ELSE 'r' || lpad(g::text, 3, '0') END,
           now() - interval '400 days'
    FROM generate_series(1, 501) g;
INSERT INTO targets (id, repository_id, name)
    VALUES (1, 1, 'x86_64-unknown-linux-gnu/app'), (2, 1, 'aarch64-unknown-linux-gnu/app'),
           (3, 1, 'wasm32-unknown-unknown/app.wasm');
INSERT INTO targets (id, repository_id, name)
    SELECT 4 + g, 2 + g / 4,
           (ARRAY['x86_64-unknown-linux-gnu/app', 'aarch64-unknown-linux-gnu/app',
                  'x86_64-pc-windows-msvc/app.exe', 'aarch64-apple-darwin/app'])[1 + g % 4]
    FROM generate_series(0, 1999) g;
-- The hot repository: one commit every 2 minutes, 90 % on main, the rest on
-- pull request branches; every upload carries its sizegate.toml.
INSERT INTO commits (id, repository_id, sha, branch, pr_number, base_sha, config, created_at, updated_at)
    SELECT g, 1, md5('c' || g) || substr(md5('d' || g), 1, 8),
           CASE WHEN g % 10 = 0 THEN 'feature-' || (g / 10) % 5000 ELSE 'main' END,
           CASE WHEN g % 10 = 0 THEN 1 + (g / 10) % 5000 END,
           CASE WHEN g % 10 = 0 THEN md5('c' || (g - 1)) || substr(md5('d' || (g - 1)), 1, 8) END,
           E'[[budget]]\ntarget = "x86_64-*"\nmax_size = "12 MiB"\nmax_increase = "64 KiB"\n',
           now() - make_interval(mins => 2 * (200000 - g)),
           now() - make_interval(mins => 2 * (200000 - g))
    FROM generate_series(1, 200000) g;
INSERT INTO commits (id, repository_id, sha, branch, config, created_at, updated_at)
    SELECT 200001 + c, 2 + c / 350, md5('c' || (200001 + c)) || substr(md5('d' || (200001 + c)), 1, 8),
           CASE WHEN c % 7 = 0 THEN 'feature-' || c % 50 ELSE 'main' END,
           E'[[budget]]\ntarget = "*"\nmax_increase_percent = 1.0\n',
           now() - make_interval(hours => 350 - c % 350),
           now() - make_interval(hours => 350 - c % 350)
    FROM generate_series(0, 174999) c;
-- Builds 1..200000: the hot target on every hot commit; 200001..300000: the
-- two other hot targets on every 4th commit; 300001..1000000: the others.
CREATE TEMP TABLE plan AS
    SELECT g AS id, g AS commit_id, 1 AS target_id FROM generate_series(1, 200000) g
    UNION ALL
    SELECT g, 4 * ((g - 200000 + 1) / 2), 2 + (g % 2) FROM generate_series(200001, 300000) g
    UNION ALL
    SELECT g, 200001 + (g - 300001) / 4, 4 + ((g - 300001) / 4 / 350) * 4 + (g - 300001) % 4
    FROM generate_series(300001, 1000000) g;
INSERT INTO artifacts (id, sha256, size, blob_key, created_at)
    SELECT p.id, md5('a' || p.id) || md5('b' || p.id), 4000000 + p.id % 100000,
           'artifacts/' || substr(md5('a' || p.id), 1, 2) || '/' || md5('a' || p.id) || md5('b' || p.id),
           c.created_at
    FROM plan p JOIN commits c ON c.id = p.commit_id;
INSERT INTO builds (id, commit_id, target_id, artifact_id, created_at)
    SELECT p.id, p.commit_id, p.target_id, p.id, c.created_at
    FROM plan p JOIN commits c ON c.id = p.commit_id;
INSERT INTO jobs (id, build_id, state, attempts, run_at, created_at, started_at, finished_at, updated_at)
    SELECT b.id, b.id, 'done', 1, b.created_at, b.created_at, b.created_at + interval '1 s',
           b.created_at + interval '5 s', b.created_at + interval '5 s'
    FROM builds b;
-- Sizes drift up slowly with steps, as a real target's do.
INSERT INTO measurements (id, artifact_id, schema_version, format, arch, language, stripped,
        size_file, size_vm, size_shipped, size_gzip, size_zstd, size_debug, size_symbols,
        toolchain, advice, symbol_count, report_key, created_at)
    SELECT b.id, b.id, 1, 'elf', 'x86_64', 'rust', true,
           6000000 + (b.commit_id % 97) * 300 + (b.commit_id / 1000) * 8192,
           6100000 + (b.commit_id / 1000) * 8192,
           5000000 + (b.commit_id % 89) * 200 + (b.commit_id / 1000) * 8192,
           2100000 + (b.commit_id / 1000) * 4096, 1800000 + (b.commit_id / 1000) * 4096, 0, 0,
           '{"rustc": "1.91.0"}', '[]', 12000 + b.commit_id % 1000,
           'reports/' || substr(md5('a' || b.id), 1, 2) || '/' || md5('a' || b.id) || '.json.zst',
           b.created_at + interval '5 s'
    FROM builds b;
SELECT setval('repositories_id_seq', 501), setval('targets_id_seq', 2003),
       setval('commits_id_seq', 375000), setval('artifacts_id_seq', 1000000),
       setval('builds_id_seq', 1000000), setval('jobs_id_seq', 1000000),
       setval('measurements_id_seq', 1000000);
COMMIT;
SQL
    psql_q "$PG/$db" -c "VACUUM ANALYZE"
    psql_q "$PG/$db" -c "INSERT INTO bench_seed VALUES ($SEED_VERSION)"
}

# time_requests NAME PATH N: N timed GETs (after one warm-up); writes ms per request.
time_requests() {
    local name=$1 path=$2 n=$3 i code
    curl -sS -o /dev/null "$SERVER_URL$path"
    : >"$WORK/t-$name.txt"
    for i in $(seq 1 "$n"); do
        code=$(curl -sS -o "$WORK/body-$name" -w '%{http_code} %{time_total}' "$SERVER_URL$path")
        [[ ${code%% *} == 200 ]] || die "GET $path answered ${code%% *}"
        awk -v t="${code#* }" 'BEGIN { printf "%.2f\n", t * 1000 }' >>"$WORK/t-$name.txt"
    done
}

bench_history() {
    local out db=sizegate_bench_1m n=${SIZEGATE_BENCH_REQUESTS:-20}
    out=$(section_file history)
    local seeded
    seeded=$(psql_q "$PG/$db" -c "SELECT version FROM bench_seed" 2>/dev/null || true)
    if [[ $seeded != "$SEED_VERSION" || -n ${SIZEGATE_BENCH_RESEED:-} ]]; then
        log "seeding 1,000,000 measurements into $db (a few minutes)"
        fresh_db "$db"
        local t0 t1
        t0=$(now_ns)
        seed_1m "$db" >/dev/null
        t1=$(now_ns)
        log "seeded in $(((t1 - t0) / 1000000000)) s"
    else
        # Apply migrations added since the seed (e.g. new indexes).
        "$BIN" migrate --database-url "$PG/$db" >/dev/null 2>&1 || die "migrating $db"
        psql_q "$PG/$db" -c "ANALYZE"
    fi
    local counts
    counts=$(psql_q "$PG/$db" -F' ' -c "SELECT (SELECT count(*) FROM measurements), (SELECT count(*) FROM builds WHERE target_id = 1), (SELECT count(*) FROM commits), (SELECT count(*) FROM targets)")
    start_server "$WORK/history-server.log" --database-url "$PG/$db" --no-worker
    local target=x86_64-unknown-linux-gnu/app
    local enc=x86_64-unknown-linux-gnu%2Fapp
    local deep
    deep=$(psql_q "$PG/$db" -c "SELECT id FROM builds WHERE target_id = 1 ORDER BY id LIMIT 1 OFFSET 100000")
    local load_before
    load_before=$(load)
    local -a cases=(
        "api-default|/api/v1/repos/bench/hot/targets/$target/history"
        "api-main-500|/api/v1/repos/bench/hot/targets/$target/history?branch=main&limit=500"
        "api-deep-page|/api/v1/repos/bench/hot/targets/$target/history?limit=50&before=$deep"
        "page-default|/repos/bench/hot/targets/$target"
        "page-10000|/repos/bench/hot/targets/$target?count=10000"
        "page-feature|/repos/bench/hot/targets/$target?branch=feature-42"
        "page-small-repo|/repos/bench/r250/targets/aarch64-apple-darwin/app"
    )
    local rows=$WORK/history-rows.md
    : >"$rows"
    local c name path med p95 max worst=0
    for c in "${cases[@]}"; do
        name=${c%%|*}
        path=${c#*|}
        time_requests "$name" "$path" "$n"
        med=$(median "$WORK/t-$name.txt")
        p95=$(percentile 95 "$WORK/t-$name.txt")
        max=$(percentile 100 "$WORK/t-$name.txt")
        worst=$(awk -v a="$worst" -v b="$med" 'BEGIN { print (b > a ? b : a) }')
        echo "| \`${path//|/\\|}\` | $(stat -c %s "$WORK/body-$name") B | **$(fmt "$med") ms** | $(fmt "$p95") ms | $(fmt "$max") ms | $(verdict_le "$med" 100 ms) |" >>"$rows"
    done
    local load_after
    load_after=$(load)
    # The server's own figure (request log, whole milliseconds) for the same requests.
    local server_med
    server_med=$(grep -o 'elapsed_ms=[0-9]*' "$WORK/history-server.log" | cut -d= -f2 | sort -g |
        awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "NA" }')
    stop_server
    explain_history "$db" "$deep" >"$WORK/explain.md"
    {
        echo "## History API and target page with 1,000,000 measurements"
        echo
        echo "Command: \`scripts/bench/service.sh history\`. Seeded with set-based SQL"
        echo "(\`INSERT … SELECT generate_series\`, see \`seed_1m\` in the script) into a dedicated"
        echo "database with the real schema and constraints: measurements, builds, artifacts,"
        echo "jobs = $(cut -d' ' -f1 <<<"$counts") rows each; $(cut -d' ' -f3 <<<"$counts") commits over 501"
        echo "repositories and $(cut -d' ' -f4 <<<"$counts") targets; the hot target"
        echo "\`bench/hot\` \`$target\` has $(cut -d' ' -f2 <<<"$counts") builds (one commit every 2 minutes,"
        echo "90 % on \`main\`), the 500 other repositories 350 commits × 4 targets each. Section,"
        echo "unit and symbol rows are not seeded: neither the history API nor the target page"
        echo "reads them."
        echo
        echo "Each request: one warm-up, then $n sequential \`curl\` GETs over loopback; the"
        echo "figure is curl's \`time_total\`, the loopback round trip, an **upper bound** of server"
        echo "time (the server's own request log, in whole milliseconds, gives a median of"
        echo "$server_med ms over all these requests). Release binary, \`--no-worker\`."
        echo
        echo "| request | answer | median | p95 | max | target ≤ 100 ms |"
        echo "|---|---|---|---|---|---|"
        cat "$rows"
        echo
        echo "Load average before/after: $load_before / $load_after."
        echo
        cat "$WORK/explain.md"
    } >"$out"
}

# The plans of the queries behind those requests, as the server runs them:
# unnamed statements are planned for their parameters each time (custom
# plans); the branch menu's fallback is a cached prepared statement (its
# generic plan is shown, the worst case of the plan cache).
explain_history() {
    local db=$1 deep=$2
    local hist="SELECT b.id AS build_id, c.sha AS commit, c.branch, c.pr_number,
        b.created_at AS uploaded_at, a.sha256,
        m.size_file, m.size_vm, m.size_shipped, m.size_gzip, m.size_zstd, m.size_debug, m.size_symbols
     FROM builds b
     JOIN commits c ON c.id = b.commit_id
     JOIN artifacts a ON a.id = b.artifact_id
     JOIN measurements m ON m.artifact_id = b.artifact_id"
    local -a queries=(
        "custom|history API (\`target_history\`), branch=main, limit 500|PREPARE q(bigint, text, bigint, bigint) AS $hist
             WHERE b.target_id = \$1 AND b.superseded_at IS NULL
               AND (\$2::text IS NULL OR c.branch = \$2)
               AND (\$3::bigint IS NULL OR b.id < \$3)
             ORDER BY b.id DESC LIMIT \$4|EXECUTE q(1, 'main', NULL, 500)"
        "custom|history API, a page deep in the history (before=$deep)|PREPARE q(bigint, text, bigint, bigint) AS $hist
             WHERE b.target_id = \$1 AND b.superseded_at IS NULL
               AND (\$2::text IS NULL OR c.branch = \$2)
               AND (\$3::bigint IS NULL OR b.id < \$3)
             ORDER BY b.id DESC LIMIT \$4|EXECUTE q(1, NULL, $deep, 50)"
        "custom|target page series (\`target_metric_series\`), main, count=10000|PREPARE q(bigint, text, timestamptz, bigint) AS
             SELECT b.id AS build_id, c.sha AS commit, b.created_at AS uploaded_at, m.size_shipped AS value
             FROM builds b
             JOIN commits c ON c.id = b.commit_id
             JOIN measurements m ON m.artifact_id = b.artifact_id
             WHERE b.target_id = \$1 AND b.superseded_at IS NULL
               AND (\$2::text IS NULL OR c.branch = \$2)
               AND (\$3::timestamptz IS NULL OR b.created_at >= \$3)
             ORDER BY b.id DESC LIMIT \$4|EXECUTE q(1, 'main', NULL, 10000)"
        "custom|target page: branch menu (\`branches\`), the newest 5,000 commits|PREPARE q(bigint, bigint, bigint) AS
             SELECT branch FROM (
                 SELECT branch, created_at FROM commits
                 WHERE repository_id = \$1 AND branch IS NOT NULL
                 ORDER BY created_at DESC LIMIT \$2) newest
             GROUP BY branch ORDER BY max(created_at) DESC LIMIT \$3|EXECUTE q(1, 5000, 200)"
        "generic|branch menu fallback, whole history (runs only when the newest 5,000 commits hold fewer than 200 branches; shown on the hot repository for scale)|PREPARE q(bigint, bigint) AS
             SELECT branch FROM commits WHERE repository_id = \$1 AND branch IS NOT NULL
             GROUP BY branch ORDER BY max(created_at) DESC LIMIT \$2|EXECUTE q(1, 200)"
        "custom|target page: budgets (\`latest_config\`), main|PREPARE q(bigint, text) AS
             SELECT config FROM commits
             WHERE repository_id = \$1 AND config IS NOT NULL AND (\$2::text IS NULL OR branch = \$2)
             ORDER BY created_at DESC, id DESC LIMIT 1|EXECUTE q(1, 'main')"
    )
    local q mode title prep exec
    echo "### Query plans"
    echo
    echo "\`EXPLAIN (ANALYZE, BUFFERS)\` of each query with the parameters of the requests above,"
    echo "through \`PREPARE\`/\`EXECUTE\` with \`plan_cache_mode\` set to match how the server runs"
    echo "it: \`force_custom_plan\` for the unnamed statements (planned per execution),"
    echo "\`force_generic_plan\` for the cached one."
    echo
    for q in "${queries[@]}"; do
        mode=${q%%|*}
        q=${q#*|}
        title=${q%%|*}
        prep=${q#*|}
        exec=${prep##*|}
        prep=${prep%|*}
        echo "#### $title ($mode plan)"
        echo
        echo '```'
        psql_q "$PG/$db" -c "SET plan_cache_mode = force_${mode}_plan" -c "$prep" \
            -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) $exec"
        echo '```'
        echo
    done
}

# ---------------------------------------------------------------------------
assemble() {
    mkdir -p "$(dirname "$OUT")"
    {
        echo "<!-- Written by scripts/bench/service.sh; run it again rather than editing by hand. -->"
        echo
        local s
        for s in "${SECTIONS[@]}"; do
            if [[ -f $(section_file "$s") ]]; then
                cat "$(section_file "$s")"
            fi
        done
        if [[ -f $ROOT/scripts/bench/service-notes.md ]]; then
            cat "$ROOT/scripts/bench/service-notes.md"
        fi
    } >"$OUT"
    log "wrote $OUT"
}

main() {
    local -a wanted=("$@")
    [[ ${#wanted[@]} -gt 0 ]] || wanted=("${SECTIONS[@]}")
    mkdir -p "$STATE"
    ensure_binary
    local s
    for s in "${wanted[@]}"; do
        case $s in
        footprint | startup | ingest | webhook | checkrun | history)
            log "$s (load $(load))"
            "bench_$s"
            ;;
        assemble) ;; # only rewrite the fragment from the kept sections and the notes
        *) die "unknown section $s (known: ${SECTIONS[*]} assemble)" ;;
        esac
    done
    assemble
}

main "$@"
