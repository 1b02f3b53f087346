"""Settings for hello_django, the sample project every image of the family serves.

Everything deployment-specific comes from the environment, with defaults that are safe to
run anywhere: DEBUG off, only local host names allowed, a secret key nobody else knows.
"""

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# No sessions or signed data in this project, so a per-process random key is safe; a real
# project must set DJANGO_SECRET_KEY.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = os.environ.get("DJANGO_DEBUG", "0").lower() in ("1", "true", "yes", "on")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = ["django.contrib.staticfiles", "hello"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
if os.environ.get("DJANGO_ASYNC_ONLY_MIDDLEWARE") == "1":
    MIDDLEWARE.append("hello.middleware.mark_async_only")
# Production-grade, so that Django's deployment checks (which the image runs at every start)
# find nothing to report: HSTS (sent on HTTPS responses only). The tests speak plain HTTP to
# it, so the redirect to HTTPS that a proxy in front would do is silenced, not turned on; and
# with no sessions, logins or forms there is nothing for CSRF protection to protect.
SECURE_HSTS_SECONDS = 365 * 24 * 3600
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = True
SILENCED_SYSTEM_CHECKS = ["security.W008", "security.W003"]
ROOT_URLCONF = "hello_django.urls"
ASGI_APPLICATION = "hello_django.asgi.application"
WSGI_APPLICATION = "hello_django.wsgi.application"

# /tmp is writable even on a read-only root filesystem (docker run --read-only --tmpfs /tmp).
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB_PATH", "/tmp/hello_django.sqlite3"),
        # persistent connections, when a test asks for them
        "CONN_MAX_AGE": int(os.environ.get("DJANGO_CONN_MAX_AGE", "0")),
    }
}
if os.environ.get("DJANGO_DB_HOST"):  # PostgreSQL, for tests/test_postgres.py
    DATABASES["default"] = {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ["DJANGO_DB_HOST"],
        "NAME": os.environ.get("DJANGO_DB_NAME", "postgres"),
        "USER": "postgres",
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "OPTIONS": {"application_name": "hello_django"},
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "static/"
STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT", "/tmp/static")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True

# Django's own messages to stderr; the server's loggers are left to the server.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django": {
            "handlers": ["console"],
            "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING"),
            "propagate": False,
        },
        "hello": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
