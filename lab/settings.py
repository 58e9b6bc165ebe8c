"""CXR Lab settings: every knob comes from the environment, read here and nowhere else.

The embedded defaults (SQLite and kombu's filesystem transport under ``var/``) make ``make run``
work on a bare machine; ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis. The
README's configuration table lists every variable read below; keep the two in step.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from labeling.netpolicy import AllowList  # pure Python: no app is loaded by it

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
DATA_DIR = Path(env_str("CXR_DATA_DIR", str(BASE_DIR / "var"))).resolve()
MIN_SECRET_KEY_LENGTH = 50


def _secret_key() -> str:
    """Production demands a real key; development keeps a generated one under DATA_DIR."""
    key = env_str("SECRET_KEY")
    if key:
        if not DEBUG and len(key) < MIN_SECRET_KEY_LENGTH:
            raise ImproperlyConfigured(
                f"SECRET_KEY is {len(key)} characters; production (DEBUG=0) needs at least "
                f"{MIN_SECRET_KEY_LENGTH}."
            )
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production (DEBUG=0) needs a random key of at least "
            f"{MIN_SECRET_KEY_LENGTH} characters; set DEBUG=1 for a development key."
        )
    key_file = DATA_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(64)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "lab",  # first, so its runserver (which refuses DEBUG on public addresses) wins
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "teams",
    "jobs",
    "labeling",
    "curation",
    "training",
    "results",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise, so static files carry the policy too (a worker script's own policy
    # is what governs the WebAssembly codecs it compiles).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "teams.middleware.ActiveTeamMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the lockout page
]

ROOT_URLCONF = "lab.urls"
WSGI_APPLICATION = "lab.wsgi.application"
ASGI_APPLICATION = "lab.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "teams.context_processors.teams",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker share the file: wait for locks instead of failing.
    # WAL lets the web server read while the worker writes; NORMAL syncs at checkpoints only.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not shared-cache memory, so concurrency tests wait on locks like production does.
    # One per test process, so two test runs on one machine do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-db-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# Vite writes the viewer and chart bundles here (git-ignored); see frontend/vite.config.js.
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
STATICFILES_DIRS = [("dist", FRONTEND_DIST)] if FRONTEND_DIST.is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
WHITENOISE_MIMETYPES = {".wasm": "application/wasm"}
MEDIA_ROOT = DATA_DIR / "media"

# Where DICOM files and the per-team training caches live (paths chosen by the server).
DICOM_STORE_DIR = DATA_DIR / "dicom"
CACHE_STORE_DIR = DATA_DIR / "cache"
RUNS_DIR = DATA_DIR / "runs"
# torchvision's ImageNet weight files (resnet101-63fe2227.pth, vgg16-397923af.pth, ...).
WEIGHTS_DIR = Path(
    env_str(
        "CXR_WEIGHTS_DIR",
        str(Path(env_str("TORCH_HOME", str(Path.home() / ".cache/torch"))) / "hub/checkpoints"),
    )
)
CACHE_IMAGE_SIZE = env_int("CXR_CACHE_IMAGE_SIZE", 256, minimum=32)
DICOM_MAX_FILE_BYTES = env_int("CXR_DICOM_MAX_FILE_MB", 512, minimum=1) * 1024 * 1024
# A Deflated Explicit VR Little Endian file is inflated to a spooled temporary file and refused
# once it passes this size (never more than DICOM_MAX_FILE_BYTES): a deflate bomb stops here.
DICOM_MAX_INFLATED_BYTES = env_int("CXR_DICOM_MAX_INFLATED_MB", 512, minimum=1) * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("CXR_UPLOAD_MAX_MEMORY_MB", 10, minimum=1) * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
# One upload request (a file or a zip archive) may be at most this large.
UPLOAD_MAX_BYTES = env_int("CXR_UPLOAD_MAX_MB", 4096, minimum=1) * 1024 * 1024
# The passphrase that encrypts team backups (manage.py backup / restore) when no --key-file is
# given; keep a copy apart from the archives, without it they cannot be read.
BACKUP_KEY = env_str("CXR_BACKUP_KEY")

# PACS connections. Private, loopback and other non-public addresses are refused unless listed
# here (host names, *.domain, IP addresses, CIDR ranges; labeling/netpolicy.py). The CA bundle
# verifies an https PACS (empty: the default bundle). Stored PACS passwords are encrypted with
# CXR_FIELD_ENCRYPTION_KEY (several, comma-separated, while rotating: the first encrypts),
# derived from SECRET_KEY when unset (labeling/fields.py).
MIN_FIELD_ENCRYPTION_KEY_LENGTH = 32
CXR_PACS_CA_BUNDLE = env_str("CXR_PACS_CA_BUNDLE")
CXR_FIELD_ENCRYPTION_KEY = env_list("CXR_FIELD_ENCRYPTION_KEY")
if any(len(key) < MIN_FIELD_ENCRYPTION_KEY_LENGTH for key in CXR_FIELD_ENCRYPTION_KEY):
    raise ImproperlyConfigured(
        f"each CXR_FIELD_ENCRYPTION_KEY needs at least {MIN_FIELD_ENCRYPTION_KEY_LENGTH} characters"
    )
CXR_PACS_ALLOWED_HOSTS = env_list("CXR_PACS_ALLOWED_HOSTS")
try:
    AllowList.parse(CXR_PACS_ALLOWED_HOSTS)
except ValueError as exc:
    raise ImproperlyConfigured(f"CXR_PACS_ALLOWED_HOSTS: {exc}") from None
# The DIMSE storage listener (manage.py dicom_listener): the address its servers bind, the port
# a team gets when the listener first serves it (the next team the next free one), and how often
# it reads the teams' settings, so that a change on the listener page takes effect that soon.
DICOM_LISTENER_HOST = env_str("CXR_DICOM_LISTENER_HOST", "127.0.0.1" if DEBUG else "0.0.0.0")
DICOM_LISTENER_FIRST_PORT = env_int("CXR_DICOM_LISTENER_PORT", 11112, minimum=1024)
DICOM_LISTENER_POLL_SECONDS = env_int("CXR_DICOM_LISTENER_POLL_SECONDS", 3, minimum=1)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: a refused request then gets 401 with WWW-Authenticate (and a throttled
        # address 429), which DRF turns into 403 when the first scheme names no header.
        "teams.tokens.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # ?limit= or ?page_size= (an alias), capped at teams.pagination.MAX_PAGE_SIZE; ?offset=.
    "DEFAULT_PAGINATION_CLASS": "teams.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CXR Lab API",
    "DESCRIPTION": "Chest X-ray studies, labels and training jobs, scoped to your teams.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status" or "kind": give each choice set its own schema name.
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "jobs.models.JobStatus",
        "JobKindEnum": "training.models.JobKind",
        "ClusterRunStatusEnum": "curation.models.RunStatus",
        "ReviewStatusEnum": "curation.models.ReviewStatus",
        "VerdictEnum": "curation.models.Verdict",
        "RoleEnum": "teams.models.Role",
    },
}

# Celery: jobs are database rows; messages carry only their ids, as JSON.
REDIS_URL = env_str("REDIS_URL")
BROKER_DIR = Path(env_str("CXR_BROKER_DIR", str(DATA_DIR / "broker")))
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 12 * 3600}
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Workers refresh a running job's heartbeat this often; a job silent for the timeout is
# requeued by the reaper that every worker runs every JOB_REAP_INTERVAL seconds.
JOB_HEARTBEAT_INTERVAL = env_int("CXR_JOB_HEARTBEAT_SECONDS", 10, minimum=1)
# Training progress reaches the job row at most this often (points in between go with the next).
JOB_PROGRESS_INTERVAL = env_int("CXR_JOB_PROGRESS_MS", 1000, minimum=0) / 1000
JOB_HEARTBEAT_TIMEOUT = env_int("CXR_JOB_HEARTBEAT_TIMEOUT", 90, minimum=2)
JOB_REAP_INTERVAL = env_int("CXR_JOB_REAP_SECONDS", 30, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # A 4xx (a 403 above all) is one line with its reason, never a traceback.
    "filters": {"client_errors_one_line": {"()": "lab.logs.ClientErrorsOneLine"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["client_errors_one_line"],
        }
    },
    "loggers": {
        "django.request": {"filters": ["client_errors_one_line"]},
        "axes": {"level": "WARNING"},  # failures and lockouts, not every successful login
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# Logins and API tokens (README, "Access"). django-axes counts failed logins in the database per
# (username, client address) pair: a pair past the limit gets 429 and the lockout page for
# LOCKOUT_MINUTES, on /accounts/login/ and the admin login alike, while other users behind the
# same address log in as before. Invalid API tokens are counted per address (teams/tokens.py).
# The client address is the socket's, or read from X-Forwarded-For behind PROXY_COUNT proxies.
AUTHENTICATION_BACKENDS = [
    "teams.logins.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PROXY_COUNT = env_int("CXR_PROXY_COUNT", 0, minimum=0)
LOCKOUT_MINUTES = env_int("CXR_LOCKOUT_MINUTES", 15, minimum=1)
TOKEN_FAILURE_LIMIT = env_int("CXR_TOKEN_FAILURE_LIMIT", 20, minimum=1)
AXES_FAILURE_LIMIT = env_int("CXR_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_COOLOFF_TIME = timedelta(minutes=LOCKOUT_MINUTES)
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # the wait shown is the wait there is
AXES_CLIENT_IP_CALLABLE = "teams.addresses.client_address"
AXES_LOCKOUT_CALLABLE = "teams.logins.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # failures are kept, successful logins are not
AXES_VERBOSE = False  # no banner on every manage.py command

# Production hardening: on by default whenever DEBUG is off.
SESSION_COOKIE_SECURE = not DEBUG and env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = not DEBUG and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = 0 if DEBUG else env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG and env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp) on every response: scripts, styles and everything else
# from this origin only, never inline and never eval'd. The viewer's image codecs are
# WebAssembly that its decode worker (a static file) compiles: 'wasm-unsafe-eval'. Images may
# also be blob: (the viewer's cursors) and data: (Swagger UI's icons).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'wasm-unsafe-eval'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# DRF's browsable API pages carry inline styles the policy refuses: /api/ answers JSON, and the
# interactive documentation is Swagger UI at /api/docs/.
REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = ["rest_framework.renderers.JSONRenderer"]
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
