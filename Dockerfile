# One image for `web` (gunicorn) and `worker` (celery); docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=portal.settings.production

RUN apt-get update \
    && apt-get install -y --no-install-recommends curl libpq5 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 cxr

WORKDIR /app
COPY requirements/ requirements/
RUN pip install -r requirements/production.txt

COPY --chown=cxr:cxr . .
RUN SECRET_KEY=build-only-collectstatic-key-not-used-at-runtime-0123456789abcdef \
    ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput

# The worker runs the shipped model as flatbuffers (mlcore.compiled): build them into the
# image, so that no container spends its first start converting (CXR_COMPILED_DIR's default).
RUN python -m mlcore.compiled --cache-dir var/compiled && chown -R cxr:cxr var

USER cxr
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi:application", "--config", "deploy/gunicorn.conf.py"]
