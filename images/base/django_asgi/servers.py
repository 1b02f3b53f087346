"""The per-server table: how each contract setting becomes each server's flags.

This is the only place that knows a server's command line. Every server has one entry per
setting in `SETTINGS`; adding a setting to the contract is one line in each `options`.
An entry gives flags, an ASGI middleware the image's app applies, a refusal (a setting
the server cannot honour safely) or a notice (one it ignores, said at start).
Facts behind the choices: docs/servers.md in the repository, and each server's `--help`.
"""

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

from .config import MEMORY_SAMPLE_SECONDS, MEMORY_SAMPLES, ConfigError, Settings
from .supervisor import LISTEN_FD, QUIC_FD, Plan

Args = tuple[str, ...]

# The ASGI application every server loads: the user's app behind the image's wrapper.
APP_TARGET = "django_asgi.app:application"

# The contract settings each server's table maps, and the variables behind them.
SETTINGS: dict[str, tuple[str, ...]] = {
    "preload": ("PRELOAD",),
    "bind": ("HOST", "PORT"),
    "workers": ("WEB_CONCURRENCY",),
    "log_level": ("LOG_LEVEL",),
    "access_log": ("ACCESS_LOG",),
    "forwarded": ("FORWARDED_ALLOW_IPS",),
    "graceful_timeout": ("GRACEFUL_TIMEOUT",),
    "keep_alive": ("KEEP_ALIVE",),
    "max_requests": ("MAX_REQUESTS",),
    "max_worker_memory": ("MAX_WORKER_MEMORY",),
    "reload": ("RELOAD",),
    "tls": ("TLS_CERTFILE", "TLS_KEYFILE", "TLS_CLIENT_CA"),
}


@dataclass(frozen=True)
class Middleware:
    """An ASGI middleware factory the image's app wraps the user's app in: factory(app, **kwargs)."""

    factory: str  # module:callable
    kwargs: Mapping[str, object]


@dataclass(frozen=True)
class Effect:
    """What one setting does to one server."""

    args: Args = ()
    middleware: tuple[Middleware, ...] = ()
    notice: str = ""  # said at start when the user set the variable


Option = Callable[[Settings], Effect]


def flag(*templates: str) -> Option:
    """Flags formatted from the settings, e.g. flag("--port", "{port}"); nothing for flag()."""
    return lambda s: Effect(tuple(t.format_map(s.template_values()) for t in templates))


NOTHING: Option = flag()


def switch(test: Callable[[Settings], bool], on: Option, off: Option = NOTHING) -> Option:
    """`on` where the settings pass the test, `off` elsewhere."""
    return lambda s: on(s) if test(s) else off(s)


def both(*options: Option) -> Option:
    """Every option's effect, in order."""

    def option(settings: Settings) -> Effect:
        effects = [each(settings) for each in options]
        return Effect(
            args=tuple(arg for effect in effects for arg in effect.args),
            middleware=tuple(m for effect in effects for m in effect.middleware),
            notice="; ".join(effect.notice for effect in effects if effect.notice),
        )

    return option


def ignored(reason: str) -> Option:
    """The server has no such knob; starting anyway is safe, and the start-up line says so."""
    return lambda s: Effect(notice=reason)


def refuse(reason: str) -> Option:
    """Starting would silently do something other than what the user asked for."""

    def option(settings: Settings) -> Effect:
        raise ConfigError(reason)

    return option


def wrap(factory: str, **kwargs: object) -> Option:
    """A middleware; a callable keyword value is computed from the settings."""

    def option(settings: Settings) -> Effect:
        values = {key: value(settings) if callable(value) else value for key, value in kwargs.items()}
        return Effect(middleware=(Middleware(factory, values),))

    return option


def trusted_proxies(settings: Settings) -> bool:
    return bool(settings.forwarded_allow_ips)


def tls(settings: Settings) -> bool:
    return settings.tls is not None


def client_certificates(settings: Settings) -> bool:
    return settings.tls is not None and settings.tls.client_ca is not None


