#!/usr/bin/env bash
# The budgets the functions' release builds keep, checked on what `cargo lambda build
# --release` and `--output-format zip` leave in target/lambda/<function>/ (the Makefile's
# test target builds them first; `make bench` measures the same binaries):
#   - an executable linked at a fixed address: ELF type EXEC, not a PIE (DYN), which the
#     loader relocates at every cold start (functions/get-conversations/build.rs: -no-pie);
#   - no libm.so among the shared libraries the loader maps (readelf -d, NEEDED): each one
#     costs every cold start its page faults and relocations (shared/src/http/pow.rs);
#   - bootstrap.zip at most 3 MB (3,000,000 bytes), and holding that very bootstrap.
# Each broken budget is named on stderr; the exit status is 1 when any broke, 2 when the
# build outputs or readelf are missing.
#
# Usage: scripts/check-release.sh [function ...]   (default: both functions)
set -euo pipefail
cd "$(dirname "$0")/.."

ZIP_BUDGET=3000000
lambda_dir="${CARGO_TARGET_DIR:-target}/lambda"
if [ $# -gt 0 ]; then functions=("$@"); else functions=(get-conversations get-conversation-messages); fi

command -v readelf >/dev/null || { echo "check-release: readelf is missing (apt-get install binutils)" >&2; exit 2; }

failed=0
broken() {
  echo "check-release: BUDGET BROKEN: $*" >&2
  failed=1
}

for fn in "${functions[@]}"; do
  bin="$lambda_dir/$fn/bootstrap"
  zip="$lambda_dir/$fn/bootstrap.zip"
  for f in "$bin" "$zip"; do
    [ -f "$f" ] || { echo "check-release: $f is missing: build it first (cargo lambda build --release, then with --output-format zip)" >&2; exit 2; }
  done

  type=$(LC_ALL=C readelf -h "$bin" | sed -n 's/^ *Type: *\([A-Z]*\).*/\1/p')
  [ "$type" = EXEC ] || broken "$fn: non-PIE executable: $bin is ELF type ${type:-unknown}, not EXEC (the release link lost -no-pie: functions/get-conversations/build.rs, the build script of both functions)"

  needed=$(LC_ALL=C readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd ' ' -)
  for lib in $needed; do
    case "$lib" in
      libm.so*) broken "$fn: no libm.so: $bin needs $lib (NEEDED: $needed); something calls libm's functions again (shared/src/http/pow.rs)" ;;
    esac
  done

  size=$(stat -c %s "$zip")
  [ "$size" -le "$ZIP_BUDGET" ] || broken "$fn: bootstrap.zip ≤ 3 MB: $zip is $size bytes, over $ZIP_BUDGET"
  if command -v unzip >/dev/null && ! unzip -p "$zip" bootstrap | cmp -s - "$bin"; then
    broken "$fn: bootstrap.zip holds the bootstrap checked: $zip does not hold $bin (a stale zip: build it again with --output-format zip)"
  fi

  echo "check-release: $fn: ELF $type, NEEDED ${needed:-none}, bootstrap.zip $size bytes (budget $ZIP_BUDGET)"
done

if [ "$failed" != 0 ]; then
  echo "check-release: a release budget broke (above)" >&2
  exit 1
fi
