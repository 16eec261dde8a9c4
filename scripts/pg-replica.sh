#!/usr/bin/env bash
# Runs the PostgreSQL read-replica and failover tests against a real
# streaming replica made on this machine: a primary and a replica of it
# (pg_basebackup), each a cluster of its own in a temporary directory on a
# loopback port, removed at the end. Nothing of the machine's own server is
# used or changed.
#
#   1. the store suite with reads on the replica, and its rotation tests;
#   2. the primary stopped and the replica promoted behind a multi-host URL
#      (target_session_attrs=read-write): the test checks that every answer
#      in between is right or a 503, that writes resume without a restart,
#      and that no acknowledged write is lost.
#
# The primary replicates synchronously (synchronous_commit=remote_apply):
# a write is acknowledged once the replica has applied it, which is what
# makes "no acknowledged write lost" hold across a failover (docs/scaling.md).
#
# Skips, saying why, when the PostgreSQL server binaries are not installed.
# Ports: PG_REPLICA_PORT (default 55432) and the one after it.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_basebackup" ]; then
  echo "== pg-replica: SKIPPED: no PostgreSQL server binaries (initdb, pg_basebackup) under /usr/lib/postgresql/*/bin"
  exit 0
fi
primary_port=${PG_REPLICA_PORT:-55432}
replica_port=$((primary_port + 1))
for port in "$primary_port" "$replica_port"; do
  if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1; then
    echo "pg-replica: port $port is taken; set PG_REPLICA_PORT to a free pair" >&2
    exit 1
  fi
done

# initdb refuses to run as root: the clusters belong to the postgres user
# when the script runs as root.
as=()
owner=$(id -un)
if [ "$(id -u)" = 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    echo "== pg-replica: SKIPPED: running as root and there is no postgres user for initdb"
    exit 0
  fi
  as=(runuser -u postgres --)
  owner=postgres
fi

dir=$(mktemp -d /tmp/callvault-pg-replica.XXXXXX)
chown "$owner" "$dir"
chmod 700 "$dir"
pg() { "${as[@]}" "$@"; }
cleanup() {
  pg "$bin/pg_ctl" -D "$dir/replica" stop -m immediate >/dev/null 2>&1 || true
  pg "$bin/pg_ctl" -D "$dir/primary" stop -m immediate >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

echo "== pg-replica: primary on 127.0.0.1:$primary_port, streaming replica on 127.0.0.1:$replica_port ($dir)"
pg "$bin/initdb" -D "$dir/primary" -U root --auth=trust >/dev/null
cat >>"$dir/primary/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
wal_level = replica
max_wal_senders = 4
hot_standby = on
fsync = off
EOF
echo "host replication root 127.0.0.1/32 trust" >>"$dir/primary/pg_hba.conf"
pg "$bin/pg_ctl" -D "$dir/primary" -l "$dir/primary.log" -w -t 60 -o "-p $primary_port" start >/dev/null
psql_primary() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$primary_port" -U root -d postgres "$@"; }
psql_primary -c 'CREATE DATABASE test'
pg "$bin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U root -D "$dir/replica" -R -X stream -c fast
pg "$bin/pg_ctl" -D "$dir/replica" -l "$dir/replica.log" -w -t 60 -o "-p $replica_port" start >/dev/null
# Synchronous replication on the primary only, set after the copy (ALTER
# SYSTEM writes a file that is not replicated): once promoted, the replica
# has no standby to wait for.
psql_primary -c "ALTER SYSTEM SET synchronous_standby_names = '*'" \
  -c "ALTER SYSTEM SET synchronous_commit = 'remote_apply'" -c 'SELECT pg_reload_conf()' >/dev/null
for _ in $(seq 60); do
  [ "$(psql_primary -Atc "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")" = 1 ] && break
  sleep 1
done

base="postgres://root@127.0.0.1"
opts="/test?sslmode=disable&connect_timeout=5"
failed=0
# run NAME REGEXP ENV…: the tests REGEXP of ./postgres with ENV, their
# outcome and figures shown, their whole output when they fail.
run() {
  local name=$1 tests=$2
  shift 2
  if env "$@" timeout 600 go test -count=1 -timeout 9m -run "$tests" -v ./postgres/ >"$dir/$name.out" 2>&1; then
    grep -E '^(--- |ok)|replica answered|acknowledged' "$dir/$name.out" | grep -v -- '--- PASS: .*/' || true
  else
    failed=1
    cat "$dir/$name.out"
  fi
}

echo "== pg-replica: the store suite with reads on the replica"
run reads 'TestStoreOnReplica|TestReplicaRotation|TestReplicaFailsMidVisit' \
  CALLVAULT_TEST_POSTGRES="$base:$primary_port$opts" \
  CALLVAULT_TEST_POSTGRES_REPLICA="$base:$replica_port$opts"

echo "== pg-replica: failover: the primary stopped, the replica promoted"
run failover 'TestFailover' \
  CALLVAULT_TEST_POSTGRES="$base:$primary_port,127.0.0.1:$replica_port$opts&target_session_attrs=read-write" \
  CALLVAULT_TEST_POSTGRES_REPLICA="$base:$replica_port$opts" \
  CALLVAULT_TEST_POSTGRES_FAILOVER="${as[*]} $bin/pg_ctl -D $dir/primary stop -m fast && ${as[*]} $bin/pg_ctl -D $dir/replica promote -w -t 60"

if [ "$failed" != 0 ]; then
  echo "pg-replica: FAILED (the servers' logs follow)" >&2
  tail -n 30 "$dir/primary.log" "$dir/replica.log" >&2 || true
  exit 1
fi
