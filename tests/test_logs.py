"""One log on every server: with LOG_FORMAT=json every line on stdout and stderr is one JSON
object through a start, a 200, a 404, a 500 with its traceback, a WebSocket session and a
`docker stop`; the image's own access entries have the same keys on all four servers and the
same text line; the request ID flows from a request's header into its access entry, into a
log call made by its view, and back in the response."""

import asyncio
import json
import re
from dataclasses import dataclass

import pytest
from harness import ECHO, LOCKED_DOWN, Container, docker, serving
from websockets.asyncio.client import connect

pytestmark = pytest.mark.usefixtures("family")

FIXED_KEYS = {"time", "level", "logger", "message"}
ACCESS_KEYS = FIXED_KEYS | {
    "client", "method", "path", "query", "protocol", "status", "bytes", "referer", "user_agent", "duration",
    "request_id", "scheme", "type",
}  # fmt: skip
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
REQUEST_ID = "test-request-0042"
# The text access line: client - - [time] "METHOD target PROTOCOL" status bytes "referer" "user agent" seconds id
TEXT_ACCESS_LINE = re.compile(
    r'^(?P<client>\S+) - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] "(?P<method>[A-Z]+) (?P<target>\S+) HTTP/[\d.]+" '
    r'(?P<status>\d{3}) (?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)" \d+\.\d{6} (?P<id>\S+)$'
)
PATHS = {"/": 200, "/nope": 404, "/sync/failure": 500, "/logged": 200}


@dataclass(frozen=True)
class Logs:
    stdout: list[str]
    stderr: list[str]

    def records(self) -> list[dict]:
        return [parsed(line) for line in self.stdout + self.stderr]

    def access(self) -> dict[str, dict]:
        """The access entries by path, less the readiness polls of /healthz."""
        entries = [record for record in self.records() if record["logger"] == "django_asgi.access"]
        return {entry["path"]: entry for entry in entries if entry["path"] != "/healthz"}


def parsed(line: str) -> dict:
    try:
        record = json.loads(line)
    except ValueError:
        pytest.fail(f"not a JSON line: {line!r}", pytrace=False)
    assert isinstance(record, dict), line
    return record


async def websocket_session(container: Container) -> None:
    async with connect(container.websocket_url(ECHO), open_timeout=20) as websocket:
        await websocket.send("hello")
        assert await asyncio.wait_for(websocket.recv(), 20) == "hello"


def exercised(server: str, *env: str) -> Logs:
    """The sample on `server`, asked every kind of request, then stopped as docker stops it."""
    with serving(server, *LOCKED_DOWN, "--env=ACCESS_LOG=1", *env) as container:
        for path, status in PATHS.items():
            response = container.get(path, headers={"X-Request-ID": REQUEST_ID} if path == "/logged" else {})
            assert response.status_code == status, response.text[:500]
        asyncio.run(websocket_session(container))
        docker("stop", container.id, timeout=60)
        logs = Logs(container.stdout().splitlines(), container.stderr().splitlines())
    return logs


@pytest.fixture(scope="module")
def json_logs(server: str) -> Logs:
    return exercised(server, "--env=LOG_FORMAT=json")


def test_every_line_is_one_json_object(json_logs: Logs) -> None:
    assert json_logs.stdout and json_logs.stderr
    for line in json_logs.stdout + json_logs.stderr:
        record = parsed(line)
        assert record.keys() >= FIXED_KEYS, line
        assert RFC3339_UTC.match(record["time"]), line
        assert record["level"] in ("debug", "info", "warning", "error", "critical"), line


def test_the_start_the_server_and_the_stop_are_in_it(json_logs: Logs) -> None:
    """The launcher's lines, the server's own (start, workers) and its shutdown: all JSON."""
    loggers = {record["logger"] for record in json_logs.records()}
    assert "django_asgi" in loggers
    messages = [record["message"] for record in json_logs.records() if record["logger"] == "django_asgi"]
    assert any(" serving hello_django.asgi:application on " in message for message in messages), messages
    assert len(loggers - {"django_asgi", "django_asgi.access", "django.request", "hello.views"}) >= 1, loggers


