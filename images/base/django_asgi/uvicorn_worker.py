"""The uvicorn image's gunicorn worker: the maintained uvicorn_worker.UvicornWorker, with
uvloop, and h11 as the HTTP parser rather than httptools. httptools puts no limit on the
size of request headers (a 200 KB header is read and served); h11 answers anything over
16 KB with a 4xx, as every other server of the family does. Only in the uvicorn image."""

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker


class UvloopH11Worker(UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {"loop": "uvloop", "http": "h11"}
