"""Settings shared by every environment; everything deployable is read from the environment."""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parents[2]
env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(str(BASE_DIR / ".env"))

VAR_DIR = Path(env("CXR_VAR_DIR", default=str(BASE_DIR / "var")))

SECRET_KEY = env("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "axes",
    "portal.accounts",
    "portal.ops",
    "screening",
    "screening.pacs",
    "screening.drift",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A PACS service account (role pacs) reaches /dicomweb/ only.
    "screening.pacs.access.PacsAccountMiddleware",
    # Last, as django-axes asks: it must see the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "portal" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.disclaimer",
                "screening.drift.context_processors.drift_banner",
            ],
        },
    },
]

# The cache holds rate-limit counts: Redis in production (one count across web replicas).
CACHE_URL = env("CACHE_URL", default="")
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            # A Redis that does not answer must not hold requests (rate limits then fail open).
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Database: PostgreSQL in CI and production; SQLite under var/ needs no server.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Web, worker and beat share the file: take the write lock when a transaction starts and
    # wait for it, instead of failing "database is locked" when a read upgrades to a write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
# Persistent connections: opening one per request or task cost half the database CPU (bench).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "portal.accounts.authentication.RoleReadingModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# API tokens stop working this long after they were issued (0: never); sign in again.
CXR_API_TOKEN_LIFETIME_S = env.int("CXR_API_TOKEN_LIFETIME_S", default=12 * 3600)
# A web process remembers a token and its user this long (a revoked one works that long more).
CXR_TOKEN_CACHE_S = env.float("CXR_TOKEN_CACHE_S", default=5.0)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Login throttling against password guessing (django-axes): lock a username+IP pair.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "portal" / "static"]
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Media is never served by URL: images and heatmaps go through permission-checked views.
MEDIA_URL = None

AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    _media_backend = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env("AWS_S3_REGION_NAME", default=None),
            "access_key": env("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env("AWS_SECRET_ACCESS_KEY", default=None),
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": 300,
            "file_overwrite": False,
        },
    }
else:
    _media_backend = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": None},
    }
STORAGES = {
    "default": _media_backend,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def broker_transport_options(*, url: str, folder: Path) -> dict:
    """Return Celery's transport options for `url` (folders for the filesystem broker)."""
    if url.startswith("filesystem://"):
        return {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
            "polling_interval": 0.1,
        }
    # acks_late tasks are redelivered after this many seconds if a worker dies holding them;
    # each worker looks for such messages every few seconds (kombu's default is ~100 s).
    return {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=300),
        "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL_S", default=5),
        "unacked_restore_throttle": 1,
    }


