#!/usr/bin/env bash
# Makes tests/fixtures/mysqldump/*: dumps of the legacy schema (tests/fixtures/legacy/schema.sql)
# written by the real mysqldump (MariaDB from Debian's packages), with rows that are hard
# to get right (escapes, NUL and Ctrl-Z bytes, 4-byte UTF-8, NULLs, a 60 KB text, equal
# timestamps) and a table the import must ignore. Run once by hand (as root, or with sudo
# for the package install); the output is committed, so the mysqldump tests need no MariaDB.
#
#   scripts/make-mysqldump-fixtures.sh
#
# The server runs as a background process on a temporary data directory and socket
# (no systemd needed), in the legacy server's zone (-05:00, America/Bogota has no DST),
# so a --skip-tz-utc dump holds local times and the default dump holds UTC ones.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=tests/fixtures/mysqldump
mkdir -p "$OUT"

if ! command -v mariadbd >/dev/null || ! command -v mariadb-dump >/dev/null; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y mariadb-server mariadb-client
fi

WORK=$(mktemp -d)
SOCK=$WORK/mysqld.sock
cleanup() {
  mariadb-admin --socket="$SOCK" -uroot shutdown 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mariadb-install-db --user="$(id -un)" --datadir="$WORK/data" --auth-root-authentication-method=socket >/dev/null
mariadbd --user="$(id -un)" --datadir="$WORK/data" --socket="$SOCK" --skip-networking \
  --pid-file="$WORK/mysqld.pid" --log-error="$WORK/error.log" \
  --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
  --default-time-zone=-05:00 &
# Wait for the server to accept connections (mariadb-admin --wait retries for us).
mariadb-admin --socket="$SOCK" -uroot --wait=30 --connect-timeout=1 ping >/dev/null

sql() { mariadb --socket="$SOCK" -uroot --default-character-set=utf8mb4 "$@"; }

# The legacy schema (conversations, messages) from its one copy, then the rest.
{
  printf '%s\n' "CREATE DATABASE legacy CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;" "USE legacy;"
  cat tests/fixtures/legacy/schema.sql
  cat <<'SQL'
-- A table of the old application that the import must skip.
CREATE TABLE settings (
  name VARCHAR(64) NOT NULL PRIMARY KEY,
  value TEXT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Times as the old application wrote them: local time of its server (-05:00).
SET time_zone = '-05:00';

INSERT INTO conversations VALUES
  (1, '+573001112233', 'María José 🎉', 'active', 1,
   '2024-01-15 09:30:25', '2024-01-15 09:30:05', '2024-01-10 04:00:00', '2024-01-15 09:30:25'),
  (2, '555''0102', 'O''Brien "Bob" \\ back', 'pending_human', 0,
   '2024-01-15 08:15:00', NULL, '2024-01-12 06:30:00', '2024-01-15 08:15:00'),
  (3, '573009998877', NULL, 'closed', 0,
   '2024-01-14 20:00:00', NULL, '2024-01-01 00:00:00', '2024-01-14 20:00:00'),
  (4, '573000000004', '', 'active', 1,
   '2024-01-13 12:00:00', NULL, '2024-01-13 12:00:00', '2024-01-13 12:00:00');

INSERT INTO messages VALUES
  (10, 1, 'wamid.HBgM1', 'user', 'Hola, ¿cómo están? 🎉👋🏽 𝄞', NULL, 'text', NULL, NULL, '2024-01-15 09:30:00'),
  (11, 1, NULL, 'bot', 'Con gusto te ayudo.', NULL, 'text', 'Order tracking "FAQ" doc', 0.92, '2024-01-15 09:30:05'),
  (12, 1, NULL, 'human', 'It''s "quoted" \\ back\nline2\r\n\ttab', NULL, 'text', NULL, NULL, '2024-01-15 09:30:10'),
  (13, 1, NULL, 'user', CONCAT('nul:', CHAR(0 USING utf8mb4), ' ctrl-z:', CHAR(26 USING utf8mb4), ' end'),
   NULL, 'text', NULL, NULL, '2024-01-15 09:30:20'),
  (14, 1, 'wamid.HBgM5', 'user', '', 'https://media.example.com/a/14.ogg?x=1&y=''2''', 'audio', NULL, NULL, '2024-01-15 09:30:25'),
  -- Equal times: the contract orders them by id.
  (22, 2, NULL, 'user', 'third (same second, highest id)', NULL, 'text', NULL, NULL, '2024-01-15 08:15:00'),
  (20, 2, NULL, 'user', 'first (same second, lowest id)', NULL, 'text', NULL, NULL, '2024-01-15 08:15:00'),
  (21, 2, NULL, 'bot', 'second (same second)', NULL, 'image', '', 0.5, '2024-01-15 08:15:00'),
  (19, 2, NULL, 'user', 'before them all, with a higher id than none', NULL, 'document', NULL, NULL, '2024-01-15 08:14:59'),
  (30, 3, NULL, 'user', REPEAT('ñandú 🦜 ', 4700), NULL, 'video', NULL, NULL, '2024-01-14 20:00:00');

INSERT INTO settings VALUES
  ('welcome', 'Hola 👋; it''s (not) a row of ours),(\\'),
  ('empty', NULL),
  ('semi;colon', 'INSERT INTO `messages` VALUES (1);');
SQL
} | sql

dump() { mariadb-dump --socket="$SOCK" -uroot --default-character-set=utf8mb4 --skip-dump-date "$@" legacy; }
dump >"$OUT/legacy.sql"
gzip -9 -n -c "$OUT/legacy.sql" >"$OUT/legacy.sql.gz"
dump --complete-insert --skip-extended-insert >"$OUT/legacy-complete-insert.sql"
dump --skip-tz-utc >"$OUT/legacy-skip-tz-utc.sql"
# A malformed dump: the comma after the row of message 12 is gone (MariaDB writes one row
# a line), so the row of message 13 follows it directly.
sed -E '/^\(12,1,/ s/\),$/)/' "$OUT/legacy.sql" >"$OUT/legacy-malformed.sql"
mariadb-dump --version >"$OUT/VERSION"
echo "wrote $(ls "$OUT" | wc -l) files into $OUT"
