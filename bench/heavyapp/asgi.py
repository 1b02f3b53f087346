"""The standard asgi.py (as `django-admin startproject` writes it), which the bare server
commands of the cold-start benchmark need: `wagtail start` makes only wsgi.py."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings.production")

application = get_asgi_application()
