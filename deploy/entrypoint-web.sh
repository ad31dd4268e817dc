#!/usr/bin/env sh
# Web container start: apply migrations, then serve with gunicorn.
set -e
python manage.py migrate --noinput
exec gunicorn portal.wsgi:application --config deploy/gunicorn.conf.py
