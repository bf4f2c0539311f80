#!/usr/bin/env bash
# Runs orb-sync on this machine for development: uses DATABASE_URL when set,
# else a PostgreSQL on 127.0.0.1:5432, else starts a throwaway cluster.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=bin/orb-sync
[ -x "$bin" ] || CGO_ENABLED=0 go build -trimpath -o "$bin" ./cmd/orb-sync
if [ -z "${DATABASE_URL:-}" ]; then
  DATABASE_URL=$("$bin" local-postgres)
  export DATABASE_URL
  echo "orb-sync: using local PostgreSQL (set DATABASE_URL to choose another)" >&2
fi
if [ -z "${ORB_WEBHOOK_SECRET:-}" ]; then
  export ORB_WEBHOOK_SECRET=dev-secret-change-me
  echo "orb-sync: ORB_WEBHOOK_SECRET unset; using the development secret 'dev-secret-change-me'" >&2
fi
export LOG_FORMAT=${LOG_FORMAT:-text}
exec "$bin" serve "$@"
