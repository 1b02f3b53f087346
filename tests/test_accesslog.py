"""The image's access log, request IDs and JSON lines without Docker (django_asgi/accesslog.py,
logs.py, jsonlogs.py): what a request's exchange records, what a record becomes in JSON."""

import asyncio
import io
import json
import logging
import re
import sys

import pytest

from django_asgi import accesslog, config, jsonlogs, logs
from django_asgi.config import ConfigError


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Writes(io.StringIO):
    """stdout as the access log sees it, counting its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@pytest.fixture
def stdout(monkeypatch: pytest.MonkeyPatch) -> Writes:
    out = Writes()
    monkeypatch.setattr(accesslog.WRITER, "stream", out)
    return out


@pytest.fixture
def in_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "json")


def entries(stdout: Writes) -> list[dict]:
    """The JSON access entries written so far (anything still pending written first)."""
    accesslog.WRITER.flush()
    return [json.loads(line) for line in stdout.getvalue().splitlines()]


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


@pytest.mark.usefixtures("in_json")
def test_an_entry_per_request_with_the_exchange(stdout: Writes) -> None:
    sent = run(accesslog.with_request_ids(page, access_log=True), http_scope())
    (entry,) = entries(stdout)
    assert list(entry) == ["time", "level", "logger", "message", *accesslog.ACCESS_FIELDS]
    assert (entry["status"], entry["bytes"], entry["client"], entry["scheme"], entry["query"]) == (
        404,
        9,
        "203.0.113.9",
        "https",
        "q=1",
    )
    assert (entry["logger"], entry["level"], entry["message"]) == (
        "django_asgi.access",
        "info",
        "GET /page?q=1 HTTP/1.1 404",
    )
    assert (b"x-request-id", entry["request_id"].encode()) in sent[0]["headers"]


def test_the_text_entry_is_combined_log_like(stdout: Writes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "text")
    sent = run(accesslog.with_request_ids(page, access_log=True), http_scope())
    accesslog.WRITER.flush()
    (line,) = stdout.getvalue().splitlines()
    identifier = dict(sent[0]["headers"])[b"x-request-id"].decode()
    assert re.fullmatch(
        r'203\.0\.113\.9 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET /page\?q=1 HTTP/1\.1" 404 9 "-" '
        rf'"agent/1" \d+\.\d{{6}} {identifier}',
        line,
    ), line
    assert re.fullmatch(r"[0-9a-f]{32}", identifier)  # made here: none came with the request


@pytest.mark.usefixtures("in_json")
def test_entries_of_one_loop_turn_are_one_write(stdout: Writes) -> None:
    app = accesslog.with_request_ids(page, access_log=True)

    async def three_at_once() -> None:
        await asyncio.gather(*(app(http_scope(f"/{n}"), receive_nothing, ignore) for n in range(3)))
        await asyncio.sleep(0)  # the turn ends: the batch goes out

    asyncio.run(three_at_once())
    assert stdout.writes == 1 and [entry["path"] for entry in entries(stdout)] == ["/0", "/1", "/2"]
    accesslog.WRITER.add("outside any event loop")  # e.g. a thread of the app's own: written at once
    assert stdout.writes == 2 and stdout.getvalue().endswith("outside any event loop\n")


async def receive_nothing() -> dict:
    return {"type": "http.request", "body": b""}


async def ignore(message: dict) -> None:
    pass


def test_no_entry_with_the_access_log_off(stdout: Writes) -> None:
    sent = run(accesslog.with_request_ids(page, access_log=False), http_scope())
    assert entries(stdout) == [] and any(name == b"x-request-id" for name, _ in sent[0]["headers"])


@pytest.mark.parametrize(("given", "kept"), [(b"abc-123", True), (b"two words", False), (b"x" * 201, False)])
@pytest.mark.usefixtures("in_json")
def test_an_acceptable_incoming_id_is_kept(given: bytes, kept: bool, stdout: Writes) -> None:
    app = accesslog.with_request_ids(page, access_log=True, id_header="Fly-Request-Id")
    sent = run(app, http_scope(headers=[(b"fly-request-id", given)]))
    returned = dict(sent[0]["headers"])[b"fly-request-id"]
    assert (returned == given) is kept and len(returned) > 0
    assert [entry["request_id"] for entry in entries(stdout)] == [returned.decode()]


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


@pytest.mark.usefixtures("in_json")
def test_a_failing_app_is_logged_as_500(stdout: Writes) -> None:
    async def failing(scope: dict, receive: object, send: object) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run(accesslog.with_request_ids(failing, access_log=True), http_scope())
    assert [entry["status"] for entry in entries(stdout)] == [500]


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
