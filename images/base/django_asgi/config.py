"""The runtime contract: environment variables read into one validated `Settings`.

Every problem is a `ConfigError` whose message is the single line the user sees: it names
the variable, the value given and what is allowed.
"""

import ipaddress
import json
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_PORT = 8000
DEFAULT_HOST = "0.0.0.0"
DEFAULT_LOG_LEVEL = "info"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
# Drain time on SIGTERM: inside docker stop's 10 s, with room for the processes to exit.
DEFAULT_GRACEFUL_TIMEOUT = 8
# After SIGTERM, seconds of serving on with the health route at 503 (django_asgi/drain.py):
# none by default, so that `docker stop`'s 10 s hold GRACEFUL_TIMEOUT's 8.
DEFAULT_DRAIN_DELAY = 0
DEFAULT_KEEP_ALIVE = 5
MAX_SECONDS = 3600
MAX_WORKERS = 256
# Threads per worker for sync views (django_asgi/handler.py): measured in docs/benchmarks.md
DEFAULT_SYNC_THREADS = 4
MAX_SYNC_THREADS = 256
# MAX_WORKER_MEMORY's floor, in MiB: an idle worker of the sample project uses 45-50 MiB
# (daphne's 70); a limit below that would replace workers forever (django_asgi/memory.py).
MIN_WORKER_MEMORY = 64
# A worker is over it when so many samples in a row, a second apart, say so (memory.py and
# granian's own --rss-sample-interval/--rss-samples): a moment's peak is no leak.
MEMORY_SAMPLES = 2
MEMORY_SAMPLE_SECONDS = 1
HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
# DJANGO_CHECK_DEPLOY: what Django's deployment checks at start do (django_asgi/safety.py).
CHECK_DEPLOY_MODES = ("warn", "fail", "off")
# LOG_FORMAT (django_asgi/logs.py, jsonlogs.py) and the request ID's header (accesslog.py).
LOG_FORMATS = ("text", "json")
DEFAULT_REQUEST_ID_HEADER = "X-Request-ID"
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
# The launcher hands the server's processes the resolved APP_MODULE, the wrapping of it
# (JSON: root_path, middleware) and, for daphne's runserver, the user's settings module.
TARGET_VARIABLE = "DJANGO_ASGI_TARGET"
# The image's own health route, answered before the project's application (never reaching
# Django: no log line, no query, any Host), and the header its probe marks a request to
# HEALTHCHECK_PATH with, for which the image gives Django a Host that ALLOWED_HOSTS takes.
HEALTH_PATH = "/-/health"
PROBE_HEADER = "x-django-asgi-healthcheck"
WRAPPING_VARIABLE = "DJANGO_ASGI_WRAPPING"
USER_SETTINGS_VARIABLE = "DJANGO_ASGI_USER_SETTINGS"


