"""Sync views on the image's threads (SYNC_THREADS, django_asgi/handler.py) on every server:
the same requests through that path and through Django's own ASGI handler (SYNC_THREADS=0)
get the same answers, behind a proxy under ROOT_PATH and over TLS (HTTP/1.1 and HTTP/2);
the path taken, its thread bound, the signals and the database connections are checked in
the sample's worker itself (sample_app/hello/sync_views.py)."""

import hashlib
import random
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from harness import Container, eventually, serving
from tls import MOUNT, Certificates

LANE_THREAD = "django-asgi-sync-"
THREADS = 2  # the compared containers' SYNC_THREADS: small, so that its bound shows
PREFIX = "/prefix"
# one worker, so that the counters a view reports are the whole container's
COMMON_ENV = {"WEB_CONCURRENCY": "1", "DJANGO_CONN_MAX_AGE": "60"}
SETUPS = {
    "proxied": {"FORWARDED_ALLOW_IPS": "*", "ROOT_PATH": PREFIX},
    "tls": {"TLS_CERTFILE": f"{MOUNT}/cert.pem", "TLS_KEYFILE": f"{MOUNT}/key.pem"},
}
FORWARDED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
SEED = random.Random(14)
SMALL_FILE = SEED.randbytes(300_000)
LARGE_FILE = SEED.randbytes(3_000_000)  # above FILE_UPLOAD_MAX_MEMORY_SIZE: written to /tmp
RAW_BODY = SEED.randbytes(1_000_000)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    status: int
    options: dict[str, Any] = field(default_factory=dict)


REQUESTS = {
    "echo": Request(
        "GET",
        "/sync/echo?q=1&word=caf%C3%A9",
        200,
        {"headers": {"X-Custom": "yes", "X-Trace-Id": "trace-14", "Cookie": "theme=dark; lang=en"}},
    ),
    "head": Request("HEAD", "/sync/echo", 200),
    "multipart upload": Request(
        "POST", "/sync/upload", 200, {"data": {"title": "a file"}, "files": {"doc": ("doc.bin", SMALL_FILE)}}
    ),
    "large upload": Request("POST", "/sync/upload", 200, {"files": {"doc": ("large.bin", LARGE_FILE)}}),
    "raw body": Request(
        "POST", "/sync/upload", 200, {"content": RAW_BODY, "headers": {"Content-Type": "application/octet-stream"}}
    ),
    "form": Request("POST", "/sync/upload?x=1", 200, {"data": {"name": "Ada", "city": "London"}}),
    "streaming": Request("GET", "/sync/stream", 200),
    "file": Request("GET", "/sync/file", 200),
    "failure": Request("GET", "/sync/failure", 500),
    "not found": Request("GET", "/sync/nowhere", 404),
    "async view": Request("GET", "/async/echo?q=2", 200, {"headers": {"X-Trace-Id": "trace-async"}}),
}


@dataclass(frozen=True)
class Pair:
    """The same sample project, on the image's threads and on Django's own path."""

    lanes: Container
    django: Container
    setup: str


@pytest.fixture(scope="module", params=sorted(SETUPS))
def pair(family: None, server: str, request: pytest.FixtureRequest, certificates: Certificates) -> Iterator[Pair]:
    setup = request.param
    env = {**COMMON_ENV, **SETUPS[setup]}
    options = [f"--env={name}={value}" for name, value in env.items()]
    tls: dict[str, Any] = {}
    if setup == "tls":
        options.append(f"--volume={certificates.directory}:{MOUNT}:ro")
        tls = {"tls": certificates.client_context()}
    with (
        serving(server, *options, f"--env=SYNC_THREADS={THREADS}", **tls) as lanes,
        serving(server, *options, "--env=SYNC_THREADS=0", **tls) as django,
    ):
        yield Pair(lanes, django, setup)


def path_for(pair: Pair, path: str) -> str:
    return PREFIX + path if pair.setup == "proxied" else path


