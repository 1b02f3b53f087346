"""Django's standard ASGI application, for a project that has no asgi.py of its own.

`django-admin startproject` has written an asgi.py only since Django 3.0, and many projects
still have only wsgi.py. Their asgi.py would be these lines; the launcher has set
DJANGO_SETTINGS_MODULE to the settings module it found (see django_asgi.appmodule).
"""

from django.core.asgi import get_asgi_application

application = get_asgi_application()
