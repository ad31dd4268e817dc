"""Tests: same stack as production where servers are given, fast hashing, isolated var dir.

Every test run gets its own database name, queue, broker folder and media folder (suffixed with
the pid), so concurrent runs on one machine never consume each other's tasks; a worker
subprocess is handed the same values explicitly.
"""

import os
from pathlib import Path

from portal.settings.base import *  # noqa: F403
from portal.settings.base import (
    CELERY_BROKER_URL,
    DATABASES,
    VAR_DIR,
    broker_transport_options,
    env,
)

RUN_ID = env("CXR_TEST_RUN_ID", default=str(os.getpid()))

DEBUG = False
SECRET_KEY = "test-only-not-secret"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A subprocess (the real Celery worker) must share the test database, so SQLite uses a file.
# Tests open and drop databases; a connection kept across tests would block the drop.
DATABASES["default"]["CONN_MAX_AGE"] = 0
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{RUN_ID}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_cxrscreen_{RUN_ID}"}

MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / f"test-media-{RUN_ID}")))
STORAGES = {**STORAGES}  # noqa: F405
if STORAGES["default"]["BACKEND"].endswith("FileSystemStorage"):
    STORAGES["default"] = {**STORAGES["default"], "OPTIONS": {"location": str(MEDIA_ROOT)}}
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default=f"cxrscreen-test-{RUN_ID}")
CELERY_BROKER_DIR = Path(env("CXR_BROKER_DIR", default=str(VAR_DIR / f"test-broker-{RUN_ID}")))
CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(
    url=CELERY_BROKER_URL, folder=CELERY_BROKER_DIR
)

# Tests change users and tokens between requests: nothing remembered unless a test says so.
CXR_TOKEN_CACHE_S = 0.0
# The models in force are read afresh each time unless a test says so (a worker started by a
# test, too: it follows a promotion at its next batch).
CXR_DEPLOYMENT_CACHE_S = env.float("CXR_DEPLOYMENT_CACHE_S", default=0.0)

REST_FRAMEWORK = {**REST_FRAMEWORK}  # noqa: F405
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "anon": env("API_THROTTLE_ANON", default="10000/min"),
    "user": env("API_THROTTLE_USER", default="10000/min"),
    "auth": env("API_THROTTLE_AUTH", default="10000/min"),
    "login": env("API_THROTTLE_LOGIN", default="10000/min"),
    "submit": env("API_THROTTLE_SUBMIT", default="10000/min"),
}
