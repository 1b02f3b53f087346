"""A minimal HTTP/3 client on aioquic: one GET over QUIC, as a browser would send it
after reading a server's `alt-svc: h3=...` header."""

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import Any

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import QuicEvent


@dataclass
class Response:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class H3Client(QuicConnectionProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._http = H3Connection(self._quic)
        self._responses: dict[int, Response] = {}
        self._finished: dict[int, asyncio.Future[Response]] = {}

    def quic_event_received(self, event: QuicEvent) -> None:
        for http_event in self._http.handle_event(event):
            self._http_event_received(http_event)

    def _http_event_received(self, event: H3Event) -> None:
        if not isinstance(event, HeadersReceived | DataReceived) or event.stream_id not in self._responses:
            return
        response = self._responses[event.stream_id]
        if isinstance(event, HeadersReceived):
            for name, value in event.headers:
                if name == b":status":
                    response.status = int(value)
                else:
                    response.headers[name.decode()] = value.decode()
        else:
            response.body += event.data
        if event.stream_ended:
            self._finished[event.stream_id].set_result(response)

    async def get(self, authority: str, path: str) -> Response:
        stream_id = self._quic.get_next_available_stream_id()
        self._responses[stream_id] = Response()
        self._finished[stream_id] = asyncio.get_running_loop().create_future()
        headers = [
            (b":method", b"GET"),
            (b":scheme", b"https"),
            (b":authority", authority.encode()),
            (b":path", path.encode()),
        ]
        self._http.send_headers(stream_id, headers, end_stream=True)
        self.transmit()
        return await self._finished[stream_id]


async def get(port: int, path: str, *, cafile: str, authority: str = "localhost", timeout: float = 10) -> Response:
    """GET https://<authority><path> over HTTP/3 from 127.0.0.1:<port> (UDP), verifying the
    server's certificate against `cafile` for the name `authority`."""
    configuration = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=authority)
    configuration.verify_mode = ssl.CERT_REQUIRED
    configuration.load_verify_locations(cafile)
    async with asyncio.timeout(timeout):
        async with connect("127.0.0.1", port, configuration=configuration, create_protocol=H3Client) as client:
            assert isinstance(client, H3Client)
            return await client.get(authority, path)
