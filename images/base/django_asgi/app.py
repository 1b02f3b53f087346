"""The ASGI application every server is given: the user's application, wrapped alike
(django_asgi.building).

The launcher has checked the settings, put the app's root on PYTHONPATH and described the
target and its wrapping in TARGET_VARIABLE and WRAPPING_VARIABLE; importing this module
imports the project and builds the app. With PRELOAD (the default) that happens once, in
the server's main process (gunicorn's --preload, django_asgi.granian,
django_asgi.supervisor), and the workers are forked with it. A project that fails to import
ends the server there: one line on stderr and exit status 2, before any worker starts. The
process that builds the app says what it found (the import's time, the deployment checks,
static files, notices) unless the launcher said it already, and so does DJANGO_CHECK_DEPLOY=fail.
"""

import json
import os

from .building import build
from .config import TARGET_VARIABLE, WRAPPING_VARIABLE, AppTarget, ConfigError
from .logs import say
from .wrappers import ASGIApp

EXIT_BROKEN_APP = 2  # as for the launcher's bad settings: the container cannot serve at all


def from_environment() -> ASGIApp:
    """The app the launcher described; a project that cannot be imported ends the process."""
    wrapping = json.loads(os.environ.get(WRAPPING_VARIABLE, "{}"))
    target = AppTarget.from_json(os.environ[TARGET_VARIABLE])
    examine = wrapping.get("say_findings", True)
    try:
        app, lines = build(target, wrapping, examine=examine)
    except ConfigError as error:
        for line in error.before:
            say(line)
        say(f"error: {error}")
        raise SystemExit(EXIT_BROKEN_APP) from None
    if examine:
        for line in lines:
            say(line)
    return app


if os.environ.get("ASGI_SERVER") == "granian":
    from .going_away import granian_workers_close_websockets_first

    granian_workers_close_websockets_first()
application = from_environment()
