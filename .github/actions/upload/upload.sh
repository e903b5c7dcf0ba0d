#!/usr/bin/env bash
# sizegate upload: send this commit's artifacts to a sizegate server in one
# multipart request. Used by action.yml; reads its inputs from the
# environment so that it runs (and is tested) outside GitHub too.
#
# Inputs:  INPUT_SERVER, INPUT_FILES, INPUT_CONFIG, INPUT_TOKEN,
#          INPUT_FAIL_ON_ERROR, INPUT_PR_NUMBER, INPUT_BASE_SHA (workflow_run:
#          used when the payload's pull_requests list is empty, as it is
#          for pull requests from forks), INPUT_WAIT, INPUT_WAIT_TIMEOUT,
#          INPUT_FAIL_ON_GATE
# GitHub:  GITHUB_REPOSITORY, GITHUB_EVENT_NAME, GITHUB_EVENT_PATH,
#          GITHUB_SHA, GITHUB_REF_NAME, GITHUB_REF_TYPE (`tag`: send
#          GITHUB_REF_NAME as the upload's tag), RUNNER_OS, RUNNER_ARCH,
#          GITHUB_OUTPUT, GITHUB_STEP_SUMMARY,
#          ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN (OIDC, when no token)
# Needs:   bash, curl, git (and the awk every runner has).
set -euo pipefail
export LC_ALL=C

MAX_ANCESTORS=50

die() {
  echo "::error title=sizegate upload::$*" >&2
  if [ "${INPUT_FAIL_ON_ERROR:-true}" = "false" ]; then
    echo "sizegate: fail-on-error is false, continuing" >&2
    exit 0
  fi
  exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- JSON without jq -----------------------------------------------------------
# json_flatten FILE prints one `path<TAB>value` line per scalar of a JSON
# document (`pull_request.head.sha`, `labels.0.name`); string escapes other
# than \" \\ \/ are kept as written. A small recursive-descent reader in awk.
json_flatten() {
  awk '
    function fail(msg) { printf "invalid JSON at byte %d: %s\n", pos, msg > "/dev/stderr"; bad = 1; exit 2 }
    function ws() { while (pos <= n && index(" \t\r\n", substr(s, pos, 1))) pos++ }
    function value(path,   c) {
      ws(); c = substr(s, pos, 1)
      if (c == "{") object(path)
      else if (c == "[") array(path)
      else if (c == "\"") print path "\t" str()
      else literal(path)
    }
    function object(path,   key, c) {
      pos++; ws()
      if (substr(s, pos, 1) == "}") { pos++; return }
      for (;;) {
        ws(); if (substr(s, pos, 1) != "\"") fail("expected a key")
        key = str(); ws()
        if (substr(s, pos, 1) != ":") fail("expected :")
        pos++
        value(path == "" ? key : path "." key)
        ws(); c = substr(s, pos, 1); pos++
        if (c == "}") return
        if (c != ",") fail("expected , or }")
      }
    }
    function array(path,   i, c) {
      pos++; ws()
      if (substr(s, pos, 1) == "]") { pos++; return }
      for (i = 0; ; i++) {
        value(path == "" ? i : path "." i)
        ws(); c = substr(s, pos, 1); pos++
        if (c == "]") return
        if (c != ",") fail("expected , or ]")
      }
    }
    function str(   out, c) {
      pos++; out = ""
      while (pos <= n) {
        c = substr(s, pos, 1)
        if (c == "\"") { pos++; return out }
        if (c == "\\") {
          pos++; c = substr(s, pos, 1)
          if (c == "\"" || c == "\\" || c == "/") out = out c
          else out = out "\\" c
          pos++; continue
        }
        out = out c; pos++
      }
      fail("unterminated string")
    }
    function literal(path,   start) {
      start = pos
      while (pos <= n && !index(" \t\r\n,]}", substr(s, pos, 1))) pos++
      if (pos == start) fail("expected a value")
      print path "\t" substr(s, start, pos - start)
    }
    { s = s $0 "\n" }
    END { if (bad) exit 2; n = length(s); pos = 1; value("") }
  ' "$1"
}

# json_get FLAT PATH prints the value at PATH in a flattened document.
json_get() {
  JSON_GET_PATH=$2 awk -F'\t' '$1 == ENVIRON["JSON_GET_PATH"] { sub(/^[^\t]*\t/, ""); print; exit }' "$1"
}

# json_string prints its argument as a JSON string literal.
json_string() {
  JSON_STRING_VALUE=$1 awk 'BEGIN {
    v = ENVIRON["JSON_STRING_VALUE"]; out = ""
    for (i = 1; i <= length(v); i++) {
      c = substr(v, i, 1)
      if (c == "\\") out = out "\\\\"
      else if (c == "\"") out = out "\\\""
      else if (c == "\n") out = out "\\n"
      else if (c == "\t") out = out "\\t"
      else if (c == "\r") out = out "\\r"
      else if (c < " ") continue
      else out = out c
    }
    printf "\"%s\"", out
  }'
}

