#!/usr/bin/env bash
# Run the web server (scripts/demo-web.sh: gunicorn), a Celery worker, beat and the DICOM
# listener (C-STORE/C-ECHO on 127.0.0.1:${CXR_DICOM_PORT:-11112}) together; Ctrl-C stops them all.
# CXR_DEMO_BEAT=0 or CXR_DEMO_LISTENER=0 leaves beat or the listener out.
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
listener=""
if [[ "${CXR_DEMO_LISTENER:-1}" == "1" ]]; then
  CXR_DICOM_HOST="${CXR_DICOM_HOST:-127.0.0.1}" "$BIN/python" manage.py dicom_listener &
  listener=$!
fi
stop() {
  kill -TERM "$worker" $beat $listener 2>/dev/null || true
  wait "$worker" $beat $listener 2>/dev/null || true
}
trap stop EXIT INT TERM
bash scripts/demo-web.sh
