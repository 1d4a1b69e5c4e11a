#!/usr/bin/env bash
# Try the multi-instance set-up: a throwaway PostgreSQL database and two API instances on two
# ports against it, sharing one JWT secret, as they would behind a load balancer. Register on one
# instance, sync on the other, read the change feed on either. Ctrl-C stops both instances and
# drops the database.
#
# Usage: scripts/multi-instance.sh
# Environment (all optional):
#   PGURL    an administrative connection URL, with a database name
#            (default postgres://postgres@127.0.0.1:5432/postgres); the throwaway database is
#            created next to it, on the same server, as the same user
#   PORT_A   first instance's port (default 8081)
#   PORT_B   second instance's port (default 8082)
#   RELEASE  1 to build and run the optimised binary (default: the debug build, quicker to build)
#   RUST_LOG the instances' log filter (default info)
set -euo pipefail
cd "$(dirname "$0")/.."

PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432/postgres}
PORT_A=${PORT_A:-8081}
PORT_B=${PORT_B:-8082}
export RUST_LOG=${RUST_LOG:-info}

for tool in psql curl cargo; do
  command -v "$tool" >/dev/null || { echo "multi-instance: $tool is required" >&2; exit 1; }
done

# The throwaway database's URL: PGURL with its database name replaced.
db="rd_multi_$(date +%Y%m%d_%H%M%S)_$$"
query=""
url=$PGURL
if [[ $url == *\?* ]]; then query="?${url#*\?}"; url=${url%%\?*}; fi
if [[ ${url#*://} != */* ]]; then
  echo "multi-instance: PGURL must name a database, e.g. postgres://postgres@127.0.0.1:5432/postgres" >&2
  exit 1
fi
DATABASE_URL="${url%/*}/$db$query"

if [ "${RELEASE:-0}" = 1 ]; then
  cargo build --release -p api --bin sync-server
  bin=target/release/sync-server
else
  cargo build -p api --bin sync-server
  bin=target/debug/sync-server
fi

work=$(mktemp -d)
pids=()
cleaned=0
cleanup() {
  [ "$cleaned" = 1 ] && return
  cleaned=1
  trap - INT TERM EXIT
  echo
  echo "multi-instance: stopping the instances (SIGTERM: in-flight requests finish)"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "multi-instance: dropping database $db"
  psql "$PGURL" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null \
    || echo "multi-instance: could not drop $db; drop it by hand" >&2
  rm -rf "$work"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

echo "multi-instance: creating database $db"
psql "$PGURL" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db" >/dev/null

# Every instance behind one load balancer must share the secret that signs access tokens.
JWT_SECRET=$(openssl rand -hex 32 2>/dev/null || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

start() { # name port
  mkdir -p "$work/$1"
  DATABASE_URL="$DATABASE_URL" JWT_SECRET="$JWT_SECRET" BIND_ADDR="127.0.0.1:$2" \
    DATA_DIR="$work/$1" DB_POOL_SIZE=5 \
    "$bin" >"$work/$1.log" 2>&1 &
  pids+=($!)
}
# Started together on an empty database: the migration runs once, under an advisory lock.
start a "$PORT_A"
start b "$PORT_B"

for port in "$PORT_A" "$PORT_B"; do
  ready=0
  for _ in $(seq 1 100); do
    if curl -fs "http://127.0.0.1:$port/readyz" >/dev/null; then ready=1; break; fi
    sleep 0.2
  done
  if [ "$ready" != 1 ]; then
    echo "multi-instance: the instance on port $port did not become ready; its log:" >&2
    tail -n 30 "$work"/*.log >&2
    exit 1
  fi
done

A="http://127.0.0.1:$PORT_A"
B="http://127.0.0.1:$PORT_B"
cat <<EOF

Two instances of the sync server share PostgreSQL database $db:
  A  $A      log: $work/a.log
  B  $B      log: $work/b.log
Both are ready ($A/readyz, $B/readyz); metrics at /metrics.

Register on A:
  TOKEN=\$(curl -s $A/api/v1/auth/register -H 'content-type: application/json' \\
    -d '{"email": "runner@example.com", "password": "correct horse battery"}' | jq -r .access_token)

Sync on B with that token (sessions live in the database, the secret is shared):
  curl -s $B/api/v1/workouts/sync -H "authorization: Bearer \$TOKEN" -H 'content-type: application/json' \\
    -H 'Idempotency-Key: try-1' -d '{"workouts": [{"client_id": "run-1",
      "start_time": "2024-01-15T08:00:00Z", "end_time": "2024-01-15T08:35:00Z",
      "duration_seconds": 2100, "distance_meters": 5000}]}'

Send the same request to A: the stored response is replayed (X-Idempotent-Replayed: true).
Read what B stored through A:
  curl -s $A/api/v1/workouts/changes -H "authorization: Bearer \$TOKEN"
  curl -s $A/api/v1/sync/status -H "authorization: Bearer \$TOKEN"

Ctrl-C stops both instances and drops the database.
EOF

# Until Ctrl-C, or until an instance exits on its own.
while :; do
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "multi-instance: an instance exited; its log:" >&2
      tail -n 30 "$work"/*.log >&2
      exit 1
    fi
  done
  sleep 1 &
  wait $! || true
done