class ConfigError(Exception):
    """A setting cannot be used; the message is one line that says why and what is allowed.
    `before`: lines to say ahead of it (the findings a refusal to start is about)."""

    def __init__(self, message: str, *, before: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.before = before


@dataclass(frozen=True)
class AppTarget:
    """The user's ASGI application: `module:attribute`, importable from `root`.

    For a project without an asgi.py it is Django's standard application, and
    `settings_module` names the settings it is served with, found at `origin`.
    """

    module: str
    attribute: str
    root: Path
    settings_module: str = ""
    origin: str = ""

    def __str__(self) -> str:
        return f"{self.module}:{self.attribute}"

    def to_json(self) -> str:
        """For the server's process (TARGET_VARIABLE), which imports it."""
        return json.dumps({**asdict(self), "root": str(self.root)})

    @classmethod
    def from_json(cls, raw: str) -> "AppTarget":
        fields = json.loads(raw)
        return cls(**{**fields, "root": Path(fields["root"])})

    def describe(self) -> str:
        """What the start-up line says is served."""
        if not self.settings_module:
            return str(self)
        return f"Django's ASGI application for {self.settings_module} (no asgi.py; settings from {self.origin})"


@dataclass(frozen=True)
class Tls:
    """HTTPS served by the server itself: a certificate chain and its key, and optionally
    the CA bundle client certificates must be signed by (mutual TLS)."""

    certfile: Path
    keyfile: Path
    client_ca: Path | None = None


@dataclass(frozen=True)
class Settings:
    """Everything the launcher needs to start a server, already validated."""

    server: str
    app: AppTarget
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 1
    workers_origin: str = "default"  # where the worker count came from, for the start-up line
    log_level: str = DEFAULT_LOG_LEVEL
    access_log: bool = False  # the image's own access log (django_asgi/accesslog.py)
    log_format: str = "text"  # one of LOG_FORMATS
    request_id_header: str = DEFAULT_REQUEST_ID_HEADER
    forwarded_allow_ips: tuple[str, ...] = ()  # addresses/networks, or ("*",); () trusts none
    root_path: str = ""
    graceful_timeout: int = DEFAULT_GRACEFUL_TIMEOUT
    drain_delay: int = DEFAULT_DRAIN_DELAY  # seconds of serving on after SIGTERM
    keep_alive: int = DEFAULT_KEEP_ALIVE
    max_requests: int = 0  # 0: workers are never recycled
    max_worker_memory: int = 0  # MiB of RSS a worker may use before it is replaced; 0: no limit
    sync_threads: int = DEFAULT_SYNC_THREADS  # 0: Django's own ASGI handler for sync views
    reload: bool = False
    # the app imported once in the server's main process, its workers forked from it
    preload: bool = True
    check_deploy: str = "warn"  # one of CHECK_DEPLOY_MODES
    server_args: tuple[str, ...] = ()
    migrate: bool = False
    collectstatic: bool = False
    serve_static: bool = True
    prestart: Path | None = None
    tls: Tls | None = None
    healthcheck_path: str = ""  # a route of the project's the HEALTHCHECK asks instead of HEALTH_PATH
    explicit: frozenset[str] = frozenset()  # the contract variables the user set

    @property
    def bind(self) -> str:
        """HOST:PORT as servers with a single bind flag want it (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def preloading(self) -> bool:
        """PRELOAD, where it applies: a reloader imports the app afresh in every worker."""
        return self.preload and not self.reload

    @property
    def trusts_every_proxy(self) -> bool:
        return self.forwarded_allow_ips == ("*",)

    def template_values(self) -> dict[str, object]:
        """The names a server table's flag templates may use, such as {port} or {bind}."""
        return {
            "host": self.host,
            "port": self.port,
            "bind": self.bind,
            "workers": self.workers,
            "log_level": self.log_level,
            "forwarded_allow_ips": ",".join(self.forwarded_allow_ips),
            "graceful_timeout": self.graceful_timeout,
            "keep_alive": self.keep_alive,
            "max_requests": self.max_requests,
            # spread recycling so workers do not all restart at once
            "max_requests_jitter": max(1, self.max_requests // 10),
            "max_worker_memory": self.max_worker_memory,
            "tls_certfile": self.tls.certfile if self.tls else "",
            "tls_keyfile": self.tls.keyfile if self.tls else "",
            "tls_client_ca": (self.tls.client_ca or "") if self.tls else "",
        }


def describe(value: str) -> str:
    """A value quoted for an error message."""
    return repr(value)


def read_port(env: Mapping[str, str]) -> int:
    raw = env.get("PORT", "").strip() or str(DEFAULT_PORT)
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ConfigError(
            f"PORT={describe(raw)} is not a TCP port: use a whole number from 1 to 65535 (default {DEFAULT_PORT})"
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
    raw = env.get(name, "")
    word = raw.strip().lower()
    if not word:
        return default
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={describe(raw)} is not on or off: use 1/true/yes/on or 0/false/no/off")


def read_seconds(env: Mapping[str, str], name: str, *, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) > MAX_SECONDS:
        raise ConfigError(
            f"{name}={describe(raw)} is not a number of seconds: use a whole number from 0 to "
            f"{MAX_SECONDS} (default {default})"
        )
    return int(raw)


def read_count(env: Mapping[str, str], name: str) -> int:
    raw = env.get(name, "").strip() or "0"
    if not raw.isdigit():
        raise ConfigError(f"{name}={describe(raw)} is not a count: use a whole number, 0 for never")
    return int(raw)


def read_worker_memory(env: Mapping[str, str]) -> int:
    raw = env.get("MAX_WORKER_MEMORY", "").strip() or "0"
    if not raw.isdigit() or 0 < int(raw) < MIN_WORKER_MEMORY:
        raise ConfigError(
            f"MAX_WORKER_MEMORY={describe(raw)} is not a worker's memory limit: use a whole number of MiB "
            f"from {MIN_WORKER_MEMORY} (an idle worker already uses 50 or more: a lower limit would replace "
            "it forever), or 0 for no limit"
        )
    return int(raw)


def read_sync_threads(env: Mapping[str, str]) -> int:
    raw = env.get("SYNC_THREADS", "").strip()
    if not raw:
        return DEFAULT_SYNC_THREADS
    if not raw.isdigit() or int(raw) > MAX_SYNC_THREADS:
        raise ConfigError(
            f"SYNC_THREADS={describe(raw)} is not a thread count: use a whole number from 1 to "
            f"{MAX_SYNC_THREADS}, or 0 for Django's own ASGI handler (default {DEFAULT_SYNC_THREADS})"
        )
    return int(raw)


def read_check_deploy(env: Mapping[str, str], *, reload: bool) -> str:
    """DJANGO_CHECK_DEPLOY: warn by default, off by default with RELOAD (development)."""
    raw = env.get("DJANGO_CHECK_DEPLOY", "").strip()
    if not raw:
        return "off" if reload else "warn"
    if raw.lower() not in CHECK_DEPLOY_MODES:
        raise ConfigError(
            f"DJANGO_CHECK_DEPLOY={describe(raw)} is not a mode: use warn (say what Django's deployment "
            "checks find), fail (refuse to start on any finding) or off (default warn, off with RELOAD)"
        )
    return raw.lower()


def read_log_format(env: Mapping[str, str]) -> str:
    raw = env.get("LOG_FORMAT", "").strip() or "text"
    if raw.lower() not in LOG_FORMATS:
        raise ConfigError(
            f"LOG_FORMAT={describe(raw)} is not a log format: use text (the default) or json "
            "(every line one JSON object)"
        )
    return raw.lower()


def read_request_id_header(env: Mapping[str, str]) -> str:
    raw = env.get("REQUEST_ID_HEADER", "").strip() or DEFAULT_REQUEST_ID_HEADER
    if not HEADER_NAME.fullmatch(raw):
        raise ConfigError(
            f"REQUEST_ID_HEADER={describe(raw)} is not an HTTP header name: use one such as "
            f"X-Request-ID (the default) or Fly-Request-Id"
        )
    return raw


def read_log_level(env: Mapping[str, str]) -> str:
    raw = env.get("LOG_LEVEL", "").strip() or DEFAULT_LOG_LEVEL
    if raw.lower() not in LOG_LEVELS:
        raise ConfigError(
            f"LOG_LEVEL={describe(raw)} is not a log level: use one of {', '.join(LOG_LEVELS)} "
            f"(default {DEFAULT_LOG_LEVEL})"
        )
    return raw.lower()


def read_forwarded_allow_ips(env: Mapping[str, str]) -> tuple[str, ...]:
    """Comma-separated addresses or networks of trusted proxies, or * for any client."""
    raw = env.get("FORWARDED_ALLOW_IPS", "")
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    if items == ("*",):
        return items
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(
                f"FORWARDED_ALLOW_IPS={describe(raw)}: {item!r} is not an IP address or network; "
                "use a comma-separated list such as 10.0.0.0/8,127.0.0.1, or * to trust any client"
            ) from None
    return items


def read_root_path(env: Mapping[str, str]) -> str:
    raw = env.get("ROOT_PATH", "").strip()
    if raw and (not raw.startswith("/") or raw.endswith("/") or " " in raw):
        raise ConfigError(
            f"ROOT_PATH={describe(raw)} is not a URL path prefix: use one that starts with / "
            "and does not end with /, such as /myapp"
        )
    return raw


def read_healthcheck_path(env: Mapping[str, str]) -> str:
    raw = env.get("HEALTHCHECK_PATH", "").strip()
    if raw and (not raw.startswith("/") or any(c.isspace() for c in raw)):
        raise ConfigError(
            f"HEALTHCHECK_PATH={describe(raw)} is not a URL path: use one that starts with /, such as /healthz "
            f"(unset: the image's own {HEALTH_PATH})"
        )
    return raw


def read_server_args(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("SERVER_ARGS", "")
    try:
        return tuple(shlex.split(raw))
    except ValueError as error:
        raise ConfigError(f"SERVER_ARGS={describe(raw)} cannot be split like a shell: {error}") from None


def read_prestart(env: Mapping[str, str], app_dir: Path) -> Path | None:
    """PRESTART names a script that must exist; without it, ./prestart.sh runs if present."""
    raw = env.get("PRESTART", "").strip()
    if not raw:
        default = app_dir / "prestart.sh"
        return default if default.is_file() else None
    script = app_dir / raw
    if not script.is_file():
        raise ConfigError(f"PRESTART={describe(raw)}: there is no such file (looked at {script})")
    return script


def read_tls(env: Mapping[str, str], app_dir: Path) -> Tls | None:
    """TLS_CERTFILE and TLS_KEYFILE together, or neither; TLS_CLIENT_CA only with them.
    The files are loaded here as the server will load them, so a wrong path, an unreadable
    file, a key that does not match or an encrypted key is one line now, not a server crash."""
    names = ("TLS_CERTFILE", "TLS_KEYFILE", "TLS_CLIENT_CA")
    certfile, keyfile, client_ca = (env.get(name, "").strip() for name in names)
    if not (certfile or keyfile or client_ca):
        return None
    if not (certfile and keyfile):
        given = ", ".join(name for name, value in zip(names, (certfile, keyfile, client_ca), strict=True) if value)
        raise ConfigError(
            f"{given} set without {'TLS_KEYFILE' if certfile else 'TLS_CERTFILE'}: HTTPS needs both "
            "TLS_CERTFILE (the certificate chain, PEM) and TLS_KEYFILE (its private key, PEM)"
        )
    tls = Tls(
        certfile=readable_file("TLS_CERTFILE", certfile, app_dir),
        keyfile=readable_file("TLS_KEYFILE", keyfile, app_dir),
        client_ca=readable_file("TLS_CLIENT_CA", client_ca, app_dir) if client_ca else None,
    )
    check_tls_files(tls)
    return tls


def readable_file(name: str, raw: str, app_dir: Path) -> Path:
    path = app_dir / raw  # an absolute path stays as it is
    if not path.is_file():
        raise ConfigError(f"{name}={describe(raw)}: there is no such file")
    if not os.access(path, os.R_OK):
        raise ConfigError(
            f"{name}={describe(raw)} cannot be read by the container's user (uid {os.getuid()}): "
            "mount it readable by that user or its group"
        )
    return path


def check_tls_files(tls: Tls) -> None:
    import ssl  # here: the launcher's start stays small without TLS

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # A password is given so that an encrypted key fails here instead of prompting.
        context.load_cert_chain(tls.certfile, tls.keyfile, password=b"")
    except (ssl.SSLError, ValueError) as error:
        raise ConfigError(
            f"TLS_CERTFILE={str(tls.certfile)!r} and TLS_KEYFILE={str(tls.keyfile)!r} are not a PEM "
            f"certificate and its unencrypted private key ({ssl_reason(error)})"
        ) from None
    if tls.client_ca:
        try:
            context.load_verify_locations(cafile=tls.client_ca)
        except ssl.SSLError as error:
            raise ConfigError(
                f"TLS_CLIENT_CA={str(tls.client_ca)!r} is not a PEM bundle of CA certificates ({ssl_reason(error)})"
            ) from None


def ssl_reason(error: Exception) -> str:
    reason = getattr(error, "reason", None)
    return str(reason or error).replace("_", " ").lower()
