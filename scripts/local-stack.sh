#!/usr/bin/env bash
# The local stack: a DynamoDB (AWS's DynamoDB Local, in memory, unless
# AWS_ENDPOINT_URL_DYNAMODB names another), the
# table, data, and `cargo lambda watch` serving all ten routes on API Gateway's paths.
#
#   scripts/local-stack.sh dev        demo data, then serve until Ctrl-C   (make dev)
#   scripts/local-stack.sh contract   contract data set, run the contract suite over HTTP, stop
#
# Logs and DynamoDB Local's log live outside the work tree (cargo lambda watch restarts the functions on
# any change inside it): in $DEV_STATE_DIR, default ${TMPDIR:-/tmp}/convo-api-dev.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-dev}

VENV=.tools/venv
PORT=${PORT:-9000}
STATE=${DEV_STATE_DIR:-${TMPDIR:-/tmp}/convo-api-dev}
mkdir -p "$STATE"
export AWS_REGION=${AWS_REGION:-us-east-1}
export TABLE_NAME=${TABLE_NAME:-conversations}
export APP_TIMEZONE=${APP_TIMEZONE:-UTC}
export CONVERSATIONS_LIMIT=${CONVERSATIONS_LIMIT:-100}
export SENDER_TYPE_NAMES=${SENDER_TYPE_NAMES:-customer-ai-human}
export RUST_LOG=${RUST_LOG:-info}

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    # Each was started as its own process group (setsid): stop the group.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  echo "stopped everything started by $0"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something listens on host:port (a readiness check, not a fixed sleep).
wait_for_port() {
  "$VENV/bin/python" - "$1" "$2" "$3" <<'PY'
import socket, sys, time
host, port, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + 600
while time.monotonic() < deadline:
    try:
        socket.create_connection((host, port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(f"{what} did not start listening on {host}:{port}")
PY
}

if [ -z "${AWS_ENDPOINT_URL_DYNAMODB:-}" ]; then
  ddb_port=$(free_port)
  setsid scripts/dynamodb-local.sh "$ddb_port" >"$STATE/dynamodb-local.log" 2>&1 &
  pids+=($!)
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port"
  export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-local} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-local}
  wait_for_port 127.0.0.1 "$ddb_port" "DynamoDB Local (log: $STATE/dynamodb-local.log)"
  echo "DynamoDB (DynamoDB Local, in memory): $AWS_ENDPOINT_URL_DYNAMODB   log: $STATE/dynamodb-local.log"
else
  echo "DynamoDB: $AWS_ENDPOINT_URL_DYNAMODB"
fi

cargo build --quiet -p convo-admin -p get-conversations -p get-conversation-messages
# Wherever cargo puts its builds (CARGO_TARGET_DIR, .cargo/config.toml), not ./target.
target_dir=$(cargo metadata --format-version 1 --no-deps | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
admin=$target_dir/debug/convo-admin
$admin create-table
case "$mode" in
  dev)
    $admin seed-demo || echo "(demo data not loaded: see above; the table keeps what it has)"
    ;;
  contract)
    $admin import --conversations tests/fixtures/contract/conversations.jsonl \
      --messages tests/fixtures/contract/messages.jsonl --source-timezone America/Bogota
    ;;
  *) echo "usage: $0 dev|contract" >&2; exit 2 ;;
esac

env_args=()
for var in TABLE_NAME APP_TIMEZONE CONVERSATIONS_LIMIT SENDER_TYPE_NAMES RUST_LOG AWS_REGION \
           AWS_ENDPOINT_URL_DYNAMODB AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE; do
  if [ -n "${!var:-}" ]; then env_args+=(--env-var "$var=${!var}"); fi
done
PATH="$PWD/$VENV/bin:$PATH" setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$PORT" \
  "${env_args[@]}" >"$STATE/watch.log" 2>&1 &
watch_pid=$!
pids+=("$watch_pid")
wait_for_port 127.0.0.1 "$PORT" "cargo lambda watch"
base="http://127.0.0.1:$PORT"

# cargo lambda watch compiles a function on its first request: do that now, for both, so
# the URL printed below answers at once (a fresh clone takes minutes here, later starts
# seconds). Progress is in $STATE/watch.log.
echo "building and starting both functions (the first time takes several minutes; progress: $STATE/watch.log) ..."
warm_started=$(date +%s)
for path in /api/conversations?limit=1 /api/conversations/1/messages?limit=1; do
  "$VENV/bin/python" - "$base$path" <<'PY'
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=1800).read()
except urllib.error.HTTPError:
    pass  # an answer (404 for an empty table) means the function runs
PY
done
echo "functions ready in $(( $(date +%s) - warm_started )) s"

if [ "$mode" = contract ]; then
  CONTRACT_BASE_URL=$base cargo test --quiet -p integration-tests --test contract -- \
    --ignored contract_suite_over_http --nocapture
  exit 0
fi

cat <<TXT

Serving all ten routes on $base (functions log to $STATE/watch.log). Try:

  curl -s '$base/api/conversations?limit=3'
  curl -s '$base/api/conversations?status=pending_human'
  curl -s '$base/api/get-conversations.php?status=closed'
  curl -s '$base/api/conversations/1/messages?limit=5'
  curl -s '$base/api/get-conversation-messages.php?id=1&offset=5&limit=5'
  curl -s '$base/api/check-updates.php'
  curl -s '$base/api/check-conversation-updates.php?last_check=2024-01-01%2000:00:00'

Edit the code and the functions rebuild and restart. Ctrl-C stops everything.
TXT
tail -n +1 -f "$STATE/watch.log" &
pids+=($!)
wait "$watch_pid"
