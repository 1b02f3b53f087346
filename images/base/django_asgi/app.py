"""The ASGI application every server is given: the user's application, lifespan answered.

The launcher has already checked the target, put its root on PYTHONPATH and named it in
TARGET_VARIABLE; importing this module loads it (the server imports it in each worker).
"""

import importlib
import os

from .config import TARGET_VARIABLE
from .lifespan import ASGIApp, with_lifespan


def load_target() -> ASGIApp:
    module, _, attribute = os.environ[TARGET_VARIABLE].partition(":")
    return getattr(importlib.import_module(module), attribute)


application = with_lifespan(load_target())