# --- inputs --------------------------------------------------------------------
server=${INPUT_SERVER:-}
[ -n "$server" ] || die "input 'server' is required (the URL of your sizegate server)"
server=${server%/}
[ -n "${INPUT_FILES:-}" ] || die "input 'files' is required (one 'target=path' per line)"
repo=${GITHUB_REPOSITORY:-}
[ -n "$repo" ] || die "GITHUB_REPOSITORY is not set (OWNER/REPO)"

event_name=${GITHUB_EVENT_NAME:-push}
event_flat="$work/event.tsv"
: > "$event_flat"
if [ -n "${GITHUB_EVENT_PATH:-}" ] && [ -f "$GITHUB_EVENT_PATH" ]; then
  json_flatten "$GITHUB_EVENT_PATH" > "$event_flat" || die "cannot read the event payload $GITHUB_EVENT_PATH"
fi

pr=""
base_sha=""
fork=false
tag=""
case "$event_name" in
  pull_request | pull_request_target)
    # The PR head, not the merge commit GitHub checks out: budgets and
    # history follow the commits developers push.
    commit=$(json_get "$event_flat" pull_request.head.sha)
    branch=$(json_get "$event_flat" pull_request.head.ref)
    pr=$(json_get "$event_flat" pull_request.number)
    [ -n "$pr" ] || pr=$(json_get "$event_flat" number)
    base_sha=$(json_get "$event_flat" pull_request.base.sha)
    [ -n "$commit" ] && [ -n "$base_sha" ] && [ -n "$pr" ] ||
      die "the pull_request event payload lacks head.sha, base.sha or number"
    head_repo=$(json_get "$event_flat" pull_request.head.repo.full_name)
    base_repo=$(json_get "$event_flat" pull_request.base.repo.full_name)
    if [ -n "$head_repo" ] && [ "$head_repo" != "$base_repo" ]; then fork=true; fi
    ;;
  workflow_run)
    # Runs in the base repository after the pull request's own workflow
    # (which had no secrets) built the artifacts: the measured commit is the
    # run's head, not this workflow's checkout.
    commit=$(json_get "$event_flat" workflow_run.head_sha)
    branch=$(json_get "$event_flat" workflow_run.head_branch)
    pr=$(json_get "$event_flat" workflow_run.pull_requests.0.number)
    base_sha=$(json_get "$event_flat" workflow_run.pull_requests.0.base.sha)
    [ -n "$pr" ] || pr=${INPUT_PR_NUMBER:-}
    [ -n "$base_sha" ] || base_sha=${INPUT_BASE_SHA:-}
    [ -n "$commit" ] || die "the workflow_run event payload lacks workflow_run.head_sha"
    case "$pr" in
      '' | *[!0-9]*) [ -z "$pr" ] || die "pull request number '$pr' is not a number" ;;
    esac
    if [ -n "$pr" ] && [ -z "$base_sha" ]; then
      die "pull request $pr has no base sha: pass the 'base-sha' input"
    fi
    head_repo=$(json_get "$event_flat" workflow_run.head_repository.full_name)
    base_repo=$(json_get "$event_flat" repository.full_name)
    if [ -n "$head_repo" ] && [ "$head_repo" != "$base_repo" ]; then
      fork=true
      # `owner:branch`, as GitHub labels it: a fork's `main` is not ours.
      branch="${head_repo%%/*}:$branch"
    fi
    ;;
  *)
    commit=${GITHUB_SHA:-$(git rev-parse HEAD)}
    if [ "${GITHUB_REF_TYPE:-}" = tag ]; then
      # A tag push: the tag names the commit (`sizegate report v1.0 v1.1`);
      # it is on no branch.
      tag=${GITHUB_REF_NAME:-}
      branch=""
    else
      branch=${GITHUB_REF_NAME:-$(git rev-parse --abbrev-ref HEAD)}
    fi
    ;;
