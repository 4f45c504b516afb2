#!/usr/bin/env bash
# A private MariaDB server (Debian's mariadb-server, `make mariadb` installs it) for the tests
# of the legacy MySQL side (tests/harness/mariadb.rs starts one per test binary): a fresh data
# directory and socket in DIR, TCP on 127.0.0.1:PORT only (unless an option below says
# otherwise), errors into ERROR_LOG. It never
# touches a system MariaDB (no option files are read: --no-defaults) and DIR is removed when
# it stops.
#
#   scripts/mariadb-local.sh PORT DIR ERROR_LOG [MARIADBD_OPTION...]
#
# MARIADBD_OPTIONs go to mariadbd after this script's own, so they win over them (mariadbd
# takes the last of an option given twice): e.g. --bind-address=ADDR to listen elsewhere than
# 127.0.0.1, --ssl-cert=… --ssl-key=… --ssl-ca=… for TLS (admin/tests/mysql_tls.rs).
#
# DIR must not exist yet (it is created here, then removed: an existing folder is never taken
# over). The server runs in the legacy server's zone (-05:00, America/Bogota has no DST) and
# character set (utf8mb4). The accounts are those of mariadb-install-db with
# --auth-root-authentication-method=socket: root, and the user running this when that is not
# root, log in over DIR/sock without a password (unix_socket); the harness creates the rest.
# The InnoDB settings are small ones for a fast start and little disk, and trade durability
# for speed (the data is thrown away).
#
# Runs until it is stopped (SIGTERM/SIGINT), or, with MARIADB_LOCAL_UNTIL_EOF=1, until its
# standard input closes: the test harness holds that pipe, so the server ends with the test
# process however that ends (as scripts/dynamodb-local.sh does for DynamoDB Local).
set -euo pipefail
usage="usage: $0 PORT DIR ERROR_LOG [MARIADBD_OPTION...]"
port=${1:?$usage}
dir=${2:?$usage}
log=${3:?$usage}
shift 3

# mariadbd and mariadb-install-db sit in /usr/sbin, which a user's PATH may lack.
PATH="$PATH:/usr/local/sbin:/usr/sbin"
for program in mariadbd mariadb-install-db; do
  if ! command -v "$program" >/dev/null; then
    echo "$program not found: run \`make mariadb\` (or \`make test\`), or install Debian's mariadb-server and mariadb-client" >&2
    exit 2
  fi
done

mkdir "$dir"
pid=
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# mariadbd refuses to run as root unless told so: --user is whoever runs this.
user=$(id -un)
innodb=(--innodb-buffer-pool-size=32M --innodb-log-file-size=8M
  --innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0)
# Temporary tables in DIR/tmp, not /tmp: servers started at the same time (one per test
# binary) or leftovers of a killed one never meet over a temporary file's name.
mkdir -p "$dir/tmp"
mariadb-install-db --no-defaults --user="$user" --datadir="$dir/data" --tmpdir="$dir/tmp" \
  --auth-root-authentication-method=socket "${innodb[@]}" >/dev/null
mariadbd --no-defaults --user="$user" --datadir="$dir/data" --tmpdir="$dir/tmp" --socket="$dir/sock" \
  --pid-file="$dir/mariadbd.pid" --log-error="$log" \
  --port="$port" --bind-address=127.0.0.1 --skip-name-resolve \
  --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
  --default-time-zone=-05:00 "${innodb[@]}" "$@" &
pid=$!
if [ "${MARIADB_LOCAL_UNTIL_EOF:-}" = 1 ]; then
  # Stops the server when standard input closes; returns early if it dies first.
  # (A background job's stdin is /dev/null unless redirected: hand it ours as fd 3.)
  exec 3<&0
  { cat <&3 >/dev/null; kill "$pid" 2>/dev/null || true; } &
fi
wait "$pid"
