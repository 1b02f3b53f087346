"""Run at every interpreter start in the image's virtualenv (django_asgi.pth): with
LOG_FORMAT=json, this process's output becomes JSON lines (django_asgi.jsonlogs) before any
server or project configures its logging. Otherwise it costs one environment lookup."""

import os

if os.environ.get("LOG_FORMAT", "").strip().lower() == "json":
    from django_asgi import jsonlogs

    jsonlogs.install()
