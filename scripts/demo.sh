#!/usr/bin/env bash
# Run the web server (scripts/demo-web.sh: gunicorn) and a Celery worker together; Ctrl-C stops
# both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-portal.settings.local}"

"$BIN/celery" -A portal worker --loglevel=INFO --concurrency="${CXR_WORKER_CONCURRENCY:-1}" \
  --hostname="demo-worker@%h" &
worker=$!
beat=""
if [[ "${CXR_DEMO_BEAT:-1}" == "1" ]]; then
  "$BIN/celery" -A portal beat --loglevel=WARNING &
  beat=$!
fi
stop() {
  kill -TERM "$worker" $beat 2>/dev/null || true
  wait "$worker" $beat 2>/dev/null || true
}
trap stop EXIT INT TERM
bash scripts/demo-web.sh
