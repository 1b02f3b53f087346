"""The lock around DJANGO_MIGRATE's migrate (django_asgi.migration_lock) without Docker: the
wait, said once and bounded; the lock each database gets; SQLite's lock file serializing two
processes. PostgreSQL's lock against a real server: tests/test_postgres.py."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from harness import ROOT

from django_asgi import migration_lock
from django_asgi.config import ConfigError
from django_asgi.migration_lock import FileLock, MySQLLock, PostgreSQLLock, acquire, lock_for


class TakenFor:
    """A lock another replica holds for the first `attempts` tries."""

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts

    def __str__(self) -> str:
        return "test lock"

    def try_acquire(self) -> bool:
        self.attempts -= 1
        return self.attempts < 0

    def release(self) -> None:
        pass


def test_a_free_lock_is_taken_without_a_word(capsys: pytest.CaptureFixture[str]) -> None:
    acquire(TakenFor(0), timeout=1, interval=0.01)
    assert capsys.readouterr().err == ""


def test_a_taken_lock_is_waited_for_and_said_once(capsys: pytest.CaptureFixture[str]) -> None:
    acquire(TakenFor(3), timeout=5, interval=0.01)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "django-asgi: DJANGO_MIGRATE=1: waiting for another replica's migrate (test lock)"
    assert len(lines) == 2 and lines[1].startswith("django-asgi: DJANGO_MIGRATE=1: the lock is free after ")


def test_the_wait_ends_in_one_line_after_the_timeout() -> None:
    with pytest.raises(ConfigError) as error:
        acquire(TakenFor(10**6), timeout=0.05, interval=0.01)
    assert str(error.value) == (
        "DJANGO_MIGRATE=1: another replica's migrate still holds the lock (test lock) after 0.05 s: "
        "run long migrations once, before the replicas start (a release step)"
    )


def test_a_database_error_while_locking_is_one_line() -> None:
    class Unreachable(TakenFor):
        def try_acquire(self) -> bool:
            raise OSError("connection refused")

    with pytest.raises(ConfigError) as error:
        acquire(Unreachable(0))
    assert str(error.value) == "DJANGO_MIGRATE=1: migrate failed: taking its lock (test lock): connection refused"


def database(vendor: str, name: object, engine: str = "", in_memory: bool = False) -> SimpleNamespace:
    """What lock_for reads of Django's DatabaseWrapper."""
    return SimpleNamespace(
        vendor=vendor, settings_dict={"NAME": name, "ENGINE": engine}, is_in_memory_db=lambda: in_memory
    )


def test_each_database_gets_its_lock(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    connection = object()
    postgresql = lock_for(database("postgresql", "shop"), lambda: connection)
    assert isinstance(postgresql, PostgreSQLLock) and postgresql.connection is connection
    assert str(postgresql) == f"PostgreSQL advisory lock {migration_lock.POSTGRESQL_KEY}"
    mysql = lock_for(database("mysql", "shop"), lambda: connection)
    assert isinstance(mysql, MySQLLock) and mysql.name == "django-asgi migrate shop"
    sqlite = lock_for(database("sqlite", tmp_path / "db.sqlite3"), lambda: pytest.fail("no connection"))
    assert isinstance(sqlite, FileLock) and sqlite.path == tmp_path / "db.sqlite3.migrate-lock"
    sqlite.release()
    uri = lock_for(database("sqlite", f"file:{tmp_path}/db.sqlite3?mode=rwc"), lambda: connection)
    assert isinstance(uri, FileLock) and uri.path == tmp_path / "db.sqlite3.migrate-lock"
    uri.release()
    assert lock_for(database("sqlite", ":memory:", in_memory=True), lambda: connection) is None
    assert lock_for(database("unknown", "", engine="django.db.backends.dummy"), lambda: connection) is None
    assert capsys.readouterr().err == ""


def test_other_databases_migrate_unlocked_after_a_notice(capsys: pytest.CaptureFixture[str]) -> None:
    assert lock_for(database("oracle", "shop", engine="django.db.backends.oracle"), object) is None
    assert capsys.readouterr().err == (
        "django-asgi: notice: DJANGO_MIGRATE=1: no lock for oracle databases (django.db.backends.oracle): "
        "replicas that start together may migrate at once; run migrate once, before they start (a release step)\n"
    )


def test_a_database_where_no_lock_file_can_be_made_migrates_unlocked_after_a_notice(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert lock_for(database("sqlite", tmp_path / "missing" / "db.sqlite3"), object) is None
    assert capsys.readouterr().err == (
        f"django-asgi: notice: DJANGO_MIGRATE=1: no lock file beside the database "
        f"({tmp_path}/missing/db.sqlite3.migrate-lock: No such file or directory): migrate runs unlocked\n"
    )


def test_a_mysql_lock_name_fits_its_64_characters() -> None:
    long_name = "a_database_named_at_the_length_that_mysql_allows_for_its_names_"
    assert len(migration_lock.mysql_lock_name(long_name)) == 64
    assert migration_lock.mysql_lock_name(long_name) != migration_lock.mysql_lock_name(long_name + "x")


def test_the_postgresql_key_is_the_one_the_readme_names() -> None:
    assert migration_lock.POSTGRESQL_KEY == -798762919606393903
    assert str(migration_lock.POSTGRESQL_KEY) in (ROOT / "README.md").read_text()


def test_a_lock_file_is_held_by_one_opener_at_a_time(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "db.sqlite3.migrate-lock"), FileLock(tmp_path / "db.sqlite3.migrate-lock")
    try:
        assert first.try_acquire()
        assert not second.try_acquire()
        first.release()
        assert second.try_acquire()
    finally:
        first.release()
        second.release()


# A second process that waits for the lock file, as a replica beside this one would.
WAITER = """
import sys
from pathlib import Path
from django_asgi.migration_lock import FileLock, acquire
lock = FileLock(Path(sys.argv[1]))
acquire(lock, timeout=60, interval=0.05)
print("migrating")
lock.release()
"""


def test_a_lock_file_serializes_two_processes(tmp_path: Path) -> None:
    """A replica sharing the SQLite file on a volume waits until this one's migrate is done."""
    path = tmp_path / "db.sqlite3.migrate-lock"
    held = FileLock(path)
    assert held.try_acquire()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "images/base")}
    waiter = subprocess.Popen(
        [sys.executable, "-c", WAITER, str(path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # its first line, once it found the lock taken (bounded: it gives up after 60 s)
        assert "waiting for another replica's migrate (lock file " in waiter.stderr.readline()
        assert waiter.poll() is None  # still waiting: the lock is this process's
        held.release()
        out, err = waiter.communicate(timeout=30)
        assert waiter.returncode == 0, err
        assert out == "migrating\n" and "the lock is free after" in err
    finally:
        held.release()
        waiter.kill()
        waiter.wait()
