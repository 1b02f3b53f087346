"""PRELOAD: a start imports the project once, in the server's main process, and its workers
are forked with it; PRELOAD=0 leaves the import to every worker, as the bare commands do."""

import re

import pytest
from harness import Container, eventually, index, is_running, serving, toolbox_for, workers

pytestmark = pytest.mark.usefixtures("family")

IMPORTED = re.compile(r"^django-asgi: imported hello_django\.asgi:application in \d+\.\d\d s; ", re.M)


def processes(server: str) -> list[str]:
    """Two workers where the server has workers (daphne: its one process)."""
    return [] if server == "daphne" else ["--env=WEB_CONCURRENCY=2"]


def answers(container: Container, count: int = 8) -> list[dict]:
    return [index(container, headers={"Connection": "close"}) for _ in range(count)]


def test_the_project_is_imported_once_in_the_main_process(server: str) -> None:
    """Every worker answers with the app PID 1 imported, and the process that imported it
    says so once: even after a worker is killed and replaced."""
    with serving(server, *processes(server)) as container, toolbox_for(container) as toolbox:
        assert {(body["imported_in"], body["pid"] != 1) for body in answers(container)} == {(1, True)}
        victim = min(p.pid for p in workers(toolbox))
        toolbox.run(f"kill -KILL {victim}")

        def replaced() -> bool:
            now = {p.pid for p in workers(toolbox)}
            return bool(now) and victim not in now

        eventually(replaced, "a new worker")
        eventually(lambda: container.answer("/") is not None, "an answer from the new worker")
        assert is_running(container)
        assert {body["imported_in"] for body in answers(container)} == {1}
        assert len(IMPORTED.findall(container.stderr())) == 1, container.stderr()


def test_preload_off_imports_in_every_worker(server: str) -> None:
    """Each worker imported the app itself; the launcher checked it first and said it once."""
    with serving(server, "--env=PRELOAD=0", *processes(server)) as container:
        assert all(body["imported_in"] == body["pid"] != 1 for body in answers(container))
        stderr = container.stderr()
        assert "preload=off" in stderr.splitlines()[0]
        assert len(IMPORTED.findall(stderr)) == 1, stderr
