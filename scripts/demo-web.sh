#!/usr/bin/env bash
# The demo's web server: gunicorn, as in production. Django's runserver cannot read a request
# body sent with Transfer-Encoding: chunked (Orthanc's STOW-RS default); gunicorn de-chunks it.
set -euo pipefail
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-portal.settings.local}"
exec .venv/bin/python -m gunicorn portal.wsgi:application \
  --bind "${CXR_DEMO_ADDR:-127.0.0.1:8000}" --workers "${CXR_DEMO_WEB_WORKERS:-1}" \
  --threads "${CXR_DEMO_WEB_THREADS:-4}" --timeout 120 --access-logfile -
