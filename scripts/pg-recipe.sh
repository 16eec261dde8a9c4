#!/usr/bin/env bash
# The recipe of docs/scaling.md, on loopback: a primary and a
# streaming replica, the database partitioned, two serve replicas reading
# from the replica, a mirror filling it from another callvault (the stand-in
# for Graph).
#
# Run as root (the clusters belong to the postgres user) from the checkout:
#   scripts/pg-recipe.sh
# Everything listens on 127.0.0.1 (PostgreSQL on 55452 and 55453, serve on
# 18081, 18082 and the source on 18443) and is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bin" ] || [ "$(id -u)" != 0 ] || ! id postgres >/dev/null 2>&1; then
  echo "pg-recipe: needs root, a postgres user and the PostgreSQL server binaries" >&2
  exit 1
fi
dir=$(mktemp -d /tmp/callvault-recipe.XXXXXX); chown postgres "$dir"; chmod 700 "$dir"
cv=${CV:-$dir/callvault}
[ -n "${CV:-}" ] || go build -o "$cv" ./cmd/callvault
pg() { runuser -u postgres -- "$@"; }
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pg $bin/pg_ctl -D "$dir/replica" stop -m immediate >/dev/null 2>&1 || true
  pg $bin/pg_ctl -D "$dir/primary" stop -m immediate >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
P=55452; R=55453
# 1. The primary and its streaming replica.
pg $bin/initdb -D "$dir/primary" -U root --auth=trust >/dev/null
printf "listen_addresses = '127.0.0.1'\nunix_socket_directories = '$dir'\nwal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n" >>"$dir/primary/postgresql.conf"
echo "host replication root 127.0.0.1/32 trust" >>"$dir/primary/pg_hba.conf"
pg $bin/pg_ctl -D "$dir/primary" -l "$dir/primary.log" -w -o "-p $P" start >/dev/null
psql -X -q -h 127.0.0.1 -p $P -U root -d postgres -c 'CREATE DATABASE callvault'
pg $bin/pg_basebackup -h 127.0.0.1 -p $P -U root -D "$dir/replica" -R -X stream -c fast
pg $bin/pg_ctl -D "$dir/replica" -l "$dir/replica.log" -w -o "-p $R" start >/dev/null
psql -X -q -h 127.0.0.1 -p $P -U root -d postgres -c "ALTER SYSTEM SET synchronous_standby_names = '*'" \
  -c "ALTER SYSTEM SET synchronous_commit = 'remote_apply'" -c 'SELECT pg_reload_conf()' >/dev/null
PRIMARY="postgres://root@127.0.0.1:$P,127.0.0.1:$R/callvault?sslmode=disable&target_session_attrs=read-write"
REPLICA="postgres://root@127.0.0.1:$R/callvault?sslmode=disable"

# 2. The schema, partitioned by month.
$cv migrate --db "$PRIMARY" --partition --quality=false

# 3. Two serve replicas behind one public URL, reads on the replica.
for port in 18081 18082; do
  $cv serve --db "$PRIMARY" --db-read "$REPLICA" --addr 127.0.0.1:$port --public-url http://127.0.0.1:18080 --retention 8760h >"$dir/serve-$port.log" 2>&1 &
  pids+=($!)
done

# 4. A source standing in for Graph: another callvault over https.
T=4f1a2b3c-0000-4000-8000-00000000a11c
src="$dir/src"
$cv generate --tenant $T --records 300 --from "$(date -u -d '-6 days' +%F)" --to "$(date -u +%F)" --out "$dir/calls.jsonl" --reports "$dir" --progress 0 2>/dev/null
$cv import --data "$src" --tenant $T --progress 0 "$dir/calls.jsonl" "$dir/pstnCalls.jsonl" >/dev/null
env_lines=$($cv app add --data "$src" --tenant $T --name mirror --roles CallRecords.Read.All,CallRecord-PstnCalls.Read.All)
$cv serve --data "$src" --tls auto --addr 127.0.0.1:18443 >"$dir/src.log" 2>&1 &
pids+=($!)
sleep 3
ca=$($cv ca --data "$src")

# 5. The mirror, into the primary.
env CALLVAULT_DATA= $env_lines $cv mirror --db "$PRIMARY" --source https://127.0.0.1:18443/beta --authority https://127.0.0.1:18443/ \
  --source-ca "$ca" --once --since 192h --progress 0 2>&1 | tail -1

# 6. Both serve replicas answer the same, and /readyz counts the replica.
token=$($cv token --db "$PRIMARY" --tenant $T)
for port in 18081 18082; do
  echo "serve :$port /readyz: $(curl -s http://127.0.0.1:$port/readyz)"
  echo "serve :$port records: $(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1.0/communications/callRecords/\$count")"
done
echo "source records: $(curl -s --cacert "$ca" -H "Authorization: Bearer $($cv token --data "$src" --tenant $T)" "https://localhost:18443/v1.0/communications/callRecords/\$count" 2>/dev/null || echo '?')"
psql -X -At -h 127.0.0.1 -p $R -U root -d callvault -c "SELECT count(*) || ' records on the replica, ' || (SELECT count(*) FROM pg_inherits WHERE inhparent = 'call_records'::regclass) || ' months' FROM call_records"
grep -h "replica" "$dir"/serve-*.log | head -4
