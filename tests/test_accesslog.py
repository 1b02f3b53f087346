"""The image's access log, request IDs and JSON lines without Docker (django_asgi/accesslog.py,
logs.py, jsonlogs.py): what a request's exchange records, what a record becomes in JSON."""

import asyncio
import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from django_asgi import accesslog, config, jsonlogs, logs
from django_asgi.config import ConfigError


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access_records() -> Iterator[list[logging.LogRecord]]:
    handler = Collected()
    logger = logging.getLogger(accesslog.ACCESS_LOGGER)
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


def http_scope(path: str = "/page", headers: list[tuple[bytes, bytes]] | None = None) -> dict:
    return {
        "type": "http", "method": "GET", "path": path, "query_string": b"q=1", "http_version": "1.1",
        "scheme": "https", "client": ("203.0.113.9", 40000), "headers": headers or [(b"user-agent", b"agent/1")],
    }  # fmt: skip


async def page(scope: dict, receive: object, send: object) -> None:
    logging.getLogger("project").warning("inside the view")
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"not here", "more_body": True})
    await send({"type": "http.response.body", "body": b"!"})


def run(app: object, scope: dict) -> list[dict]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))  # type: ignore[operator]
    return sent


def test_an_entry_per_request_with_the_exchange(access_records: list[logging.LogRecord]) -> None:
    sent = run(accesslog.with_request_ids(page, access_log=True), http_scope())
    (record,) = access_records
    assert (record.status, record.bytes, record.client, record.scheme, record.query) == (
        404,
        9,
        "203.0.113.9",
        "https",
        "q=1",
    )
    assert record.getMessage().startswith("203.0.113.9 - - [")
    assert '"GET /page?q=1 HTTP/1.1" 404 9 "-" "agent/1" ' in record.getMessage()
    assert (b"x-request-id", record.request_id.encode()) in sent[0]["headers"]
    assert all(hasattr(record, key) for key in accesslog.ACCESS_FIELDS)


def test_no_entry_with_the_access_log_off(access_records: list[logging.LogRecord]) -> None:
    sent = run(accesslog.with_request_ids(page, access_log=False), http_scope())
    assert access_records == [] and any(name == b"x-request-id" for name, _ in sent[0]["headers"])


@pytest.mark.parametrize(("given", "kept"), [(b"abc-123", True), (b"two words", False), (b"x" * 201, False)])
def test_an_acceptable_incoming_id_is_kept(given: bytes, kept: bool, access_records: list[logging.LogRecord]) -> None:
    app = accesslog.with_request_ids(page, access_log=True, id_header="Fly-Request-Id")
    sent = run(app, http_scope(headers=[(b"fly-request-id", given)]))
    returned = dict(sent[0]["headers"])[b"fly-request-id"]
    assert (returned == given) is kept and len(returned) > 0


def test_records_made_during_the_request_carry_its_id() -> None:
    """In JSON, from the context of the log call; in text, through RequestIdFilter."""
    handler = Collected()
    lines = io.StringIO()
    text = logging.StreamHandler(lines)
    text.addFilter(logs.RequestIdFilter())
    text.setFormatter(logging.Formatter("%(request_id)s %(message)s"))
    formatted: list[str] = []
    handler.emit = lambda record: formatted.append(logs.JsonFormatter().format(record))  # type: ignore[method-assign]
    project = logging.getLogger("project")
    project.addHandler(handler)
    project.addHandler(text)
    try:
        run(accesslog.with_request_ids(page, access_log=False), http_scope(headers=[(b"x-request-id", b"req-7")]))
        project.warning("after the request", extra={"request_id": "the project's own"})
    finally:
        project.removeHandler(handler)
        project.removeHandler(text)
    assert [json.loads(line)["request_id"] for line in formatted] == ["req-7", "the project's own"]
    assert lines.getvalue().splitlines() == ["req-7 inside the view", "the project's own after the request"]


def test_a_failing_app_is_logged_as_500(access_records: list[logging.LogRecord]) -> None:
    async def failing(scope: dict, receive: object, send: object) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run(accesslog.with_request_ids(failing, access_log=True), http_scope())
    assert [record.status for record in access_records] == [500]


def test_a_record_in_json_is_one_object_with_its_traceback() -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        record = logging.getLogger("x").makeRecord("x", logging.ERROR, "f", 1, "failed %s", ("here",), sys.exc_info())
    record.request_id = "r1"
    record.view = "v"
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    fields = json.loads(line)
    assert (fields["level"], fields["logger"], fields["message"]) == ("error", "x", "failed here")
    assert fields["request_id"] == "r1" and fields["view"] == "v"
    assert "ValueError: bad value" in fields["exception"] and fields["time"].endswith("Z")


def test_raw_lines_become_objects_and_objects_pass() -> None:
    out = io.StringIO()
    stream = jsonlogs.JsonLines(out, "stderr")
    stream.write('plain line\n{"already": "json"}\npart')
    stream.write("ial\n")
    first, second, third = (json.loads(line) for line in out.getvalue().splitlines())
    assert (first["logger"], first["level"], first["message"]) == ("stderr", "error", "plain line")
    assert second == {"already": "json"} and third["message"] == "partial"


def test_said_lines_in_json_keep_their_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "json")
    out = io.StringIO()
    logs.say("warning: DEBUG is on", stream=out)
    logs.say("imported x", stream=out)
    levels = [(json.loads(line)["level"], json.loads(line)["logger"]) for line in out.getvalue().splitlines()]
    assert levels == [("warning", "django_asgi"), ("info", "django_asgi")]
    monkeypatch.setenv("LOG_FORMAT", "text")
    out = io.StringIO()
    logs.say("imported x", stream=out)
    assert out.getvalue() == "django-asgi: imported x\n"


@pytest.mark.parametrize(("raw", "read"), [("", "text"), ("JSON", "json"), (" text ", "text")])
def test_log_format_values(raw: str, read: str) -> None:
    assert config.read_log_format({"LOG_FORMAT": raw}) == read


def test_bad_log_format_and_header_are_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^LOG_FORMAT='xml' is not a log format"):
        config.read_log_format({"LOG_FORMAT": "xml"})
    with pytest.raises(ConfigError, match=r"^REQUEST_ID_HEADER='a b' is not an HTTP header name"):
        config.read_request_id_header({"REQUEST_ID_HEADER": "a b"})
    assert config.read_request_id_header({}) == "X-Request-ID"
