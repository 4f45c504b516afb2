#!/usr/bin/env bash
# `make sam-local`: every event in events/ through `sam local invoke`, each in a Lambda
# container of its own, against DynamoDB Local holding the demo data; fails unless every
# answer is the one the event's name promises (as tests/http.rs checks in-process):
# *-unknown-conversation 404 not_found, other error-* 400 invalid_parameter, the rest 200;
# then events/front/ with ACCESS=front (events/front/env.json): error-* 403 forbidden.
#
#   scripts/sam-local.sh            everything, from a fresh machine (run as root on Debian)
#
# What it prepares, each step skipped when already done:
# - Docker: Debian's docker.io (and debootstrap) installed when missing; dockerd started when
#   none answers (and stopped again at the end).
# - The base image SAM runs provided.al2023 functions on,
#   public.ecr.aws/lambda/provided:al2023-x86_64, made offline when absent: a minimal Debian
#   (debootstrap --variant=minbase bookworm) imported under that name. The functions are
#   static-enough Rust binaries (glibc only); SAM adds its own Runtime Interface Emulator.
# - DynamoDB Local on a free port (it listens on every interface): the containers reach it
#   at the docker0 bridge's address of this machine, the tools at 127.0.0.1.
# - The table and the demo data (convo-admin create-table, seed-demo).
# - sam build for x86_64 (the template's default is arm64).
#
# The functions see TABLE_NAME and AWS_ENDPOINT_URL_DYNAMODB through --env-vars, which only
# overrides variables the template declares (it declares the endpoint empty).
# State and logs: $SAM_LOCAL_STATE_DIR, default ${TMPDIR:-/tmp}/convo-api-sam-local.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.tools/venv
STATE=${SAM_LOCAL_STATE_DIR:-${TMPDIR:-/tmp}/convo-api-sam-local}
IMAGE=public.ecr.aws/lambda/provided:al2023-x86_64
TABLE=${TABLE_NAME:-conversations}
PARAMETERS=(Architecture=x86_64 Access=public)
mkdir -p "$STATE"
export SAM_CLI_TELEMETRY=0 AWS_REGION=${AWS_REGION:-us-east-1}
# DynamoDB Local takes any credentials; SAM hands the host's to the containers.
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
unset AWS_SESSION_TOKEN AWS_PROFILE
started=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - started )) s)"; }

pids=()
dockerd_pid=
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  if [ -n "$dockerd_pid" ]; then kill -TERM "$dockerd_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until a command succeeds (a readiness check, bounded), polling every 0.2 s.
wait_until() {
  local what=$1 seconds=$2; shift 2
  local deadline=$(( $(date +%s) + seconds ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then echo "$what: not ready after $seconds s" >&2; return 1; fi
    sleep 0.2
  done
}

step "Docker"
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >"$STATE/apt.log"
  else
    echo "sam-local needs ${missing[*]} (Debian: apt-get install ${missing[*]}, as root)" >&2
    exit 2
  fi
fi
if ! docker info >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "no Docker daemon answers: start dockerd (as root)" >&2; exit 2; }
  echo "starting dockerd (log: $STATE/dockerd.log)"
  dockerd >"$STATE/dockerd.log" 2>&1 &
  dockerd_pid=$!
  wait_until dockerd 60 docker info
fi

step "base image $IMAGE"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "present"
else
  rootfs="$STATE/rootfs"
  rm -rf "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" ${DEBOOTSTRAP_MIRROR:-} >"$STATE/debootstrap.log" 2>&1 \
    || { tail -n 20 "$STATE/debootstrap.log" >&2; exit 1; }
  tar -C "$rootfs" -c . | docker import - "$IMAGE" >/dev/null
  rm -rf "$rootfs"
  echo "made with debootstrap"
fi

# The containers' way to this machine: its address on Docker's bridge (docker0).
host_ip=$(ip -4 -o addr show docker0 2>/dev/null | awk '{ split($4, a, "/"); print a[1]; exit }')
[ -n "$host_ip" ] || { echo "no IPv4 address on docker0, Docker's bridge" >&2; exit 1; }

step "DynamoDB Local"
port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setsid scripts/dynamodb-local.sh "$port" >"$STATE/dynamodb-local.log" 2>&1 &
pids+=($!)
wait_until "DynamoDB Local (log: $STATE/dynamodb-local.log)" 120 \
  "$VENV/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $port), timeout=1).close()"
echo "127.0.0.1:$port here, $host_ip:$port from the containers"

step "table and demo data"
cargo build --quiet -p convo-admin
target_dir=$(cargo metadata --format-version 1 --no-deps | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port" TABLE_NAME=$TABLE "$target_dir/debug/convo-admin" create-table
AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port" TABLE_NAME=$TABLE "$target_dir/debug/convo-admin" seed-demo

step "sam build"
PATH="$PWD/$VENV/bin:$PATH" "$VENV/bin/sam" build --beta-features --parameter-overrides "${PARAMETERS[@]}" \
  >"$STATE/sam-build.log" 2>&1 || { tail -n 40 "$STATE/sam-build.log" >&2; exit 1; }

step "sam local invoke, every event"
env_vars="$STATE/env-vars.json"
printf '{"Parameters": {"TABLE_NAME": "%s", "AWS_ENDPOINT_URL_DYNAMODB": "http://%s:%s"}}\n' \
  "$TABLE" "$host_ip" "$port" >"$env_vars"
# Route key -> function, from the template (the route's integration's function).
routes="$STATE/routes.tsv"
"$VENV/bin/python" tools/template.py routes template.yaml >"$routes"
# events/front/: the same settings plus events/front/env.json's (ACCESS=front, its secret).
front_env_vars="$STATE/env-vars-front.json"
"$VENV/bin/python" - "$env_vars" events/front/env.json "$front_env_vars" <<'PY'
import json, sys
base, front, out = sys.argv[1:]
merged = json.load(open(base))
for function, variables in json.load(open(front)).items():
    merged[function] = {**merged["Parameters"], **variables}
json.dump(merged, open(out, "w"))
PY
passed=0 failed=0
for event in events/*.json events/front/*-*.json; do
  name=$(basename "$event" .json)
  vars=$env_vars
  case "$event" in events/front/*) name="front/$name" vars=$front_env_vars ;; esac
  route=$("$VENV/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["routeKey"])' "$event")
  function=$(awk -F'\t' -v r="$route" '$1 == r { print $2 }' "$routes")
  [ -n "$function" ] || { echo "FAIL $name: no function serves $route"; failed=$((failed + 1)); continue; }
  out="$STATE/${name//\//-}.out" log="$STATE/${name//\//-}.log"
  t0=$(date +%s%N)
  if "$VENV/bin/sam" local invoke --skip-pull-image --parameter-overrides "${PARAMETERS[@]}" \
       --env-vars "$vars" -e "$event" "$function" >"$out" 2>"$log" \
     && verdict=$("$VENV/bin/python" tools/template.py check-answer "$name" "$out"); then
    printf 'ok   %-50s %-32s %s (%d ms)\n' "$name" "$function" "$verdict" $(( ($(date +%s%N) - t0) / 1000000 ))
    passed=$((passed + 1))
  else
    echo "FAIL $name ($function): ${verdict:-sam local invoke failed}; answer: $(head -c 400 "$out"); log: $log"
    tail -n 5 "$log" | sed 's/^/     /'
    failed=$((failed + 1))
  fi
  verdict=
done
step "done"
echo "sam-local: $passed passed, $failed failed"
[ "$failed" = 0 ]