def reloading(settings: Settings) -> bool:
    return settings.reload


def preloading(settings: Settings) -> bool:
    return settings.preloading


def quic(settings: Settings) -> bool:
    return tls(settings) and quic_installed()


@cache
def quic_installed() -> bool:
    """aioquic is what hypercorn[h3] adds: present in the hypercorn-h3 image only."""
    return importlib.util.find_spec("aioquic") is not None


def memory_limited(settings: Settings) -> bool:
    return settings.max_worker_memory > 0


def memory_watch(then: Option) -> Option:
    """MAX_WORKER_MEMORY, except with RELOAD (development): `then`."""
    return switch(
        memory_limited,
        switch(reloading, ignored("not with RELOAD: the reloader's process is never replaced"), then),
    )


# The image's own watch in each worker (django_asgi/memory.py) stops a worker over the limit,
# drained first, for its server to replace: gunicorn's arbiter, or the supervisor.
MEMORY_WATCH = memory_watch(wrap("django_asgi.memory:with_memory_limit", limit_mib=lambda s: s.max_worker_memory))
# granian samples its workers' memory as the image's watch does
GRANIAN_RSS_SAMPLING = ("--rss-sample-interval", str(MEMORY_SAMPLE_SECONDS), "--rss-samples", str(MEMORY_SAMPLES))


def twisted_endpoint_value(value: object) -> str:
    """A value inside a Twisted endpoint string, where : = and \\ are escaped."""
    return str(value).replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def daphne_supervised_endpoint(settings: Settings) -> Effect:
    """The listening socket the supervisor opened, inherited as LISTEN_FD."""
    domain = "INET6" if ":" in settings.host else "INET"
    return Effect(("--endpoint", f"fd:fileno={LISTEN_FD}:domain={domain}"))


def daphne_tls_endpoint(settings: Settings) -> Effect:
    """daphne serves TLS (and HTTP/2 by ALPN) only from a Twisted `ssl:` endpoint."""
    assert settings.tls is not None
    fields = {
        "port": settings.port,
        "interface": settings.host,
        "privateKey": settings.tls.keyfile,
        "certKey": settings.tls.certfile,
    }
    endpoint = ":".join(["ssl", *(f"{key}={twisted_endpoint_value(value)}" for key, value in fields.items())])
    return Effect(("--endpoint", endpoint))


def any_proxy_only(server: str, mechanism: str, then: Option) -> Option:
    """For servers whose proxy-header support cannot be limited to given addresses: `*`
    turns it on, a list of addresses is refused rather than trusted too widely."""

    def option(settings: Settings) -> Effect:
        if settings.forwarded_allow_ips and not settings.trusts_every_proxy:
            raise ConfigError(
                f"FORWARDED_ALLOW_IPS={','.join(settings.forwarded_allow_ips)!r} cannot be honoured: "
                f"{server}'s {mechanism} cannot be limited to given addresses; set * if every "
                "request reaches it through your proxy, or leave it unset"
            )
        return then(settings) if settings.trusts_every_proxy else Effect()

    return option