# Celery: Redis in CI and production; the filesystem broker under var/ needs no server.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_DIR = Path(env("CXR_BROKER_DIR", default=str(VAR_DIR / "broker")))
CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(
    url=CELERY_BROKER_URL, folder=CELERY_BROKER_DIR
)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=f"file://{VAR_DIR / 'results'}")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="cxrscreen")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A submission must not hang when the broker is down: fail fast, the sweep requeues later.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The one beat schedule (run exactly one beat process). Stuck predictions (broker down or
# emptied, a worker lost mid-task) are sent again; so are PACS results not yet delivered.
CXR_SWEEP_INTERVAL_S = env.float("CXR_SWEEP_INTERVAL_S", default=20.0)
CELERY_BEAT_SCHEDULE = {
    "predictions-sweep": {"task": "screening.predictions_sweep", "schedule": CXR_SWEEP_INTERVAL_S},
    "pacs-results-sweep": {"task": "pacs.results_sweep", "schedule": 300.0},
    "media-orphans-sweep": {"task": "screening.media_orphans_sweep", "schedule": 3600.0},
    "drift-days-compute": {
        "task": "drift.days_compute",
        "schedule": env.float("CXR_DRIFT_INTERVAL_S", default=900.0),
    },
}

# The model: which registry entry the worker loads (None: mlcore's default).
CXR_MODEL_NAME = env("CXR_MODEL_NAME", default=None)
# Where the worker caches each model's networks as LiteRT flatbuffers (mlcore.compiled),
# built once per model version; empty runs them as Keras networks under TensorFlow.
CXR_COMPILED_DIR = env("CXR_COMPILED_DIR", default=str(VAR_DIR / "compiled"))
# Until an admin promotes a candidate (screening.ModelDeployment), which then holds instead.
# A process reads the model in force and the candidate at most this often, so a promotion or
# rollback reaches running workers within this many seconds, without a restart.
CXR_DEPLOYMENT_CACHE_S = env.float("CXR_DEPLOYMENT_CACHE_S", default=3.0)
# Promotion needs at least this many reviewed cases screened by both models, and the
# candidate's covid and pneumonia sensitivities on them at least the current model's minus
# this margin.
CXR_PROMOTION_MIN_CASES = env.int("CXR_PROMOTION_MIN_CASES", default=20)
CXR_PROMOTION_SENSITIVITY_MARGIN = env.float("CXR_PROMOTION_SENSITIVITY_MARGIN", default=0.02)
# The operating point of the model's card that decisions are made at, unless an admin has
# chosen another for the model (screening.OperatingPointChoice): "screening" runs at a high
# sensitivity, "balanced" at the Youden point.
CXR_OPERATING_POINT = env("CXR_OPERATING_POINT", default="screening")
# A prediction whose worker died this many times fails instead of being sent again.
CXR_PREDICTION_MAX_ATTEMPTS = env.int("CXR_PREDICTION_MAX_ATTEMPTS", default=5)
# The periodic sweep requeues predictions queued or running for longer than this.
CXR_SWEEP_OLDER_THAN_S = env.int("CXR_SWEEP_OLDER_THAN_S", default=300)
# A queued prediction whose message never reached the broker is sent again after this.
CXR_SWEEP_UNSENT_AFTER_S = env.int("CXR_SWEEP_UNSENT_AFTER_S", default=15)
# A stored file no row names (a process killed mid-write) is deleted once this old.
CXR_ORPHAN_AFTER_S = env.int("CXR_ORPHAN_AFTER_S", default=3600)
# The hourly media sweep opens only the folders of studies submitted or screened this recently
# (and folders no study row names); 0: every folder, every time.
CXR_MEDIA_SWEEP_LOOKBACK_S = env.int("CXR_MEDIA_SWEEP_LOOKBACK_S", default=172800)
# A worker screens up to this many waiting images in one batched pass (1: one at a time).
CXR_WORKER_BATCH_MAX = env.int("CXR_WORKER_BATCH_MAX", default=8)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.accounts.authentication.RoleReadingTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "screening.pacs.access.NotPacsAccount",
    ],
    # JSON only (the browsable API needs inline scripts); every JSON object gets the disclaimer.
    "DEFAULT_RENDERER_CLASSES": ["screening.api.renderers.DisclaimerJSONRenderer"],
    # DRF's parsers, with deeply nested JSON answered 400 instead of a RecursionError (500).
    "DEFAULT_PARSER_CLASSES": [
        "screening.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "screening.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": [
        "portal.throttling.AnonRateThrottle",
        "portal.throttling.UserRateThrottle",
        "portal.throttling.SubmissionRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", default="60/min"),
        "user": env("API_THROTTLE_USER", default="1200/min"),
        "auth": env("API_THROTTLE_AUTH", default="20/min"),
        "login": env("API_THROTTLE_LOGIN", default="10/min"),
        "submit": env("API_THROTTLE_SUBMIT", default="120/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "cxrscreen API",
    "DESCRIPTION": "Chest X-ray screening (educational; not a diagnostic device).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from our own static files (no internet, CSP 'self'): drf-spectacular-sidecar.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # A prediction's label (argmax) and decision share one set of classes.
    "ENUM_NAME_OVERRIDES": {"LabelEnum": "screening.models.Label"},
}

# Content security policy (django-csp): everything from our own origin, no inline script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # templates hand htmx the token through hx-headers
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Upload limits (also enforced per file by the screening services).
CXR_MAX_UPLOAD_BYTES = env.int("CXR_MAX_UPLOAD_BYTES", default=30 * 1024 * 1024)
CXR_MAX_FILES_PER_STUDY = env.int("CXR_MAX_FILES_PER_STUDY", default=20)
CXR_MAX_PIXELS = env.int("CXR_MAX_PIXELS", default=40_000_000)
CXR_MIN_SIDE = env.int("CXR_MIN_SIDE", default=64)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = CXR_MAX_FILES_PER_STUDY + 5

