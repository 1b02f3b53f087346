"""Protocols on every server, proven by real clients: WebSockets (websockets), TLS and
client certificates (httpx with trustme's CA), HTTP/2 cleartext and over TLS (curl,
h2load), HTTP/3 (aioquic). Each test records what it saw in the capability matrix;
where a server lacks a protocol the test proves the request still succeeds another way."""

import asyncio
import json
import os
import re
import subprocess
from collections.abc import Iterator

import http3
import httpx
import pytest
from capabilities import Matrix
from harness import ECHO, Container, docker, http3_flavour, image, running
from tls import Certificates
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

pytestmark = pytest.mark.usefixtures("family")

MEBIBYTE = 2**20
H2LOAD_REQUESTS = 300


@pytest.fixture(scope="session")
def tls_sample(family: None, server: str, certificates: Certificates) -> Iterator[Container]:
    """The sample project served over https by `server` itself."""
    with running(image(f"sample-{server}"), *certificates.docker_options(), tls=certificates.client_context()) as c:
        yield c


def websocket(container: Container, path: str = ECHO) -> connect:
    """A WebSocket client for the container (wss:// when it serves TLS), taking 2 MiB messages."""
    url = container.websocket_url(path)
    return connect(url, ssl=container.tls, max_size=2 * MEBIBYTE, open_timeout=30, close_timeout=10)


async def echoed(connection: ClientConnection, message: str | bytes) -> str | bytes:
    await connection.send(message)
    return await connection.recv()


# WebSockets


@pytest.mark.capability("websocket")
def test_websocket_echoes_text_and_binary(sample: Container, server: str, capabilities: Matrix) -> None:
    async def exchange() -> list[str | bytes]:
        async with websocket(sample) as connection:
            return [await echoed(connection, "hello, ünïcode"), await echoed(connection, b"\x00\xffbinary")]

    assert asyncio.run(exchange()) == ["hello, ünïcode", b"\x00\xffbinary"]
    capabilities.record(server, "websocket", "yes")


@pytest.mark.parametrize("kind", ["text", "binary"])
def test_websocket_one_mebibyte_message(sample: Container, kind: str) -> None:
    message: str | bytes = "x" * MEBIBYTE if kind == "text" else os.urandom(MEBIBYTE)

    async def exchange() -> str | bytes:
        async with websocket(sample) as connection:
            return await echoed(connection, message)

    assert asyncio.run(exchange()) == message


def test_websocket_100_concurrent_connections(sample: Container) -> None:
    async def one(number: int) -> str | bytes:
        async with websocket(sample) as connection:
            await asyncio.sleep(0.5)  # all 100 are open at once
            return await echoed(connection, f"connection {number}")

    async def all_of_them() -> list[str | bytes]:
        return await asyncio.gather(*(one(number) for number in range(100)))

    assert asyncio.run(all_of_them()) == [f"connection {number}" for number in range(100)]


def test_websocket_close_codes(sample: Container) -> None:
    """The client's close is answered with its code; the app's close reaches the client: a
    code of its own (4001), and one RFC 6455 defines for servers (1008, policy violation),
    which daphne's autobahn used to refuse."""

    async def closed_by_the_app(code: int) -> int | None:
        async with websocket(sample) as by_server:
            await by_server.send(f"close {code}")
            await by_server.wait_closed()
        return by_server.close_code

    async def closes() -> list[int | None]:
        async with websocket(sample) as by_client:
            await echoed(by_client, "before closing")
            await by_client.close(1000)
        return [by_client.close_code, await closed_by_the_app(4001), await closed_by_the_app(1008)]

    assert asyncio.run(closes()) == [1000, 4001, 1008]


def test_websocket_to_an_unknown_path_is_refused(sample: Container) -> None:
    async def attempt() -> None:
        async with websocket(sample, "/ws/nowhere"):
            pass

    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(attempt())
    assert refused.value.response.status_code == 403


def test_websocket_over_tls(tls_sample: Container) -> None:
    async def exchange() -> str | bytes:
        async with websocket(tls_sample) as connection:
            return await echoed(connection, "over wss")

    assert asyncio.run(exchange()) == "over wss"


# TLS


@pytest.mark.capability("http1")
def test_http1(sample: Container, server: str, capabilities: Matrix) -> None:
    response = sample.get("/")
    assert (response.status_code, response.http_version) == (200, "HTTP/1.1")
    capabilities.record(server, "http1", "yes")


@pytest.mark.capability("tls")
def test_https_served_by_the_server(tls_sample: Container, server: str, capabilities: Matrix) -> None:
    response = tls_sample.get("/")
    assert response.status_code == 200
    assert response.json()["scheme"] == "https"
    # the plain images never advertise a protocol they do not serve
    assert "h3" not in response.headers.get("alt-svc", "")
    capabilities.record(server, "tls", "yes")


