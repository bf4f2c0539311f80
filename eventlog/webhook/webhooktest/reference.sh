#!/usr/bin/env bash
# Issue 10's measurement, repeatable: for every repetition, serve mode and
# build (interleaved, so a noisy machine hurts each alike), a fresh schema
# and a fresh `orb-sync serve`, loaded by `orb-sync loadgen -reference`
# (seed 10,000 entities per kind, then 20 s at 1, 8 and 32 senders),
# which also samples serve's RSS and its PostgreSQL backends' CPU.
#
#   make build
#   eventlog/webhook/webhooktest/reference.sh                        # this build, 3 repetitions
#   eventlog/webhook/webhooktest/reference.sh main=/tmp/orb-sync-main new=bin/orb-sync   # A/B
#
# Settings (environment): DATABASE_URL (default the local PostgreSQL over
# TCP; the probe needs TCP and a server on this host), REPS (3), MODES
# ("default ingest-only"), ENTITIES (10000), DURATION (20s), PHASES
# (1,8,32), LOADGEN (bin/orb-sync: the load generator and summarizer),
# OUT (where the phase lines go; default reference-<time>.txt).
# Needs psql (to drop each schema) and curl.
set -euo pipefail
export PGOPTIONS="-c client_min_messages=warning"

DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
REPS=${REPS:-3}
MODES=${MODES:-default ingest-only}
ENTITIES=${ENTITIES:-10000}
DURATION=${DURATION:-20s}
PHASES=${PHASES:-1,8,32}
LOADGEN=${LOADGEN:-bin/orb-sync}
OUT=${OUT:-reference-$(date -u +%Y%m%dT%H%M%SZ).txt}
SECRET=reference-bench-secret
builds=("$@")
[ ${#builds[@]} -gt 0 ] || builds=("this=bin/orb-sync")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_one() { # rep label binary mode
  local rep=$1 label=$2 bin=$3 mode=$4
  local schema="lgref_$$_${rep}_${label//[^a-z0-9]/_}_${mode//-/_}"
  local port; port=$(free_port)
  local projector=true; [ "$mode" = ingest-only ] && projector=false
  psql -q "$DATABASE_URL" -c "drop schema if exists $schema cascade" >/dev/null
  DATABASE_URL=$DATABASE_URL DATABASE_SCHEMA=$schema ORB_WEBHOOK_SECRET=$SECRET \
    PROJECTOR_ENABLED=$projector LOG_LEVEL=warn ADMIN_LISTEN=off \
    "$bin" serve --port "$port" --listen-host 127.0.0.1 2>>"$OUT.serve.log" &
  local pid=$!
  for _ in $(seq 300); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  local load; load=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,)
  echo "# rep=$rep build=$label mode=$mode schema=$schema load_before=$load $(date -u +%H:%M:%S)" | tee -a "$OUT"
  DATABASE_URL=$DATABASE_URL DATABASE_SCHEMA=$schema ORB_WEBHOOK_SECRET=$SECRET \
    "$LOADGEN" loadgen -reference -url "http://127.0.0.1:$port/webhooks" -entities "$ENTITIES" \
    -phases "$PHASES" -duration "$DURATION" -serve-pid "$pid" |
    sed "s/^/rep=$rep build=$label mode=$mode load=$load /" | tee -a "$OUT"
  kill -TERM "$pid"; wait "$pid" || true
  # What the log keeps per event (rows, TOAST and indexes), against the
  # mean body the phases sent (mean_body=).
  echo "rep=$rep build=$label mode=$mode storage $(psql -At "$DATABASE_URL" -c \
    "select 'events=' || count(*) || ' log_bytes_per_event=' || (pg_total_relation_size('$schema.events') / count(*)) from $schema.events")" | tee -a "$OUT"
  psql -q "$DATABASE_URL" -c "drop schema $schema cascade" >/dev/null
}

for rep in $(seq "$REPS"); do
  for mode in $MODES; do
    for b in "${builds[@]}"; do
      run_one "$rep" "${b%%=*}" "${b#*=}" "$mode"
    done
  done
done
"$LOADGEN" loadgen -summarize "$OUT"