CXR_DISCLAIMER = (
    "Educational demonstration only: this is not a diagnostic device. Results are produced by "
    "a research model trained on a small public dataset and must not be used for diagnosis, "
    "treatment or any clinical decision."
)

# PACS over DICOMweb (screening.pacs): results go to this server; empty sends none.
CXR_PACS_DICOMWEB_URL = env("CXR_PACS_DICOMWEB_URL", default="")
CXR_PACS_USERNAME = env("CXR_PACS_USERNAME", default="")
CXR_PACS_PASSWORD = env("CXR_PACS_PASSWORD", default="")
CXR_PACS_TIMEOUT_S = env.float("CXR_PACS_TIMEOUT_S", default=30.0)
CXR_PACS_RETRY_DELAY_S = env.float("CXR_PACS_RETRY_DELAY_S", default=10.0)
CXR_PACS_RETRY_MAX_DELAY_S = env.float("CXR_PACS_RETRY_MAX_DELAY_S", default=600.0)
CXR_PACS_MAX_RETRIES = env.int("CXR_PACS_MAX_RETRIES", default=12)
# One STOW-RS request may carry a whole study: every instance within CXR_MAX_UPLOAD_BYTES.
CXR_PACS_MAX_REQUEST_BYTES = env.int("CXR_PACS_MAX_REQUEST_BYTES", default=200 * 1024 * 1024)
# PACS over DIMSE (screening.pacs.listener): `manage.py dicom_listener` listens as this AE on
# this address and port; results go back by C-STORE with this AE as the calling AE title.
CXR_DICOM_AE_TITLE = env("CXR_DICOM_AE_TITLE", default="CXRSCREEN")
CXR_DICOM_HOST = env("CXR_DICOM_HOST", default="0.0.0.0")  # noqa: S104 (a listener's bind)
CXR_DICOM_PORT = env.int("CXR_DICOM_PORT", default=11112)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "axes": {"level": "WARNING"},
        "highdicom": {"level": "WARNING"},
        "pynetdicom": {"level": "WARNING"},
    },
}

# The drift watch (screening.drift, docs/drift-watch.md). A figure outside its band on this
# many consecutive counted days raises an alert; a day counts for a figure when it is taken
# over at least CXR_DRIFT_MIN_IMAGES images (CXR_DRIFT_MIN_REVIEWED for reviewer agreement),
# and only the last CXR_DRIFT_LOOKBACK_DAYS days are looked at.
CXR_DRIFT_ALERT_DAYS = env.int("CXR_DRIFT_ALERT_DAYS", default=3)
CXR_DRIFT_MIN_IMAGES = env.int("CXR_DRIFT_MIN_IMAGES", default=20)
CXR_DRIFT_MIN_REVIEWED = env.int("CXR_DRIFT_MIN_REVIEWED", default=10)
CXR_DRIFT_LOOKBACK_DAYS = env.int("CXR_DRIFT_LOOKBACK_DAYS", default=14)
CXR_DRIFT_DAYS_SHOWN = env.int("CXR_DRIFT_DAYS_SHOWN", default=90)
# A band is the reference value +- max(z standard errors on the day's images, a minimum
# width); the minimum is absolute, or a fraction of the value for the figures named relative.
CXR_DRIFT_BAND_Z = env.float("CXR_DRIFT_BAND_Z", default=3.0)
CXR_DRIFT_MIN_WIDTHS = {
    "refused_share": 0.05,
    "gate_distance_median": 0.15,
    "gate_distance_p90": 0.25,
    "covid_mean": 0.08,
    "share_covid": 0.10,
    "share_pneumonia": 0.10,
    "share_normal": 0.10,
    "side_median": 0.25,
    "agreement": 0.10,
}
CXR_DRIFT_RELATIVE_WIDTHS = ("side_median",)
# Bands for a model that ships no drift_reference.json; a figure not named is not watched.
CXR_DRIFT_FALLBACK_BANDS = {
    "refused_share": (0.0, 0.15),
    "gate_distance_median": (0.0, 1.3),
    "gate_distance_p90": (0.0, 1.8),
    "covid_mean": (0.0, 0.6),
    "agreement": (0.6, 1.0),
}

# Mail (drift alerts go to every active superuser with an address).
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="cxrscreen <cxrscreen@localhost>")
