"""Static files, served by the image on every server (SERVE_STATIC, on by default).

Django does not serve static files outside `runserver`. The image does, in the app's own
process, so a project needs no web server or CDN in front to look right:

- collected: STATIC_ROOT (filled by `collectstatic` at build time, or DJANGO_COLLECTSTATIC=1)
  at STATIC_URL through ServeStatic (the ASGI fork of WhiteNoise): files read once, at the
  first request for one,
  names with Django's 12-hex content hash (ManifestStaticFilesStorage) cached for ten years
  as `immutable`, other names for 60 s, gzip/brotli twins when collectstatic made them.
- finders: with DEBUG on, Django's own ASGIStaticFilesHandler serves each app's static/
  directory as it is on disk, as `runserver` does, for the bind-mounted development loop.

Granian's own static mount (`--static-path-mount`) is not used: it sends one expiry for
every file, so hashed names would lose their year or unhashed names would go stale after a
deploy (measured against ServeStatic in docs/benchmarks.md; SERVER_ARGS can still add it).
"""

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

UNHASHED_MAX_AGE = 60  # seconds a file without a content hash in its name may be cached


@dataclass(frozen=True)
class StaticFiles:
    """How and where the image serves the project's static files."""

    mode: str  # "collected" (STATIC_ROOT through ServeStatic) or "finders" (DEBUG)
    prefix: str  # the URL path, /static/
    root: str = ""  # STATIC_ROOT, for "collected"

    def describe(self) -> str:
        return f"{self.prefix} from {self.root}" if self.mode == "collected" else f"{self.prefix} from the apps (DEBUG)"


class StaticSettings(Protocol):
    """The contract settings static files depend on (config.Settings has them)."""

    serve_static: bool
    collectstatic: bool  # collectstatic runs before start: a missing STATIC_ROOT is no problem
    root_path: str


@dataclass(frozen=True)
class StaticOptions:
    """StaticSettings as the launcher hands them to the server's process (WRAPPING_VARIABLE)."""

    serve_static: bool = True
    collectstatic: bool = False
    root_path: str = ""

    @classmethod
    def of(cls, settings: StaticSettings) -> "StaticOptions":
        return cls(settings.serve_static, settings.collectstatic, settings.root_path)


def plan(settings: StaticSettings, django_settings: Any) -> tuple[StaticFiles | None, list[str]]:
    """What to serve, and notices for a project that asks for static files the image cannot
    find, from Django's settings (configured_settings(), once the app's import set them)."""
    if not settings.serve_static or django_settings is None:
        return None, []
    if "django.contrib.staticfiles" not in django_settings.INSTALLED_APPS:
        return None, []
    url = django_settings.STATIC_URL or ""
    if not url or "://" in url or url.startswith("//"):
        return None, []  # a CDN or another host serves them
    prefix = "/" + (url if url.startswith("/") else f"{settings.root_path}/{url}").strip("/") + "/"
    if django_settings.DEBUG:
        return StaticFiles("finders", prefix), []
    root = django_settings.STATIC_ROOT
    if not root:
        return None, ["STATIC_ROOT is not set in the Django settings: static files are not served"]
    if not Path(root).is_dir() and not settings.collectstatic:
        return None, [
            f"STATIC_ROOT {root} does not exist: run collectstatic when building the image "
            "(or set DJANGO_COLLECTSTATIC=1); static files are not served"
        ]
    return StaticFiles("collected", prefix, str(root)), []


def media_notices(django_settings: Any) -> list[str]:
    """Uploads saved under MEDIA_ROOT fail on a read-only root filesystem with "Read-only
    file system" at the first upload; say so at start, with what to do. The image does not
    serve MEDIA_URL: see the README's "Media files"."""
    if django_settings is None or not django_settings.MEDIA_ROOT:
        return []
    root = Path(django_settings.MEDIA_ROOT)
    existing = next(path for path in (root, *root.parents) if path.exists())  # "/" at least
    if os.access(existing, os.W_OK):
        return []
    return [
        f"MEDIA_ROOT {root} is not writable by uid {os.getuid()}: uploads will fail; mount a volume there "
        f"(docker run --volume media:{root})"
    ]


def configured_settings() -> Any:
    """django.conf.settings once configured, else None (not a Django app)."""
    if "django" not in sys.modules:
        return None
    from django.conf import settings

    return settings if settings.configured else None
