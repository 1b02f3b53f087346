"""DJANGO_MIGRATE=1 on replicas that start together: one `migrate` at a time.

Unserialized, two replicas' migrates create the same tables at once: the losers stop with
`relation "..." already exists` (PostgreSQL; or a duplicate key in pg_type for
django_migrations) or `table ... already exists` (MySQL, SQLite), exit status 2, and
migrations get recorded twice (MariaDB's DDL commits at once, and django_migrations has no
unique constraint). So the launcher holds a lock on the database across the whole migrate.
migrate runs on the default alias (the image runs plain `migrate`, never `--database`), so
that is the alias locked:

- PostgreSQL (PostGIS too): the transaction-level advisory lock
  `pg_try_advisory_xact_lock(POSTGRESQL_KEY)`, held by a transaction left open on a connection
  of its own until migrate ends. The key is the first 8 bytes of SHA-256(LOCK_NAME), signed:
  -798762919606393903. Advisory locks belong to one database, so projects sharing a server do
  not wait for each other. Transaction-level rather than session-level: behind PgBouncer or
  another pooler in transaction mode a session lock stays with the pooled server connection
  (held for the next deploy, or released by another client), a transaction's does not.
- MySQL and MariaDB: `GET_LOCK(<LOCK_NAME> <database name>, 0)` on a connection of its own,
  released by RELEASE_LOCK (the names are server-wide, hence the database's name in it).
- SQLite: an exclusive flock on `<database file>.migrate-lock` beside the database (left in
  place: removing it would let a later replica lock a new file while another holds the old
  one). It serializes the replicas of one host sharing the file on a volume; an in-memory
  database is the process's own and needs none; one in a directory the image's user cannot
  write to migrates unlocked, after a one-line notice.
- Any other backend (Oracle, third-party ones): migrate runs unlocked, after a one-line notice.

Every lock also ends with its process (the connection or the file closes), so a replica killed
while migrating never leaves one behind. A replica that finds the lock taken says so once,
polls for it, then runs migrate, which finds nothing left to apply; after TIMEOUT seconds it
stops with one line (ConfigError, exit status 2).
"""

import fcntl
import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from .config import ConfigError
from .logs import say