esac
case "$commit" in
  [0-9a-f]*) [ ${#commit} -eq 40 ] || die "commit '$commit' is not a 40-hex sha" ;;
  *) die "commit '$commit' is not a 40-hex sha" ;;
esac

# --- first-parent ancestors ---------------------------------------------------
# For a pull request: the base's first-parent history, so that the server can
# fall back to an older baseline when the base itself was never measured. For
# a push: the commit's own first-parent history. Shallow clones are deepened
# as needed; a failure here only costs fallback baselines.
history_of() {
  local rev=$1
  if ! git cat-file -e "$rev^{commit}" 2>/dev/null || [ "$(git rev-list --count "$rev" 2>/dev/null || echo 0)" -le "$MAX_ANCESTORS" ]; then
    git fetch --quiet --no-tags --depth=$((MAX_ANCESTORS + 1)) origin "$rev" 2>/dev/null || true
  fi
  git rev-list --first-parent --max-count=$((MAX_ANCESTORS + 1)) "$rev" 2>/dev/null | tail -n +2 || true
}
if [ -n "$base_sha" ]; then
  ancestors=$(history_of "$base_sha")
else
  ancestors=$(history_of "$commit")
fi

# --- config ------------------------------------------------------------------------
config_path=${INPUT_CONFIG:-}
if [ -z "$config_path" ] && [ -f sizegate.toml ]; then
  config_path=sizegate.toml
fi
if [ -n "$config_path" ] && [ ! -f "$config_path" ]; then
  die "config file '$config_path' does not exist"
fi

# --- artifacts -------------------------------------------------------------------
os=$(printf '%s' "${RUNNER_OS:-$(uname -s)}" | tr '[:upper:]' '[:lower:]')
arch=$(printf '%s' "${RUNNER_ARCH:-$(uname -m)}" | tr '[:upper:]' '[:lower:]')
curl_parts=()
targets=()
artifact_paths=()
debug_paths=()
add_artifact() {
  local target=$1 path=$2
  [ -f "$path" ] || die "artifact '$path' (target '$target') does not exist or is not a file"
  case "$target" in
    *'"'* | *'\'* | *..*) die "target name '$target' may not contain quotes, backslashes or '..'" ;;
  esac
  for t in "${targets[@]+"${targets[@]}"}"; do
    [ "$t" != "$target" ] || die "target '$target' is listed twice"
  done
  targets+=("$target")
  artifact_paths+=("$path")
  curl_parts+=(-F "artifact=@\"$path\";filename=\"$target\";type=application/octet-stream")
}
# expand_glob PATTERN sets `matches` to the files it names; an unmatched
# pattern stays literal, so that it fails below as a missing file.
expand_glob() {
  local IFS=
  shopt -s nullglob
  # shellcheck disable=SC2206 # globbing wanted, word splitting is off
  matches=($1)
  shopt -u nullglob
  [ ${#matches[@]} -gt 0 ] || matches=("$1")
}
while IFS= read -r line || [ -n "$line" ]; do
  line=${line#"${line%%[![:space:]]*}"}
  line=${line%"${line##*[![:space:]]}"}
  [ -n "$line" ] || continue
  case "$line" in \#*) continue ;; esac
  explicit=""
  pattern=$line
  if [[ "$line" == *=* ]]; then
    explicit=${line%%=*}
    pattern=${line#*=}
  fi
  expand_glob "$pattern"
  for path in "${matches[@]}"; do
    if [ -z "$explicit" ]; then
      add_artifact "$os-$arch/$(basename "$path")" "$path"
    elif [ ${#matches[@]} -gt 1 ]; then
      add_artifact "$explicit/$(basename "$path")" "$path"
    else
      add_artifact "$explicit" "$path"
    fi
  done
done <<< "$INPUT_FILES"
[ ${#targets[@]} -gt 0 ] || die "input 'files' names no artifact"

# Debug files: `target=path` lines, each for a target listed above; sent as
# `debug` parts, counted against the upload limits but not in the sizes.
while IFS= read -r line || [ -n "$line" ]; do
  line=${line#"${line%%[![:space:]]*}"}
  line=${line%"${line##*[![:space:]]}"}
  [ -n "$line" ] || continue
  case "$line" in \#*) continue ;; esac
  [[ "$line" == *=* ]] || die "debug-files: '$line' must be target=path"
  target=${line%%=*}
  path=${line#*=}
  [ -f "$path" ] || die "debug file '$path' (target '$target') does not exist or is not a file"
  found=false
  for t in "${targets[@]}"; do [ "$t" != "$target" ] || found=true; done
  $found || die "debug-files: no artifact with target '$target' in 'files'"
  curl_parts+=(-F "debug=@\"$path\";filename=\"$target\";type=application/octet-stream")
  debug_paths+=("$path")
done <<< "${INPUT_DEBUG_FILES:-}"

# --- meta ----------------------------------------------------------------------
{
  printf '{"repo":%s,"commit":%s,"branch":%s' "$(json_string "$repo")" "$(json_string "$commit")" "$(json_string "$branch")"
  if [ -n "$pr" ]; then printf ',"pr":%d,"base_sha":%s' "$pr" "$(json_string "$base_sha")"; fi
  if [ "$fork" = true ]; then printf ',"fork":true'; fi
  if [ -n "$tag" ]; then printf ',"tag":%s' "$(json_string "$tag")"; fi
  printf ',"ancestors":['
  sep=""
  for a in $ancestors; do printf '%s"%s"' "$sep" "$a"; sep=","; done
  printf ']'
  if [ -n "$config_path" ]; then printf ',"config":%s' "$(json_string "$(cat "$config_path")")"; fi
  printf '}\n'
} > "$work/meta.json"

# --- auth ---------------------------------------------------------------------------
token=${INPUT_TOKEN:-}
oidc=false
if [ -z "$token" ]; then
  if [ -z "${ACTIONS_ID_TOKEN_REQUEST_URL:-}" ] || [ -z "${ACTIONS_ID_TOKEN_REQUEST_TOKEN:-}" ]; then
    die "no token given and no GitHub OIDC token available: pass 'token', or grant the job 'permissions: id-token: write'"
  fi
  oidc=true
fi

# A GitHub OIDC token is good for one upload (the server remembers its id),
# so each attempt asks the runner for a fresh one.
fresh_oidc_token() {
  local audience
  audience=$(printf '%s' "$server" | sed -e 's/%/%25/g' -e 's/:/%3A/g' -e 's#/#%2F#g')
  curl -sS --fail --retry 3 -H "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" \
    "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=$audience" -o "$work/oidc.json" ||
    die "could not obtain a GitHub OIDC token"
  json_flatten "$work/oidc.json" > "$work/oidc.tsv" || die "GitHub returned an unreadable OIDC answer"
  token=$(json_get "$work/oidc.tsv" value)
  [ -n "$token" ] || die "GitHub returned no OIDC token"
  echo "::add-mask::$token"
}

# --- upload --------------------------------------------------------------------
echo "sizegate: uploading ${#targets[@]} artifact(s) of $repo@$commit to $server"
# Artifacts above the threshold go through resumable upload sessions: sent
# in chunks, and after a failed chunk the upload goes on from the offset the
# server reports instead of starting again.
chunked_threshold=${SIZEGATE_CHUNKED_THRESHOLD:-67108864}
chunk_size=${SIZEGATE_CHUNK_SIZE:-16777216}
use_sessions=false
for p in "${artifact_paths[@]}"; do
  [ "$(wc -c < "$p")" -le "$chunked_threshold" ] || use_sessions=true
done
if $use_sessions && [ ${#debug_paths[@]} -gt 0 ]; then
  die "debug-files are not supported yet with artifacts over $chunked_threshold bytes (sent in resumable sessions)"
fi

# session_request METHOD URL [curl args...]: one request of a session; sets
# `status` (000 without an answer) and leaves the answer in response.json.
session_request() {
  local method=$1 url=$2
  shift 2
  if [ "$oidc" = true ]; then fresh_oidc_token; fi
  : > "$work/response.json"
  status=$(curl -sS -X "$method" -o "$work/response.json" -D "$work/response.headers" \
    -w '%{http_code}' -H "Authorization: Bearer $token" "$@" "$url") || true
  # No answer, or only an interim one (100 Continue) before the cut.
  case "$status" in '' | 1??) status=000 ;; esac
}
retryable() {
  case "$1" in 000 | 408 | 416 | 429 | 500 | 502 | 503 | 504) return 0 ;; *) return 1 ;; esac
}
refused() {
  local message
  message=$(json_flatten "$work/response.json" 2> /dev/null | json_get /dev/stdin error 2> /dev/null) || message=
  [ -n "$message" ] || message=$(head -c 2000 "$work/response.json")
  die "the server refused the upload (HTTP $status): $message"
}
answer_field() {
  json_flatten "$work/response.json" 2> /dev/null | json_get /dev/stdin "$1"
}
# session_upload TARGET PATH
session_upload() {
  local target=$1 path=$2 size sha url offset length failures=0 last_log
  size=$(wc -c < "$path")
  sha=$(sha256sum "$path" | cut -d ' ' -f 1)
  printf '{"meta":%s,"target":%s,"size":%d}' "$(cat "$work/meta.json")" \
    "$(json_string "$target")" "$size" > "$work/create.json"
  for attempt in 1 2 3 4; do
    session_request POST "$server/api/v1/upload-sessions" \
      -H "Content-Type: application/json" --data-binary "@$work/create.json"
    retryable "$status" || break
    [ "$attempt" -lt 4 ] || die "could not start an upload session (HTTP $status)"
    sleep $((2 * attempt))
  done
  [ "$status" = 201 ] || refused
  url=$server$(answer_field url)
  offset=$(answer_field offset)
  last_log=$(date +%s)
  echo "sizegate: $target: $size bytes in a resumable session, chunks of $chunk_size"
  while [ "$offset" -lt "$size" ]; do
    length=$((size - offset))
    [ "$length" -le "$chunk_size" ] || length=$chunk_size
    dd if="$path" of="$work/chunk" bs=1M iflag=skip_bytes,count_bytes \
      skip="$offset" count="$length" status=none || die "reading '$path' at byte $offset failed"
    session_request PATCH "$url" -H "Content-Type: application/octet-stream" -H "Expect:" \
      -H "Content-Range: bytes $offset-$((offset + length - 1))/$size" --data-binary "@$work/chunk"
    if [ "$status" = 202 ]; then
      offset=$(answer_field offset)
      failures=0
      if [ $(($(date +%s) - last_log)) -ge 5 ] || [ "$offset" -ge "$size" ]; then
        echo "sizegate: $target: $offset of $size bytes sent ($((offset * 100 / size))%)"
        last_log=$(date +%s)
      fi
      continue
    fi
    retryable "$status" || refused
    failures=$((failures + 1))
    [ "$failures" -lt 4 ] || die "uploading '$target' failed 4 times in a row at byte $offset (HTTP $status)"
    echo "sizegate: $target: a chunk at byte $offset failed (${status/#000/no connection}); resuming"
    sleep $((2 * failures))
    session_request GET "$url"
    [ "$status" = 200 ] || { retryable "$status" && continue; refused; }
    offset=$(answer_field offset)
    echo "sizegate: $target: the server has $offset bytes; going on from there"
  done
  rm -f "$work/chunk"
  printf '{"sha256":"%s"}' "$sha" > "$work/finish.json"
  for attempt in 1 2 3 4; do
    session_request PUT "$url" -H "Content-Type: application/json" --data-binary "@$work/finish.json"
    retryable "$status" || break
    [ "$attempt" -lt 4 ] || die "could not finish the upload session (HTTP $status)"
    sleep $((2 * attempt))
  done
}

if $use_sessions; then
  for i in "${!targets[@]}"; do
    session_upload "${targets[$i]}" "${artifact_paths[$i]}"
    case "$status" in 200 | 202) ;; *) refused ;; esac
  done
else
  # Large uploads print curl's progress meter to the log every few seconds
  # (one line in five; curl redraws it every second).
  total_bytes=0
  for p in "${artifact_paths[@]}" "${debug_paths[@]+"${debug_paths[@]}"}"; do
    total_bytes=$((total_bytes + $(wc -c < "$p")))
  done
  progress=(-sS)
  if [ "$total_bytes" -gt $((64 * 1024 * 1024)) ]; then
    progress=(-S)
    echo "sizegate: $total_bytes bytes to send; progress below every 5 s (% total, % sent, average speeds, times)"
  fi
  log_progress() {
    tr '\r' '\n' | awk '/^ *[0-9]/ { if (++n % 5 == 0) { print "sizegate: progress " $0 > "/dev/stderr"; fflush() } next } NF { print > "/dev/stderr" }'
  }
  attempt=1
  while :; do
    if [ "$oidc" = true ]; then fresh_oidc_token; fi
    # `Expect: 100-continue`: a refusal decided by the headers (token, size)
    # comes back before the body goes out. When curl fails while sending but
    # did read an answer, that answer (in %{http_code}) is what we report.
    : > "$work/response.json"
    status=$(curl "${progress[@]}" -o "$work/response.json" -D "$work/response.headers" -w '%{http_code}' \
      --expect100-timeout 10 -H "Expect: 100-continue" \
      -H "Authorization: Bearer $token" \
      -F "meta=@$work/meta.json;type=application/json" \
      "${curl_parts[@]}" \
      "$server/api/v1/uploads" 2> >(log_progress)) || true
    case "$status" in '' | 1??) status=000 ;; esac
    case "$status" in
      000 | 408 | 429 | 500 | 502 | 503 | 504)
        if [ "$attempt" -ge 4 ]; then
          [ "$status" = 000 ] && die "could not reach $server"
          break
        fi
        pause=$((2 * attempt))
        # 429/503 may say how long to wait (seconds; at most five minutes).
        retry_after=$(awk 'tolower($1) == "retry-after:" { gsub(/\r/, "", $2); print $2 }' \
          "$work/response.headers" 2> /dev/null | tail -n 1)
        case "$retry_after" in
          '' | *[!0-9]*) ;;
          *) [ "$retry_after" -gt 300 ] && retry_after=300; [ "$retry_after" -gt "$pause" ] && pause=$retry_after ;;
        esac
        echo "sizegate: attempt $attempt answered ${status/#000/no connection}; retrying in ${pause}s"
        sleep "$pause"
        attempt=$((attempt + 1))
        ;;
      *) break ;;
    esac
  done
fi
case "$status" in
  200 | 201 | 202) ;;
  *)
    # A {"error": "..."} answer is shown as its message.
    message=$(json_flatten "$work/response.json" 2> /dev/null | json_get /dev/stdin error 2> /dev/null) || message=
    [ -n "$message" ] || message=$(head -c 2000 "$work/response.json")
    die "the server refused the upload (HTTP $status): $message"
    ;;
esac
json_flatten "$work/response.json" > "$work/response.tsv" || die "the server's answer is not JSON"
status_url=$(json_get "$work/response.tsv" status_url)
[ -n "$status_url" ] || status_url="$server/api/v1/repos/$repo/commits/$commit"
echo "sizegate: accepted; status at $status_url"

if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "status-url=$status_url" >> "$GITHUB_OUTPUT"
fi
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  {
    echo "### sizegate"
    echo
    echo "Uploaded ${#targets[@]} artifact(s) of \`${commit:0:12}\` to $server."
    echo
    echo "| target |"
    echo "|---|"
    for t in "${targets[@]}"; do echo "| \`$t\` |"; done
    echo
    echo "Status: $status_url"
  } >> "$GITHUB_STEP_SUMMARY"
fi

# --- wait for the gate -------------------------------------------------------
[ "${INPUT_WAIT:-false}" = "true" ] || exit 0

gate_failed() {
  echo "::error title=sizegate gate::$*" >&2
  if [ "${INPUT_FAIL_ON_GATE:-true}" = "false" ]; then
    echo "sizegate: fail-on-gate is false, continuing" >&2
    exit 0
  fi
  exit 1
}

timeout_text=${INPUT_WAIT_TIMEOUT:-30m}
case "$timeout_text" in
  *[0-9]s) timeout_secs=${timeout_text%s} ;;
  *[0-9]m) timeout_secs=$((${timeout_text%m} * 60)) ;;
  *[0-9]h) timeout_secs=$((${timeout_text%h} * 3600)) ;;
  *) die "wait-timeout '$timeout_text' needs a unit: e.g. 90s, 10m or 1h" ;;
