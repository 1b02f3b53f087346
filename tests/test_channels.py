"""Django Channels across processes and replicas, on every server: a project in the shape of
Channels' tutorial (tests/channels/project: a consumer with groups, AuthMiddlewareStack,
AllowedHostsOriginValidator) built FROM each server's tag with README's pattern, two
replicas of two worker processes each on channels_redis against a real Redis (Debian's,
tests/channels/redis.Dockerfile): a message one member sends reaches every member of the
group, wherever it is connected. With InMemoryChannelLayer and several workers the start
says, in one line, that group messages will not cross processes."""

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from harness import Container, build_image, build_on_tag, docker, on_a_network_of_its_own, python_version, running
from websockets.asyncio.client import ClientConnection, connect

CHANNELS = Path(__file__).resolve().parent / "channels"
REPLICAS = 2


def workers(server: str) -> int:
    """Per replica: two, so that group messages must cross processes inside one too; daphne
    serves from one process (it refuses WEB_CONCURRENCY=2)."""
    return 1 if server == "daphne" else 2


MEMBERS_PER_REPLICA = 4
READY = "/-/health"  # the image's own route: the project has no health view
ORIGIN = "http://localhost"  # what AllowedHostsOriginValidator takes (ALLOWED_HOSTS)
IN_MEMORY_NOTICE = "notice: CHANNEL_LAYERS['default'] is channels.layers.InMemoryChannelLayer"
MESSAGE_TIMEOUT = 10  # a guard against a lost message hanging the test, not a timing assertion


def built(tag: str, dockerfile: str, *options: str) -> str:
    result = build_image(CHANNELS, "--load", "--tag", tag, "--file", str(CHANNELS / dockerfile), *options)
    assert result.returncode == 0, result.stderr[-3000:]
    return tag


@pytest.fixture(scope="module")
def redis_network(family: None) -> Iterator[str]:
    """Redis on a network of its own, reachable by the name `redis`; the network's name."""
    tag = built("django-asgi-test-redis:latest", "redis.Dockerfile", f"--build-arg=PYTHON_VERSION={python_version()}")
    with on_a_network_of_its_own(tag, "redis", answers_ping, "Redis answering") as (_, network):
        yield network


def answers_ping(container: str) -> bool:
    return "PONG" in docker("exec", container, "redis-cli", "ping", check=False)


@pytest.fixture(scope="module")
def chat(family: None, server: str) -> Iterator[str]:
    tag = f"django-asgi-test-channels:{server}-{uuid.uuid4().hex[:8]}"
    result = build_on_tag(CHANNELS, server, "--load", "--tag", tag, "--file", str(CHANNELS / "Dockerfile"))
    assert result.returncode == 0, result.stderr[-3000:]
    yield tag
    docker("image", "rm", "--force", tag, check=False)


def websocket_url(container: Container, room: str) -> str:
    return container.websocket_url(f"/ws/chat/{room}/")


async def join(container: Container, room: str) -> tuple[ClientConnection, str]:
    """A member of `room`, and the container:process its connection landed on."""
    member = await connect(websocket_url(container, room), origin=ORIGIN, open_timeout=20)
    said = json.loads(await asyncio.wait_for(member.recv(), MESSAGE_TIMEOUT))
    return member, said["process"]


async def fan_out(replicas: list[Container]) -> tuple[str, list[str], set[str]]:
    """The message the first member sends, what every member then receives, and where the
    members' connections landed."""
    room = f"room{uuid.uuid4().hex[:8]}"
    joined = await asyncio.gather(*(join(replica, room) for replica in replicas for _ in range(MEMBERS_PER_REPLICA)))
    members = [member for member, _ in joined]
    try:
        text = f"hello {uuid.uuid4().hex}"
        await members[0].send(json.dumps({"message": text}))
        received = await asyncio.gather(*(asyncio.wait_for(member.recv(), MESSAGE_TIMEOUT) for member in members))
        return text, [json.loads(message)["message"] for message in received], {where for _, where in joined}
    finally:
        await asyncio.gather(*(member.close() for member in members))


def test_group_messages_reach_every_member_across_processes_and_replicas(
    chat: str, redis_network: str, server: str
) -> None:
    options = (f"--network={redis_network}", "--env=REDIS_HOST=redis", f"--env=WEB_CONCURRENCY={workers(server)}")
    with ExitStack() as stack:
        replicas = [stack.enter_context(running(chat, *options, ready=READY)) for _ in range(REPLICAS)]
        sent, received, processes = asyncio.run(fan_out(replicas))
        assert received == [sent] * REPLICAS * MEMBERS_PER_REPLICA
        assert len({where.split(":")[0] for where in processes}) == REPLICAS, processes
        print(f"members on {len(processes)} processes: {sorted(processes)}")
        for replica in replicas:
            assert IN_MEMORY_NOTICE not in replica.stderr()


def test_an_in_memory_layer_under_several_workers_is_said_at_start(chat: str, server: str) -> None:
    """Once, by the process that says the start's findings; not on daphne's one process."""
    with running(chat, f"--env=WEB_CONCURRENCY={workers(server)}", ready=READY) as container:
        notices = [line for line in container.stderr().splitlines() if IN_MEMORY_NOTICE in line]
        assert len(notices) == (workers(server) > 1), container.stderr()
        for notice in notices:
            assert "channels_redis" in notice and "WEB_CONCURRENCY=1" in notice, notice
