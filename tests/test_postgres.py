"""Database connections under the image's handler, on a real PostgreSQL server (Debian's,
built by tests/postgres/Dockerfile), counted by the server itself in pg_stat_activity: with
CONN_MAX_AGE each SYNC_THREADS thread keeps one connection and reuses it, and the worker
never holds more than it has threads; without, none is left open after the requests; and a
connection the project's import opened is closed before the workers are forked with it.
And replicas that start together with DJANGO_MIGRATE=1 apply each migration once."""

import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from harness import (
    READY_TIMEOUT,
    ROOT,
    Container,
    build_image,
    docker,
    eventually,
    image,
    on_a_network_of_its_own,
    python_version,
    remove_container,
    running,
    servers,
    start_container,
    wait_until_healthy,
)

POSTGRES = Path(__file__).resolve().parent / "postgres"
THREADS = 2
APPLICATION_NAME = "hello_django"  # the sample's OPTIONS["application_name"] for PostgreSQL


@dataclass(frozen=True)
class Database:
    container: str
    network: str

    def query(self, sql: str, database: str = "postgres") -> str:
        """psql's unaligned output: one line per row, `|` between columns."""
        return docker("exec", self.container, "psql", "-h", "/tmp", "-U", "postgres", "-d", database, "-Atc", sql)

    def app_connections(self) -> int:
        """Connections the sample holds open, as PostgreSQL counts them."""
        return int(self.query(f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{APPLICATION_NAME}'"))

    def fresh(self) -> str:
        """A new, empty database (the sample's DJANGO_DB_NAME), for a test that migrates."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        self.query(f"CREATE DATABASE {name}")
        return name


def built(tag: str, *options: str) -> str:
    result = build_image(POSTGRES, "--load", "--tag", tag, *options)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return tag


@pytest.fixture(scope="module")
def database(family: None) -> Iterator[Database]:
    """PostgreSQL on a network of its own, reachable by the name `postgres`."""
    tag = built("django-asgi-test-postgres:latest", f"--build-arg=PYTHON_VERSION={python_version()}")
    with on_a_network_of_its_own(tag, "postgres", ready, "PostgreSQL accepting connections") as (container, network):
        yield Database(container, network)


def ready(container: str) -> bool:
    return "accepting connections" in docker("exec", container, "pg_isready", "-h", "/tmp", check=False)


@pytest.fixture(scope="module")
def sample_with_psycopg(family: None, server: str) -> str:
    return psycopg_sample(server)


def psycopg_sample(server: str) -> str:
    return built(
        f"django-asgi-test-postgres-sample:{server}",
        "--file", str(POSTGRES / "sample.Dockerfile"),
        f"--build-arg=SAMPLE={image(f'sample-{server}')}",
    )  # fmt: skip


def serving_on(database: Database, tag: str, conn_max_age: int, **env: str) -> AbstractContextManager[Container]:
    """The sample on PostgreSQL, one worker unless `env` says, waited for on a sync view: the
    sample's /healthz is async, and its connection would be Django's own path's, not the threads'."""
    env = {
        "DJANGO_DB_HOST": "postgres",
        "DJANGO_CONN_MAX_AGE": str(conn_max_age),
        "SYNC_THREADS": str(THREADS),
        "WEB_CONCURRENCY": "1",
        **env,
    }
    options = [f"--env={name}={value}" for name, value in env.items()]
    return running(tag, f"--network={database.network}", *options, ready="/sync/echo")


def database_view(container: Container) -> dict[str, Any]:
    response = container.get("/sync/database")
    assert response.status_code == 200, response.text[:2000]
    return response.json()


def concurrent_requests(container: Container, count: int = 12) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(lambda _: database_view(container), range(count)))


def test_persistent_connections_are_reused_and_bounded_by_the_threads(
    database: Database, sample_with_psycopg: str
) -> None:
    with serving_on(database, sample_with_psycopg, conn_max_age=60) as container:
        answers = [database_view(container) for _ in range(8)] + concurrent_requests(container)
        backends_of = {}
        for answer in answers:
            backends_of.setdefault(answer["thread"], set()).add(answer["backend_pid"])
        assert all(len(pids) == 1 for pids in backends_of.values()), backends_of  # one connection per thread
        assert len(backends_of) <= THREADS
        assert 1 <= database.app_connections() <= THREADS


def test_without_conn_max_age_no_connection_outlives_its_request(database: Database, sample_with_psycopg: str) -> None:
    with serving_on(database, sample_with_psycopg, conn_max_age=0) as container:
        pids = {database_view(container)["backend_pid"] for _ in range(4)}
        assert len(pids) == 4  # a new connection for each request
        concurrent_requests(container)
        eventually(lambda: database.app_connections() == 0, "every connection closed after its request", timeout=10)


def test_a_connection_the_import_opened_is_not_forked_into_the_workers(
    database: Database, sample_with_psycopg: str, server: str
) -> None:
    """The project queries while it imports (in the server's main process, PRELOAD): that
    connection is closed before any worker is forked, so no two processes share it."""
    workers = "1" if server == "daphne" else "2"
    with serving_on(
        database, sample_with_psycopg, conn_max_age=60, DJANGO_QUERY_AT_IMPORT="1", WEB_CONCURRENCY=workers
    ) as container:
        eventually(lambda: database.app_connections() == 0, "the import's connection closed", timeout=10)
        assert database_view(container)["backend_pid"] > 0  # a worker opens its own


REPLICAS = 3
# Each replica's prestart script holds it until the test has seen all of them there: their
# migrates then start within milliseconds of each other. Without the lock 7 of 8 such starts
# failed (a loser's `relation "hello_visit" already exists`, or a duplicate key in pg_type for
# django_migrations); started back to back without the barrier, none of 9 did.
BARRIER = "until [ -e /barrier/go ]; do sleep 0.01; done\n"
ERROR = re.compile(r"error|traceback", re.IGNORECASE)


def test_replicas_starting_together_apply_each_migration_once(database: Database, tmp_path: Path) -> None:
    """Three replicas with DJANGO_MIGRATE=1 on a fresh database, started at once: every one
    serves a view that writes through the migrated table, django_migrations (no unique
    constraint: a race shows as duplicates or as a loser's error) has each of the sample's
    migrations once, and no log has an error line. One server (the suite's last, as the other
    server-independent tests): the lock is the launcher's, taken before any server starts."""
    name = database.fresh()
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    barrier.chmod(0o755)  # for the image's user
    (barrier / "wait.sh").write_text(BARRIER)
    (barrier / "wait.sh").chmod(0o644)
    env = {"DJANGO_DB_HOST": "postgres", "DJANGO_DB_NAME": name, "DJANGO_MIGRATE": "1", "WEB_CONCURRENCY": "1"}
    options = [f"--network={database.network}", f"--volume={barrier}:/barrier:ro", "--env=PRESTART=/barrier/wait.sh"]
    options += [f"--env={variable}={value}" for variable, value in env.items()]
    tag = psycopg_sample(servers()[-1])
    replicas: list[Container] = []
    try:
        for _ in range(REPLICAS):
            replicas.append(start_container(tag, *options))
        eventually(lambda: all_said(replicas, "running prestart script"), "all at the barrier", timeout=READY_TIMEOUT)
        (barrier / "go").touch()
        for replica in replicas:
            wait_until_healthy(replica, "/visits")
        applied = database.query("SELECT app, name, count(*) FROM django_migrations GROUP BY app, name", name)
        migrations = sorted(path.stem for path in (ROOT / "sample_app/hello/migrations").glob("0*.py"))
        assert sorted(applied.splitlines()) == [f"hello|{migration}|1" for migration in migrations]
        for replica in replicas:
            logs = replica.logs()
            assert not [line for line in logs.splitlines() if ERROR.search(line)], logs
    finally:
        for replica in replicas:
            remove_container(replica.id)


def all_said(containers: list[Container], line: str) -> bool:
    return all(line in container.stderr() for container in containers)