@pytest.mark.capability("client_certs")
def test_client_certificates(server: str, certificates: Certificates, capabilities: Matrix) -> None:
    """TLS_CLIENT_CA: a client without a certificate from that CA is turned away, one with
    it is served; a server that cannot require them refuses to start, in one line."""
    options = certificates.docker_options(client_ca=True)
    check = subprocess.run(
        ["docker", "run", "--rm", *options, image(f"sample-{server}"), "django-asgi", "--print"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check.returncode != 0:
        assert check.returncode == 2
        assert "error: TLS_CLIENT_CA cannot be honoured" in check.stderr.splitlines()[-1], check.stderr
        capabilities.record(server, "client_certs", "no: refused at start")
        return
    with running(image(f"sample-{server}"), *options, tls=certificates.client_context(with_certificate=True)) as c:
        assert c.get("/").status_code == 200
        anonymous = httpx.Client(verify=certificates.client_context(), timeout=10)
        with pytest.raises(httpx.TransportError):
            anonymous.get(c.url + "/")
    capabilities.record(server, "client_certs", "yes")


# HTTP/2


CURL = ["curl", "--silent", "--max-time", "10", "--output", "/dev/null", "--write-out", "%{http_code} %{http_version}"]


def curl(url: str, *options: str) -> tuple[int, str]:
    """(status, HTTP version) of a GET as curl saw it; (0, "0") when no response came."""
    result = subprocess.run(
        [*CURL, *options, url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    status, version = result.stdout.split()
    return int(status), version


def h2load(url: str) -> dict[str, int]:
    """H2LOAD_REQUESTS GETs over HTTP/2 on 10 connections of 10 streams each; the counts."""
    result = subprocess.run(
        ["h2load", "--requests", str(H2LOAD_REQUESTS), "--clients", "10", "--max-concurrent-streams", "10", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    requests = re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed", result.stdout)
    statuses = re.search(r"status codes: (\d+) 2xx", result.stdout)
    assert requests and statuses, result.stdout + result.stderr
    total, succeeded, failed = map(int, requests.groups())
    return {"total": total, "succeeded": succeeded, "failed": failed, "2xx": int(statuses.group(1))}


def http2_capability(
    container: Container, server: str, capabilities: Matrix, column: str, offer: str, *trust: str
) -> None:
    """h2 if the server takes `offer` (then h2load finds no failures); else a request that
    offers h2 by negotiation (ALPN or Upgrade) still succeeds over HTTP/1.1."""
    url = container.url + "/healthz"
    if curl(url, offer, *trust) == (200, "2"):
        counts = h2load(url)
        assert counts == {"total": H2LOAD_REQUESTS, "succeeded": H2LOAD_REQUESTS, "failed": 0, "2xx": H2LOAD_REQUESTS}
        capabilities.record(server, column, "yes")
    else:
        assert curl(url, "--http2", *trust) == (200, "1.1")
        capabilities.record(server, column, "no: HTTP/1.1 answers")


@pytest.mark.capability("h2c")
def test_h2c_by_prior_knowledge(sample: Container, server: str, capabilities: Matrix) -> None:
    http2_capability(sample, server, capabilities, "h2c", "--http2-prior-knowledge")


@pytest.mark.capability("h2")
def test_h2_over_tls_by_alpn(
    tls_sample: Container, server: str, certificates: Certificates, capabilities: Matrix
) -> None:
    http2_capability(tls_sample, server, capabilities, "h2", "--http2", "--cacert", str(certificates.ca_file))


# HTTP/3


HTTP3_PROCESSES = 4
HTTP3_CONNECTIONS = 12


@pytest.mark.capability("h3")
def test_http3(server: str, certificates: Certificates, capabilities: Matrix) -> None:
    """The server's HTTP/3 flavour (or the server itself) with TLS: where alt-svc offers h3,
    requests over QUIC on the same port number (UDP) are answered, each on a connection of
    its own (a new client port), by several processes: a QUIC connection lives in one process,
    so every datagram of it must reach that one."""
    flavour = http3_flavour(server) or server
    processes = ["--env", f"WEB_CONCURRENCY={HTTP3_PROCESSES}"] if flavour != server else []  # daphne has one
    with running(
        image(f"sample-{flavour}"),
        *certificates.docker_options(),
        *processes,
        tls=certificates.client_context(),
        udp=True,
    ) as container:
        alt_svc = container.get("/").headers.get("alt-svc", "")
        if "h3=" not in alt_svc:
            capabilities.record(server, "h3", "no")
            return
        assert 'h3=":8000"' in alt_svc
        assert container.udp_port is not None
        port = container.udp_port
        responses = [
            asyncio.run(http3.get(port, "/", cafile=str(certificates.ca_file))) for _ in range(HTTP3_CONNECTIONS)
        ]
    assert [response.status for response in responses] == [200] * HTTP3_CONNECTIONS
    assert {json.loads(response.body)["http_version"] for response in responses} == {"3"}
    capabilities.record(server, "h3", "yes" if flavour == server else f"yes: `:{flavour}`")


def test_hypercorn_h3_without_tls_serves_http1_and_h2c(certificates: Certificates) -> None:
    """QUIC needs a certificate: without TLS the h3 flavour is plain hypercorn."""
    flavour = http3_flavour("hypercorn")
    assert flavour, "the family has an HTTP/3 flavour of hypercorn"
    with running(image(f"sample-{flavour}")) as container:
        assert curl(container.url + "/healthz", "--http2-prior-knowledge") == (200, "2")
        assert "--quic-bind" not in docker("exec", container.id, "django-asgi", "--print")
