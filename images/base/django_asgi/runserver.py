"""Settings for RELOAD=1 on daphne: the user's settings, with daphne's runserver on top.

Daphne has no reloader of its own; Django's `runserver` reloads on code and template
changes and, with "daphne" first in INSTALLED_APPS, serves ASGI through daphne. The
launcher names the user's settings module in USER_SETTINGS_VARIABLE.
"""

import importlib
import os

from .config import USER_SETTINGS_VARIABLE

_user_settings = importlib.import_module(os.environ[USER_SETTINGS_VARIABLE])
globals().update({name: value for name, value in vars(_user_settings).items() if name.isupper()})

INSTALLED_APPS = ["daphne", *(app for app in _user_settings.INSTALLED_APPS if app != "daphne")]
# The same wrapped application the servers load (lifespan, ROOT_PATH, proxies).
ASGI_APPLICATION = "django_asgi.app.application"