@dataclass(frozen=True)
class Server:
    program: Args  # the command and the flags this image always passes
    options: Mapping[str, Option]  # one entry for each name in SETTINGS
    multiprocess: bool = True  # False: one process, WEB_CONCURRENCY > 1 is refused
    # RELOAD=1 for a server without a reloader of its own: a whole other command
    reload_command: Callable[[Settings], list[str]] | None = None
    # Servers whose own process management falls short run under django_asgi.supervisor
    # (except with RELOAD): these are the sockets it opens for them ("tcp", "udp").
    supervised_sockets: Callable[[Settings], list[str]] | None = None

    def plan(self, settings: Settings) -> Plan | None:
        """What the supervisor runs: settings.workers copies of the command, or None."""
        if self.supervised_sockets is None or settings.reload:
            return None
        return Plan(
            command=self.command(settings),
            processes=settings.workers,
            host=settings.host,
            port=settings.port,
            graceful_timeout=settings.graceful_timeout,
            drain_delay=settings.drain_delay,
            sockets=self.supervised_sockets(settings),
            preload=settings.preloading,
        )

    def effects(self, settings: Settings) -> list[Effect]:
        return [self.options[name](settings) for name in SETTINGS]

    def command(self, settings: Settings) -> list[str]:
        if settings.reload and self.reload_command:
            return self.reload_command(settings)
        argv = list(self.program)
        for effect in self.effects(settings):
            argv += effect.args
        return [*argv, *settings.server_args, APP_TARGET]

    def middleware(self, settings: Settings) -> list[Middleware]:
        return [m for effect in self.effects(settings) for m in effect.middleware]

    def notices(self, settings: Settings) -> list[str]:
        """What the server will not do of what the user explicitly asked."""
        return [
            f"{'/'.join(variables)}: {effect.notice}"
            for (name, variables), effect in zip(SETTINGS.items(), self.effects(settings), strict=True)
            if effect.notice and settings.explicit.intersection(variables)
        ]


def daphne_runserver(settings: Settings) -> list[str]:
    """Django's runserver, served by daphne (django_asgi.runserver puts "daphne" first)."""
    if settings.tls:
        raise ConfigError(
            "RELOAD=1 and TLS_CERTFILE cannot go together on daphne: its reloader is Django's "
            "runserver, which has no TLS; unset one of them"
        )
    return [
        "python", "-m", "django", "runserver", "--settings", "django_asgi.runserver",
        *(["-6"] if ":" in settings.host else []), settings.bind, *settings.server_args,
    ]  # fmt: skip


def uvicorn_reload(settings: Settings) -> list[str]:
    """uvicorn's own reloader: gunicorn's --reload cannot restart uvicorn workers (its
    reloader thread calls sys.exit in itself: https://github.com/benoitc/gunicorn/issues/2339)."""
    return [
        "uvicorn", "--reload", "--http", "h11", "--host", settings.host, "--port", str(settings.port),
        "--log-level", settings.log_level, "--no-access-log",  # the image's own access log
        "--forwarded-allow-ips", ",".join(settings.forwarded_allow_ips),
        *uvicorn_tls(settings), *settings.server_args, APP_TARGET,
    ]  # fmt: skip


def uvicorn_tls(settings: Settings) -> list[str]:
    if not settings.tls:
        return []
    args = ["--ssl-certfile", str(settings.tls.certfile), "--ssl-keyfile", str(settings.tls.keyfile)]
    if settings.tls.client_ca:
        args += ["--ssl-ca-certs", str(settings.tls.client_ca), "--ssl-cert-reqs", str(CERT_REQUIRED)]
    return args


# ssl.CERT_REQUIRED, as gunicorn's and hypercorn's --cert-reqs take it
CERT_REQUIRED = 2

# daphne's -v: 0 errors only, 1 information, 2 debugging.
DAPHNE_VERBOSITY = {"critical": "0", "error": "0", "warning": "0", "info": "1", "debug": "2"}


# hypercorn took gunicorn's command line: the settings both spell alike.
GUNICORN_STYLE: dict[str, Option] = {
    "bind": flag("--bind", "{bind}"),
    "workers": flag("--workers", "{workers}"),
    "log_level": flag("--log-level", "{log_level}"),
    "access_log": flag(),  # the image's own (django_asgi/accesslog.py); theirs is off by default
    "graceful_timeout": flag("--graceful-timeout", "{graceful_timeout}"),
    "keep_alive": flag("--keep-alive", "{keep_alive}"),
    "max_requests": switch(
        lambda s: s.max_requests > 0,
        flag("--max-requests", "{max_requests}", "--max-requests-jitter", "{max_requests_jitter}"),
    ),
    "max_worker_memory": MEMORY_WATCH,
    "reload": switch(reloading, flag("--reload")),
    "tls": switch(
        tls,
        both(
            flag("--certfile", "{tls_certfile}", "--keyfile", "{tls_keyfile}"),
            switch(client_certificates, flag("--ca-certs", "{tls_client_ca}", "--cert-reqs", str(CERT_REQUIRED))),
        ),
    ),
}


