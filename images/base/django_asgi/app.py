"""The ASGI application every server is given: the user's application, wrapped alike.

The launcher has already checked the target, put its root on PYTHONPATH and described the
wrapping in WRAPPING_VARIABLE; importing this module builds it (each worker imports it).
Before the import, Django's get_asgi_application() is made to build the image's handler
(django_asgi.handler: sync views on SYNC_THREADS threads), so that the project's asgi.py
wraps it as it wraps Django's. Innermost first: the user's app, the server's own
middleware (proxy headers), static files, ROOT_PATH, the lifespan answerer, and the image's
health route outermost.
"""

import importlib
import json
import os

from . import sync_threads
from .appmodule import load_urlconf
from .config import TARGET_VARIABLE, WRAPPING_VARIABLE
from .wrappers import ASGIApp, with_health, with_lifespan, with_root_path, with_static_files


def load(dotted: str) -> object:
    module, _, attribute = dotted.partition(":")
    return getattr(importlib.import_module(module), attribute)


def build() -> ASGIApp:
    wrapping = json.loads(os.environ.get(WRAPPING_VARIABLE, "{}"))
    sync_threads.install(wrapping.get("sync_threads", 0))
    app = load(os.environ[TARGET_VARIABLE])
    load_urlconf()
    for factory, kwargs in wrapping.get("middleware", []):
        app = load(factory)(app, **kwargs)
    if wrapping.get("static"):
        app = with_static_files(app, **wrapping["static"])
    if wrapping.get("root_path"):
        app = with_root_path(app, wrapping["root_path"])
    return with_health(with_lifespan(app), wrapping.get("healthcheck_path", ""))


application = build()
