#!/usr/bin/env sh
# Web container start: serve with gunicorn (the one-shot `migrate` service migrated already).
set -e
exec gunicorn portal.wsgi:application --config deploy/gunicorn.conf.py
