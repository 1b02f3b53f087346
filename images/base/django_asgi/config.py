"""The runtime contract: environment variables read into one validated `Settings`.

Every problem is a `ConfigError` whose message is the single line the user sees: it names
the variable, the value given and what is allowed.
"""

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 8000
DEFAULT_HOST = "0.0.0.0"
MAX_WORKERS = 256
HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")
# The launcher hands the resolved APP_MODULE to the server's process in this variable.
TARGET_VARIABLE = "DJANGO_ASGI_TARGET"


class ConfigError(Exception):
    """A setting cannot be used; the message is one line that says why and what is allowed."""


@dataclass(frozen=True)
class AppTarget:
    """The user's ASGI application: `module:attribute`, importable from `root`."""

    module: str
    attribute: str
    root: Path

    def __str__(self) -> str:
        return f"{self.module}:{self.attribute}"


@dataclass(frozen=True)
class Settings:
    """Everything the launcher needs to start a server, already validated."""

    server: str
    app: AppTarget
    host: str
    port: int
    workers: int
    workers_origin: str  # where the worker count came from, for the start-up line
    migrate: bool

    @property
    def bind(self) -> str:
        """HOST:PORT as servers with a single bind flag want it (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def template_values(self) -> dict[str, object]:
        """The names a server table's flag templates may use, such as {port} or {bind}."""
        return {
            "host": self.host,
            "port": self.port,
            "bind": self.bind,
            "workers": self.workers,
        }


def describe(value: str) -> str:
    """A value quoted for an error message."""
    return repr(value)


def read_port(env: Mapping[str, str]) -> int:
    raw = env.get("PORT", "").strip() or str(DEFAULT_PORT)
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ConfigError(
            f"PORT={describe(raw)} is not a TCP port: use a whole number from 1 to 65535 "
            f"(default {DEFAULT_PORT})"
        )
    return int(raw)


def read_host(env: Mapping[str, str]) -> str:
    raw = env.get("HOST", "").strip() or DEFAULT_HOST
    candidate = raw.removeprefix("[").removesuffix("]")
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        pass
    if HOSTNAME.fullmatch(candidate):
        return candidate
    raise ConfigError(
        f"HOST={describe(raw)} is not an address to listen on: use an IP address such as "
        f"0.0.0.0 or :: , or a host name (default {DEFAULT_HOST})"
    )


def read_workers(env: Mapping[str, str], *, cpus: int, multiprocess: bool, server: str) -> tuple[int, str]:
    """The worker count and where it came from: WEB_CONCURRENCY, or the CPUs available."""
    raw = env.get("WEB_CONCURRENCY", "").strip()
    if not raw:
        if not multiprocess:
            return 1, f"{server} serves from one process"
        return cpus, f"{cpus} CPU{'s' if cpus != 1 else ''} available"
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_WORKERS:
        raise ConfigError(
            f"WEB_CONCURRENCY={describe(raw)} is not a worker count: use a whole number from "
            f"1 to {MAX_WORKERS}, or leave it unset for one worker per available CPU"
        )
    workers = int(raw)
    if workers > 1 and not multiprocess:
        raise ConfigError(
            f"WEB_CONCURRENCY={describe(raw)} cannot be honoured: {server} serves from one "
            "process; unset it or set 1, and scale with more containers or another server"
        )
    return workers, "WEB_CONCURRENCY"


def read_flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={describe(raw)} is not on or off: use 1/true/yes/on or 0/false/no/off")