def send(container: Container, pair: Pair, request: Request) -> httpx.Response:
    headers = {**(FORWARDED if pair.setup == "proxied" else {}), **request.options.get("headers", {})}
    options = {**request.options, "headers": headers}
    with httpx.Client(base_url=container.url, verify=container.tls or True, timeout=20) as client:
        return client.request(request.method, path_for(pair, request.path), **options)


def without_expiry(header_value: str) -> str:
    """A Set-Cookie value less its expiry time, which follows the clock (max_age)."""
    return re.sub(r"expires=[^;]+; ", "", header_value, flags=re.IGNORECASE)


def comparable(response: httpx.Response, container: Container) -> dict[str, Any]:
    """What a client sees, less what differs by nature: the date, the request ID the image
    made, a cookie's expiry time, the port each container is published on."""
    headers = sorted(
        (name, without_expiry(value))
        for name, value in response.headers.multi_items()
        if name not in ("date", "x-request-id")
    )
    body = response.content.replace(str(container.port).encode(), b"PORT")
    return {"status": response.status_code, "headers": headers, "body": body}


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_both_paths_answer_alike(pair: Pair, name: str) -> None:
    request = REQUESTS[name]
    on_lanes = send(pair.lanes, pair, request)
    on_django = send(pair.django, pair, request)
    assert on_lanes.status_code == request.status, on_lanes.text[:2000]
    assert comparable(on_lanes, pair.lanes) == comparable(on_django, pair.django)


def test_what_the_views_see_is_what_was_sent(pair: Pair) -> None:
    """The compared answers are the right ones, not two alike wrong ones."""
    echo = send(pair.lanes, pair, REQUESTS["echo"]).json()
    assert echo["query"] == {"q": "1", "word": "café"}
    assert echo["cookies"] == {"theme": "dark", "lang": "en"}
    assert echo["custom_header"] == "yes" and echo["trace"] == "trace-14"
    if pair.setup == "proxied":
        assert (echo["client"], echo["scheme"], echo["script_name"]) == ("203.0.113.9", "https", PREFIX)
        assert echo["path"] == f"{PREFIX}/sync/echo" and echo["path_info"] == "/sync/echo"
    else:
        assert (echo["scheme"], echo["secure"]) == ("https", True)
    for name, sent in (("multipart upload", SMALL_FILE), ("large upload", LARGE_FILE)):
        doc = send(pair.lanes, pair, REQUESTS[name]).json()["files"]["doc"]
        assert (doc["size"], doc["sha256"]) == (len(sent), hashlib.sha256(sent).hexdigest())
    raw = send(pair.lanes, pair, REQUESTS["raw body"]).json()
    assert raw["raw_sha256"] == hashlib.sha256(RAW_BODY).hexdigest()
    assert send(pair.lanes, pair, REQUESTS["streaming"]).text == "".join(f"line {n}\n" for n in range(5))


def curl_http2(container: Container, pair: Pair, certificates: Certificates, path: str) -> str:
    """The response's head and body over HTTP/2 (ALPN), less the date, the request ID and a
    cookie's expiry."""
    result = subprocess.run(
        ["curl", "--silent", "--show-error", "--include", "--http2", "--cacert", str(certificates.ca_file),
         "--header", "X-Trace-Id: trace-h2", f"{container.url}{path}"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    lines = [
        without_expiry(line)
        for line in result.stdout.splitlines()
        if not line.lower().startswith(("date:", "x-request-id:"))
    ]
    return "\n".join(lines).replace(str(container.port), "PORT")


@pytest.mark.parametrize("path", ["/sync/echo", "/sync/stream", "/sync/failure"])
def test_both_paths_answer_alike_over_http2(pair: Pair, certificates: Certificates, path: str) -> None:
    if pair.setup != "tls":
        pytest.skip("HTTP/2 by ALPN needs TLS")
    on_lanes = curl_http2(pair.lanes, pair, certificates, path)
    assert on_lanes == curl_http2(pair.django, pair, certificates, path)


def get_json(container: Container, pair: Pair, path: str) -> dict[str, Any]:
    response = send(container, pair, Request("GET", path, 200))
    assert response.status_code == 200, response.text[:2000]
    return response.json()


def test_sync_views_run_on_the_image_threads_async_views_on_the_loop(pair: Pair) -> None:
    assert get_json(pair.lanes, pair, "/sync/busy")["thread"].startswith(LANE_THREAD)
    assert not get_json(pair.django, pair, "/sync/busy")["thread"].startswith(LANE_THREAD)
    assert not get_json(pair.lanes, pair, "/async/echo")["thread"].startswith(LANE_THREAD)


def test_sync_requests_in_flight_are_bounded_by_the_threads(pair: Pair) -> None:
    """Five requests blocking for a second each, sent at once: two run at a time."""
    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda _: get_json(pair.lanes, pair, "/sync/busy?seconds=1"), range(5)))
    assert max(answer["most_in_flight"] for answer in answers) == THREADS
    assert {answer["thread"] for answer in answers} == {f"{LANE_THREAD}{n}_0" for n in range(THREADS)}


