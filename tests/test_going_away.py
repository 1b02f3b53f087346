"""Open WebSockets closed with 1001 as the server stops (django_asgi.going_away), without a
server: the wrapper's sessions against a recording `send`, PID 1's side of it
(drain.close_websockets), and who gets the directory from the launcher. In real containers on
every server: tests/test_resilience.py."""

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_launcher import make_project

from django_asgi import drain, going_away, launcher
from django_asgi.wrappers import ASGIApp, Message, Receive, Scope, Send

GOING_AWAY = {"type": "websocket.close", "code": 1001}


class Client:
    """A WebSocket client as the wrapped app sees it: messages it is waiting to receive, and
    what the server was sent."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[Message] = asyncio.Queue()
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        return await self.incoming.get()

    async def send(self, message: Message) -> None:
        self.sent.append(message)


async def echo_until_disconnect(scope: Scope, receive: Receive, send: Send) -> None:
    """An app that accepts, then echoes until it is told the client left; it tries one more
    send after that, as a careless consumer would."""
    await receive()
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] != "websocket.disconnect":
        await send({"type": "websocket.send", "text": message["text"]})
    await send({"type": "websocket.send", "text": "too late"})


def session_app(directory: Path) -> tuple[ASGIApp, going_away.Process]:
    process = going_away.Process(str(directory))
    going_away._process = process  # this test's process, as the wrapper's would be
    return going_away.with_going_away(echo_until_disconnect), process


@pytest.fixture(autouse=True)
def fresh_process() -> None:
    going_away._process = None


def test_the_mark_closes_accepted_websockets_with_1001_and_nothing_goes_out_after(tmp_path: Path) -> None:
    async def scenario() -> list[Message]:
        app, _ = session_app(tmp_path)
        client = Client()
        await client.incoming.put({"type": "websocket.connect"})
        await client.incoming.put({"type": "websocket.receive", "text": "hi"})
        serving = asyncio.create_task(app({"type": "websocket"}, client.receive, client.send))
        while len(client.sent) < 2:
            await asyncio.sleep(0.01)
        assert (tmp_path / str(os.getpid())).exists(), "the worker says it holds WebSockets"
        (tmp_path / drain.GOING_AWAY_MARK).touch()
        while GOING_AWAY not in client.sent:
            await asyncio.sleep(0.01)
        await client.incoming.put({"type": "websocket.disconnect", "code": 1001})  # as the server says
        await asyncio.wait_for(serving, 5)
        await asyncio.sleep(going_away.POLL_INTERVAL * 3)
        assert not (tmp_path / str(os.getpid())).exists(), "done: PID 1 need not wait"
        return client.sent

    assert asyncio.run(scenario()) == [
        {"type": "websocket.accept"},
        {"type": "websocket.send", "text": "hi"},
        GOING_AWAY,
    ]


def test_a_websocket_accepted_while_going_away_is_closed_at_once_and_one_never_accepted_is_left(
    tmp_path: Path,
) -> None:
    async def scenario() -> tuple[list[Message], list[Message]]:
        app, process = session_app(tmp_path)
        pending = Client()  # connecting: the app has not accepted it yet
        waiting = asyncio.create_task(app({"type": "websocket"}, pending.receive, pending.send))
        await asyncio.sleep(0.01)
        await process.go_away()
        late = Client()
        await late.incoming.put({"type": "websocket.connect"})
        accepted_late = asyncio.create_task(app({"type": "websocket"}, late.receive, late.send))
        while len(late.sent) < 2:
            await asyncio.sleep(0.01)
        for task in (waiting, accepted_late):
            task.cancel()
        return pending.sent, late.sent

    assert asyncio.run(scenario()) == ([], [{"type": "websocket.accept"}, GOING_AWAY])


def test_http_passes_untouched() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    asyncio.run(going_away.with_going_away(app)({"type": "http"}, Client().receive, Client().send))
    assert seen == [{"type": "http"}]
    assert going_away._process is None, "no WebSocket, no watch"


HOLDER = "import time; time.sleep(30)"


def test_pid_1_waits_for_live_holders_only_and_not_past_close_wait(tmp_path: Path, monkeypatch) -> None:
    """No holder: the mark and back at once. A live holder that never lets go: CLOSE_WAIT.
    A holder that is gone (killed with its file left): not waited for."""
    monkeypatch.setenv(drain.WEBSOCKETS_VARIABLE, str(tmp_path))

    def waited() -> float:
        started = time.monotonic()
        drain.close_websockets()
        return time.monotonic() - started

    assert waited() < drain.CLOSE_WAIT / 2 and (tmp_path / drain.GOING_AWAY_MARK).exists()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER])
    try:
        (tmp_path / str(holder.pid)).touch()
        assert waited() >= drain.CLOSE_WAIT
    finally:
        holder.kill()
        holder.wait()
    assert waited() < drain.CLOSE_WAIT / 2


def test_without_the_directory_pid_1_marks_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(drain.WEBSOCKETS_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    drain.close_websockets()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("server", "env", "named"),
    [
        ("daphne", {}, True),  # the supervisor is PID 1
        ("hypercorn", {}, True),
        ("granian", {}, False),  # granian itself is PID 1: its workers close them
        ("uvicorn", {}, False),  # gunicorn is PID 1: the uvicorn worker closes them
        ("granian", {"DRAIN_DELAY": "3"}, True),  # the drain relay is PID 1
        ("uvicorn", {"DRAIN_DELAY": "3"}, True),
    ],
)
def test_the_directory_is_named_where_pid_1_is_the_images(
    tmp_path: Path, monkeypatch, server: str, env: dict[str, str], named: bool
) -> None:
    monkeypatch.setattr(drain, "WEBSOCKETS_DIRECTORY", str(tmp_path / "websockets"))
    monkeypatch.setattr(drain, "DRAINING_FILE", str(tmp_path / "draining"))
    make_project(tmp_path)
    launch = launcher.prepare({"ASGI_SERVER": server, **env}, tmp_path)
    expected = {drain.WEBSOCKETS_VARIABLE: str(tmp_path / "websockets")} if named else {}
    assert {k: v for k, v in launch.environment.items() if k == drain.WEBSOCKETS_VARIABLE} == expected