VARIABLE = "DJANGO_MIGRATE=1"
LOCK_NAME = "django-asgi migrate"
POSTGRESQL_KEY = int.from_bytes(hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big", signed=True)
MYSQL_NAME_LENGTH = 64  # MySQL's and MariaDB's longest lock name
LOCK_FILE_SUFFIX = ".migrate-lock"
TIMEOUT = 300  # seconds a replica waits for another's migrate: long ones belong in a release step
POLL_INTERVAL = 0.5
DUMMY_ENGINE = "django.db.backends.dummy"  # no DATABASES: migrate says what is wrong itself


class Lock(Protocol):
    """A lock that other replicas can see; str() says which, for the log."""

    def try_acquire(self) -> bool: ...

    def release(self) -> None:
        """Release it if held, and close what it opened."""


@contextmanager
def one_migrate_at_a_time(alias: str = "default") -> Iterator[None]:
    """Hold the lock of the alias's database while the block (migrate) runs."""
    from django.db import connections

    try:
        lock = lock_for(connections[alias], lambda: own_connection(alias))
    except Exception as error:  # the backend's driver missing: what migrate would have said
        raise ConfigError(f"{VARIABLE}: migrate failed: {error}") from None
    if lock is None:
        yield
        return
    try:
        acquire(lock)
        yield
    finally:
        release(lock)


def lock_for(database: Any, connect: Callable[[], Any]) -> Lock | None:
    """The lock for a database (Django's DatabaseWrapper, not connected yet); `connect()`
    makes the connection a database lock is taken on."""
    vendor, name = database.vendor, database.settings_dict["NAME"]
    if vendor == "postgresql":
        return PostgreSQLLock(connect())
    if vendor == "mysql":
        return MySQLLock(connect(), mysql_lock_name(str(name)))
    if vendor == "sqlite":
        return None if database.is_in_memory_db() else file_lock(sqlite_lock_file(name))
    if database.settings_dict["ENGINE"] != DUMMY_ENGINE:
        say(
            f"notice: {VARIABLE}: no lock for {vendor} databases ({database.settings_dict['ENGINE']}): replicas "
            "that start together may migrate at once; run migrate once, before they start (a release step)"
        )
    return None


def own_connection(alias: str) -> Any:
    """A connection of its own to the alias's database, never a pooled one (OPTIONS["pool"],
    Django 5.1+): closing it must end the lock, whatever became of its transaction."""
    from django.db import connections
    from django.db.utils import load_backend

    settings = connections.settings[alias]
    options = {key: value for key, value in settings["OPTIONS"].items() if key != "pool"}
    return load_backend(settings["ENGINE"]).DatabaseWrapper({**settings, "OPTIONS": options}, alias)


def mysql_lock_name(database: str) -> str:
    name = f"{LOCK_NAME} {database}"
    if len(name) <= MYSQL_NAME_LENGTH:
        return name
    return f"{LOCK_NAME} {hashlib.sha256(database.encode()).hexdigest()[: MYSQL_NAME_LENGTH - len(LOCK_NAME) - 1]}"


def sqlite_lock_file(name: str | Path) -> Path:
    """Beside the database file (a `file:` URI's path without its query)."""
    path = str(name).removeprefix("file:").split("?", 1)[0]
    return Path(path + LOCK_FILE_SUFFIX)


def acquire(lock: Lock, timeout: float = TIMEOUT, interval: float = POLL_INTERVAL) -> None:
    """Take the lock, saying once that another replica holds it; give up after `timeout` s."""
    started = time.monotonic()
    waiting = False
    while not attempt(lock):
        if time.monotonic() - started >= timeout:
            raise ConfigError(
                f"{VARIABLE}: another replica's migrate still holds the lock ({lock}) after {timeout:g} s: "
                "run long migrations once, before the replicas start (a release step)"
            )
        if not waiting:
            say(f"{VARIABLE}: waiting for another replica's migrate ({lock})")
            waiting = True
        time.sleep(interval)
    if waiting:
        say(f"{VARIABLE}: the lock is free after {time.monotonic() - started:.1f} s")


def attempt(lock: Lock) -> bool:
    try:
        return lock.try_acquire()
    except Exception as error:  # the database unreachable, refusing the user: one line, then exit
        raise ConfigError(f"{VARIABLE}: migrate failed: taking its lock ({lock}): {error}") from None


def release(lock: Lock) -> None:
    try:
        lock.release()
    except Exception as error:  # the connection lost meanwhile, and the lock with it
        say(f"warning: {VARIABLE}: releasing the lock ({lock}) failed: {error}")


class PostgreSQLLock:
    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.held = False

    def __str__(self) -> str:
        return f"PostgreSQL advisory lock {POSTGRESQL_KEY}"

    def try_acquire(self) -> bool:
        self.connection.set_autocommit(False)  # the lock lives as long as this transaction
        with self.connection.cursor() as cursor:
            # Idle in READ COMMITTED it holds no snapshot, which CREATE INDEX CONCURRENTLY in
            # migrate would wait for (REPEATABLE READ from OPTIONS or the server would: a deadlock);
            # and a provider's idle-in-transaction timeout would end it while migrate runs.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            cursor.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [POSTGRESQL_KEY])
            self.held = bool(cursor.fetchone()[0])
        if not self.held:
            self.connection.rollback()  # no transaction left open (nor a pooler's connection pinned) while waiting
        return self.held

    def release(self) -> None:
        try:
            if self.held:
                self.connection.rollback()  # ends the transaction, and so the lock
        finally:
            self.connection.close()


class MySQLLock:
    def __init__(self, connection: Any, name: str) -> None:
        self.connection, self.name = connection, name
        self.held = False

    def __str__(self) -> str:
        return f"MySQL lock {self.name!r}"

    def try_acquire(self) -> bool:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT GET_LOCK(%s, 0)", [self.name])  # 1 taken, 0 held by another, NULL an error
            self.held = cursor.fetchone()[0] == 1
        return self.held

    def release(self) -> None:
        try:
            if self.held:
                with self.connection.cursor() as cursor:
                    cursor.execute("SELECT RELEASE_LOCK(%s)", [self.name])
        finally:
            self.connection.close()


class FileLock:
    """flock, not fcntl's record locks: those are the process's own, and SQLite's own locks
    on the database file are fcntl locks (a file of its own keeps the two apart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = path.open("a")  # made if missing; never removed

    def __str__(self) -> str:
        return f"lock file {self.path}"

    def try_acquire(self) -> bool:
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        self.file.close()  # which releases the flock


def file_lock(path: Path) -> FileLock | None:
    """A database another replica can write beside can have a lock file there; one shipped
    in a read-only directory (nothing to apply) migrates as it did before the lock."""
    try:
        return FileLock(path)
    except OSError as error:
        say(f"notice: {VARIABLE}: no lock file beside the database ({path}: {error.strerror}): migrate runs unlocked")
        return None
