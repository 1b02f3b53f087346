"""Settings of the notes project, a Django project deployed on django-asgi (Fly.io or any
container platform). Everything that differs between deployments comes from the
environment; fly.toml sets the public part, `fly secrets set` the rest."""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = os.environ.get("DJANGO_DEBUG", "0").lower() in ("1", "true", "yes", "on")
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is not set (fly secrets set DJANGO_SECRET_KEY=...)")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
# Behind Fly's proxy (FORWARDED_ALLOW_IPS in fly.toml makes the server trust its headers)
# the request's scheme is the client's: https.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HTTPS only, as Django's deployment checks ask (the image runs them at every start, and
# this project starts with none to report). Off with DEBUG, for examples/compose's plain
# http://127.0.0.1:8000.
HTTPS_ONLY = not DEBUG
SECURE_SSL_REDIRECT = HTTPS_ONLY
# The platform's health checks (fly.toml, Docker's HEALTHCHECK) reach the machine over
# plain HTTP: a redirect would pass for health.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS_ONLY
# Browsers remember for a year to use HTTPS only, on every subdomain too; the preload flag
# alone puts nobody on the browsers' list (that is hstspreload.org's form).
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if HTTPS_ONLY else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = HTTPS_ONLY

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "notes",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "config.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# PostgreSQL on Fly (`fly postgres attach` sets DATABASE_URL); SQLite in /tmp otherwise.
DATABASES = {"default": dj_database_url.config(default="sqlite:////tmp/notes.sqlite3", conn_max_age=0)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Collected at build time (Dockerfile) into /app/staticfiles, served by the image with a
# year-long cache for the hashed names ManifestStaticFilesStorage writes.
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True