esac
case "$timeout_secs" in '' | *[!0-9]*) die "wait-timeout '$timeout_text' is not a whole number and a unit" ;; esac

gate_url="$server/api/v1/repos/$repo/commits/$commit/gate"
# The upload token reads the repository's gate; an OIDC token was used up
# by the upload, so without one only public repositories can be waited on.
auth=()
if [ "$oidc" = false ]; then auth=(-H "Authorization: Bearer $token"); fi
deadline=$(($(date +%s) + timeout_secs))
shown=""
final=""
delay=1
while :; do
  code=$(curl -sS -o "$work/gate.json" -w '%{http_code}' "${auth[@]+"${auth[@]}"}" "$gate_url") || code=000
  case "$code" in
    200)
      json_flatten "$work/gate.json" > "$work/gate.tsv" || die "the gate answer is not JSON"
      states=$(awk -F'\t' '$1 ~ /^targets\.[0-9]+\.(target|status|verdict)$/ { printf "%s ", $2 }' "$work/gate.tsv")
      if [ "$states" != "$shown" ]; then echo "sizegate: waiting: $states"; shown=$states; fi
      final=$(json_get "$work/gate.tsv" final)
      [ "$final" = "true" ] && break
      ;;
    000 | 5??) echo "sizegate: the gate answered ${code/#000/no connection}; trying again" ;;
    *) gate_failed "reading $gate_url answered HTTP $code: $(head -c 2000 "$work/gate.json")" ;;
  esac
  [ "$(date +%s)" -lt "$deadline" ] || gate_failed "no verdict within $timeout_text (see $gate_url)"
  sleep "$delay"
  [ "$delay" -ge 10 ] || delay=$((delay + 1))
done
conclusion=$(json_get "$work/gate.tsv" conclusion)
# No conclusion on a final gate: an analysis failed, so the gate fails.
[ -n "$conclusion" ] && [ "$conclusion" != null ] || conclusion=failure
echo "sizegate: gate $conclusion: $(json_get "$work/gate.tsv" check_title)"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "conclusion=$conclusion" >> "$GITHUB_OUTPUT"
fi
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  if curl -sS --fail "${auth[@]+"${auth[@]}"}" "$gate_url?format=markdown" -o "$work/comment.md"; then
    { echo; cat "$work/comment.md"; echo; } >> "$GITHUB_STEP_SUMMARY"
  fi
fi
case "$conclusion" in
  success | neutral) ;;
  *) gate_failed "the size gate concluded '$conclusion' for ${commit:0:12}: see the job summary or $status_url" ;;
esac