def test_signals_are_sent_once_per_request_on_both_paths(pair: Pair) -> None:
    for container in (pair.lanes, pair.django):
        for _ in range(3):
            database = get_json(container, pair, "/sync/database")
            assert database["started"] == database["finished"] + 1, database


def test_a_persistent_connection_is_its_threads_and_reused(pair: Pair) -> None:
    """CONN_MAX_AGE=60: each thread keeps one connection across requests, and the worker
    holds no more connections than it has threads. (Which thread a request gets is not
    fixed: the next request can arrive while the last one's thread still runs its
    request_finished, after the response went out.)"""
    answers = [get_json(pair.lanes, pair, "/sync/database") for _ in range(8)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers += list(pool.map(lambda _: get_json(pair.lanes, pair, "/sync/database"), range(12)))
    connections_of = {}
    for answer in answers:
        connections_of.setdefault(answer["thread"], set()).add(answer["connection"])
    assert all(len(held) == 1 for held in connections_of.values()), connections_of
    assert len(connections_of) <= THREADS
    assert max(answer["open_connections"] for answer in answers) <= THREADS
    assert answers[-1]["visits"] > answers[0]["visits"]


def test_conn_max_age_is_said_at_start(pair: Pair) -> None:
    assert (
        "django-asgi: notice: DATABASES['default'] CONN_MAX_AGE=60: sync views keep their thread's connection "
        f"open for 60 s between requests (at most {THREADS} per worker"
    ) in pair.lanes.stderr()
    assert "CONN_MAX_AGE=60: not reused under Django's own ASGI handler" in pair.django.stderr()


def test_the_default_is_on_and_closes_connections_after_each_request(sample: Container) -> None:
    """The sample as shipped: sync views on the image's threads, CONN_MAX_AGE=0, so a
    request's connection is closed once it is over (at its request_finished, which may come
    just after the response): once the requests are done, no worker holds one."""
    for _ in range(6):
        database = sample.get("/sync/database").json()
        assert database["thread"].startswith(LANE_THREAD) and 1 <= database["open_connections"] <= 4, database
    assert "sync_threads=4" in sample.stderr()
    eventually(
        lambda: all(sample.get("/sync/busy").json()["open_connections"] == 0 for _ in range(4)),
        "no connection left open after the requests",
        timeout=10,
    )


def test_an_async_only_middleware_keeps_every_request_on_djangos_path(server: str) -> None:
    with serving(server, "--env=DJANGO_ASYNC_ONLY_MIDDLEWARE=1") as container:
        response = container.get("/sync/busy")
        assert response.headers["x-async-only-middleware"] == "1"
        assert not response.json()["thread"].startswith(LANE_THREAD)
        assert (
            "django-asgi: notice: SYNC_THREADS=4: hello.middleware.mark_async_only cannot run synchronously, "
            "so sync views take Django's own ASGI path"
        ) in container.stderr()


def test_sync_threads_0_is_djangos_own_handler(server: str) -> None:
    with serving(server, "--env=SYNC_THREADS=0") as container:
        assert "sync_threads=off" in container.stderr()
        assert not container.get("/sync/busy").json()["thread"].startswith(LANE_THREAD)