SERVERS: dict[str, Server] = {
    "daphne": Server(
        # daphne's command line, with a server that drains on SIGTERM (django_asgi/daphne.py)
        program=("python", "-m", "django_asgi.daphne"),
        multiprocess=False,  # daphne has no worker option: one Twisted reactor
        reload_command=daphne_runserver,
        # supervised, so that a dead daphne is replaced; with TLS it binds the port itself
        # (Twisted's TLS endpoint cannot take an inherited socket)
        supervised_sockets=lambda s: [] if tls(s) else ["tcp"],
        options={
            "preload": flag(),  # the supervisor imports the app and forks daphne's process
            "bind": switch(tls, daphne_tls_endpoint, daphne_supervised_endpoint),
            "workers": flag(),
            "log_level": lambda s: Effect(("--verbosity", DAPHNE_VERBOSITY[s.log_level])),
            # the image's own access log; daphne's would write to stdout from -v 1 on
            "access_log": flag("--access-log", "/dev/null"),
            "forwarded": any_proxy_only("daphne", "--proxy-headers", flag("--proxy-headers")),
            "graceful_timeout": flag(),  # django_asgi.daphne reads GRACEFUL_TIMEOUT
            "keep_alive": ignored("daphne keeps idle connections by Twisted's own timeout"),
            "max_requests": ignored("daphne is one process and never recycles it"),
            # the supervisor starts another daphne on its socket; with TLS there is none
            "max_worker_memory": switch(
                lambda s: memory_limited(s) and tls(s) and not s.reload,
                refuse(
                    "MAX_WORKER_MEMORY cannot be honoured with TLS on daphne: its TLS endpoint binds the port "
                    "itself, so the port would close while its process is replaced; terminate TLS at a proxy "
                    "in front, or use another server's image"
                ),
                MEMORY_WATCH,
            ),
            "reload": flag(),  # reload_command
            "tls": switch(
                client_certificates,
                refuse(
                    "TLS_CLIENT_CA cannot be honoured: daphne's TLS endpoint cannot require client "
                    "certificates; verify them at a proxy in front, or use another server's image"
                ),
            ),  # the certificate and key are in the bind endpoint
        },
    ),
    "hypercorn": Server(
        # uvloop: +34% requests/s on a Django view over asyncio (docs/servers.md)
        program=("hypercorn", "--worker-class", "uvloop"),
        # hypercorn's own process manager kills requests in flight at SIGTERM with two or
        # more workers and never replaces a dead one: the supervisor runs single-process
        # hypercorns (--workers 0) on its sockets instead. RELOAD keeps hypercorn's own.
        supervised_sockets=lambda s: ["tcp", "udp"] if quic(s) else ["tcp"],
        options={
            **GUNICORN_STYLE,
            "preload": flag(),  # the supervisor imports the app and forks the hypercorns
            "bind": switch(reloading, flag("--bind", "{bind}"), flag("--bind", f"fd://{LISTEN_FD}")),
            "workers": switch(reloading, flag("--workers", "{workers}"), flag("--workers", "0")),
            # hypercorn's documented middleware trusts the nearest hop, not addresses
            "forwarded": any_proxy_only(
                "hypercorn",
                "ProxyFixMiddleware",
                wrap("hypercorn.middleware:ProxyFixMiddleware", mode="legacy", trusted_hops=1),
            ),
            # HTTP/3 beside TLS, on the same port over UDP, where aioquic is installed
            "tls": both(
                GUNICORN_STYLE["tls"],
                switch(
                    quic,
                    both(
                        switch(reloading, flag("--quic-bind", "{bind}"), flag("--quic-bind", f"fd://{QUIC_FD}")),
                        wrap("django_asgi.wrappers:with_lowercase_header_names"),
                    ),
                ),
            ),
        },
    ),
    "uvicorn": Server(
        reload_command=uvicorn_reload,
        program=(
            "gunicorn",
            # the maintained worker (uvicorn.workers.UvicornWorker is deprecated), with h11
            # for its limit on header size (django_asgi/uvicorn_worker.py)
            "--worker-class",
            "django_asgi.uvicorn_worker.UvloopH11Worker",
            # heartbeat files in memory, and no $HOME/.gunicorn control socket (gunicorn
            # >= 25): both would need a writable root filesystem
            "--worker-tmp-dir",
            "/dev/shm",
            "--no-control-socket",
            # a worker crash loop ends the server instead of restarting forever
            "--config",
            "python:django_asgi.gunicorn_hooks",
        ),
        options={
            **GUNICORN_STYLE,
            # the arbiter imports the app once and forks the workers with it
            "preload": switch(preloading, flag("--preload")),
            # uvicorn's proxy headers, limited to these addresses (gunicorn passes them on)
            "forwarded": flag("--forwarded-allow-ips", "{forwarded_allow_ips}"),
            "reload": flag(),  # reload_command: uvicorn's own reloader
        },
    ),
    "granian": Server(
        program=(
            # granian's command line (django_asgi/granian.py: --preload is its own)
            "python",
            "-m",
            "django_asgi.granian",
            # granian's default interface, rsgi, turns every Django request into a 500;
            # asginl is ASGI without lifespan, which Django does not use
            "--interface",
            "asginl",
            # without it a dead worker stops the whole server with exit code 1
            "--respawn-failed-workers",
            # the most an HTTP/1 request's head may take: 64 KiB (granian's own is 408 KiB)
            "--http1-buffer-size",
            "65536",
        ),
        options={
            # the app imported in granian's main process, the workers forked with it
            "preload": switch(preloading, flag("--preload")),
            "bind": flag("--host", "{host}", "--port", "{port}"),
            "workers": flag("--workers", "{workers}"),
            "log_level": flag("--log-level", "{log_level}"),
            "access_log": flag("--no-access-log"),  # the image's own (django_asgi/accesslog.py)
            "forwarded": switch(
                trusted_proxies,
                wrap(
                    "granian.utils.proxies:wrap_asgi_with_proxy_headers",
                    trusted_hosts=lambda s: list(s.forwarded_allow_ips),  # granian's documented helper
                ),
            ),
            "graceful_timeout": flag("--workers-kill-timeout", "{graceful_timeout}"),
            "keep_alive": switch(
                lambda s: s.keep_alive == 0,
                flag("--no-http1-keep-alive"),
                ignored("granian keeps idle HTTP/1 connections by its own timer; 0 turns keep-alive off"),
            ),
            "max_requests": switch(
                lambda s: s.max_requests > 0,
                ignored("granian recycles workers by age (--workers-lifetime) or by MAX_WORKER_MEMORY, not requests"),
            ),
            # granian's own: a new worker first, then the old one stopped; sampled as the
            # image's watch samples, which meanwhile answers with Connection: close
            # (without it, granian's stop loses the requests on their way)
            "max_worker_memory": memory_watch(
                both(
                    flag("--workers-max-rss", "{max_worker_memory}", *GRANIAN_RSS_SAMPLING),
                    wrap(
                        "django_asgi.memory:with_memory_limit",
                        limit_mib=lambda s: s.max_worker_memory,
                        server_stops_it=True,
                    ),
                )
            ),
            "reload": switch(reloading, flag("--reload")),
            "tls": switch(
                tls,
                both(
                    # granian's own minimum is TLS 1.3; the family's is 1.2 on every server
                    flag("--ssl-certificate", "{tls_certfile}", "--ssl-keyfile", "{tls_keyfile}"),
                    flag("--ssl-protocol-min", "tls1.2"),
                    switch(client_certificates, flag("--ssl-ca", "{tls_client_ca}", "--ssl-client-verify")),
                ),
            ),
        },
    ),
}