def test_a_traceback_is_one_object(json_logs: Logs) -> None:
    failures = [r for r in json_logs.records() if r["logger"] == "django.request" and r["level"] == "error"]
    assert len(failures) == 1, failures
    assert "RuntimeError: a sync view that fails on purpose" in failures[0]["exception"]
    assert failures[0]["message"].startswith("Internal Server Error: /sync/failure")


def test_access_entries_have_the_same_keys_on_every_server(json_logs: Logs) -> None:
    entries = json_logs.access()
    assert set(entries) == {*PATHS, "/ws/echo"}, entries
    for path, entry in entries.items():
        assert set(entry) == ACCESS_KEYS, entry
        assert entry["status"] == PATHS.get(path, 101), entry
        assert entry["client"] == "127.0.0.1" or re.match(r"^[\d.:a-f]+$", entry["client"]), entry
    websocket = entries["/ws/echo"]
    assert websocket["type"] == "websocket" and websocket["scheme"] == "ws" and websocket["bytes"] == len("hello")
    assert entries["/"]["type"] == "http" and entries["/"]["method"] == "GET" and entries["/"]["bytes"] > 0


def test_the_request_id_flows_into_the_entry_and_the_views_log_call(json_logs: Logs) -> None:
    logged = [r for r in json_logs.records() if r["logger"] == "hello.views"]
    assert [(r["message"], r["request_id"], r["view"]) for r in logged] == [
        ("the logged view was asked", REQUEST_ID, "logged")
    ]
    access = {path: entry["request_id"] for path, entry in json_logs.access().items()}
    assert access["/logged"] == REQUEST_ID
    made = [identifier for path, identifier in access.items() if path != "/logged"]
    assert all(re.fullmatch(r"[0-9a-f]{32}", identifier) for identifier in made) and len(set(made)) == len(made)


def test_the_request_id_comes_back_and_its_header_can_be_named(server: str) -> None:
    with serving(server, "--env=REQUEST_ID_HEADER=Fly-Request-Id") as container:
        assert container.get("/", headers={"Fly-Request-Id": "01JFLY"}).headers["fly-request-id"] == "01JFLY"
        made = container.get("/", headers={"Fly-Request-Id": "not acceptable"}).headers["fly-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", made)
        assert "x-request-id" not in container.get("/").headers


def test_the_text_access_line_has_the_same_shape_on_every_server(server: str) -> None:
    logs = exercised(server)
    lines = [line for line in logs.stdout if TEXT_ACCESS_LINE.match(line)]
    matches = [TEXT_ACCESS_LINE.match(line) for line in lines]
    seen = {match.group("target"): match for match in matches if match and match.group("target") != "/healthz"}
    assert set(seen) == {*PATHS, "/ws/echo"}, logs.stdout
    assert seen["/logged"].group("id") == REQUEST_ID
    assert seen["/nope"].group("status") == "404" and seen["/ws/echo"].group("status") == "101"
    assert all(match.group("agent").startswith("python-httpx/") for path, match in seen.items() if path != "/ws/echo")
    assert not [line for line in logs.stdout if line.startswith("{")], "text is the default"


def test_the_entry_names_the_client_and_scheme_the_proxy_gave(server: str) -> None:
    """Behind a trusted proxy (FORWARDED_ALLOW_IPS), the entry has the client and scheme of
    X-Forwarded-For and -Proto, as the server's proxy handling made them for Django."""
    forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    options = ("--env=ACCESS_LOG=1", "--env=LOG_FORMAT=json", "--env=FORWARDED_ALLOW_IPS=*")
    with serving(server, *options) as container:
        assert container.get("/", headers=forwarded).status_code == 200
        docker("stop", container.id, timeout=60)
        entry = Logs(container.stdout().splitlines(), []).access()["/"]
    assert (entry["client"], entry["scheme"]) == ("203.0.113.7", "https"), entry
