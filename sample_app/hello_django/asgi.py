"""ASGI config for hello_django: the module:attribute every server of the family loads.
Django serves HTTP; WebSocket connections go to the echo route in websocket.py; around both,
a request context like Sentry's or OpenTelemetry's (tracing.py)."""

import os

from django.core.asgi import get_asgi_application

from .tracing import with_trace_context
from .websocket import route_websockets

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hello_django.settings")

application = with_trace_context(route_websockets(get_asgi_application()))

if os.environ.get("DJANGO_QUERY_AT_IMPORT"):  # tests/test_postgres.py: a project that queries as it imports
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
