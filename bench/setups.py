"""What the benchmarks run: for each server of the default line, our image as shipped, the
seed's hand-written setup for the same server, and our image with one default changed."""

import shlex
from dataclasses import dataclass, field

from tools.ci import bake_print
from tools.locks import lock_path, pinned_version

NAIVE_NAME = "django-asgi-bench-naive"
APP = "hello_django.asgi:application"

# The seed article's CMD lines, as written (gunicorn's "..." filled with the bind and the
# two workers the others use), each in python:X.Y-slim + `pip install` (naive.Dockerfile).
NAIVE_COMMANDS = {
    "daphne": f"daphne -b 0.0.0.0 -p 8000 {APP}",
    "hypercorn": f"hypercorn --bind :8000 --workers 2 {APP}",
    "uvicorn": f"gunicorn {APP} --bind 0.0.0.0:8000 --workers 2 -k uvicorn.workers.UvicornWorker",
    "granian": f"granian --interface asgi --host 0.0.0.0 --port 8000 --workers 2 {APP}",
}
# What the seed installs for each (plain uvicorn: no uvloop, no httptools), pinned here to
# the versions our locks hold, so that the setup is compared and not the release.
NAIVE_PACKAGES = {
    "daphne": {"daphne": "daphne"},
    "hypercorn": {"hypercorn": "hypercorn"},
    "uvicorn": {"gunicorn": "uvicorn", "uvicorn": "uvicorn"},
    "granian": {"granian": "granian"},
}


@dataclass(frozen=True)
class Alternative:
    """One of our defaults, changed: what it is, and the environment that changes it."""

    name: str
    default: str  # what the image does instead
    env: dict[str, str]
    why: str  # why the default stays what it is, given the measurement
    servers: tuple[str, ...] = ("daphne", "hypercorn", "uvicorn", "granian")


ALTERNATIVES = (
    Alternative(
        "2 workers on the 1 CPU",
        "one worker per available CPU",
        {"WEB_CONCURRENCY": "2"},
        why="a second worker on the same CPU only adds context switches and memory: fewer requests and a "
        "worse p99 on every server. This is why WEB_CONCURRENCY defaults to the CPUs the cgroup allows, "
        "not the host's count that os.cpu_count() reports (the seed's `--workers 2` on one CPU pays it).",
        servers=("hypercorn", "uvicorn", "granian"),
    ),
    Alternative(
        "asyncio event loop",
        "uvloop (-k uvloop)",
        {"SERVER_ARGS": "-k asyncio"},
        why="kept, though it varies most between runs: from -2 % to +25 % for uvloop across four runs of "
        "this benchmark on Python 3.14 (the median of this one is above), never a clear loss; the +34 % "
        "once measured outside a container on an older Python did not come back.",
        servers=("hypercorn",),
    ),
    Alternative(
        "asyncio loop (UvicornH11Worker)",
        "uvloop (UvloopH11Worker)",
        {"SERVER_ARGS": "--worker-class uvicorn_worker.UvicornH11Worker"},
        why="kept: ahead in three runs of four (+5 % to +8 %), behind in the noisiest (-9 %). The HTTP "
        "parser stays h11 rather than httptools, a choice for safety, not speed: httptools accepts request "
        "headers of any size (a 200 KB header was served), h11 refuses them.",
        servers=("uvicorn",),
    ),
    Alternative(
        "--interface asgi",
        "--interface asginl (no lifespan)",
        {"SERVER_ARGS": "--interface asgi"},
        why="the same speed within the noise; asginl is kept because Django has nothing to run at "
        "lifespan, so granian need not send it (the image's wrapper would answer it either way).",
        servers=("granian",),
    ),
)


@dataclass(frozen=True)
class Setup:
    """One way to run one server: an image, its environment, and how it is reached."""

    server: str
    kind: str  # "ours", "naive", "host network", "alternative" or "static"
    label: str
    image: str
    env: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    host_network: bool = False
    path: str = "/"  # what wrk asks for (and what must answer 200 before it starts)
    websocket: bool = False  # `path` is a WebSocket echo route (bench/websocket.py loads it; / answers first)
    script: str = ""  # a wrk Lua script that picks each request's path (bench/realapp.lua)

    @property
    def key(self) -> str:
        return f"{self.server}: {self.label}"


@dataclass(frozen=True)
class Line:
    """The default line as bake defines it: its versions and its images' tags."""

    python: str
    django: str
    servers: tuple[str, ...]
    images: dict[str, str]  # "base", each server, "sample-", "example-", "corpus-<server>" -> tag


def default_line() -> Line:
    definition, tests = bake_print("default"), bake_print("test")["target"]
    targets = definition["target"]
    base = next(name for name in definition["group"]["default"]["targets"] if name.startswith("base-"))
    args = targets[base]["args"]
    images = {"base": targets[base]["tags"][0]}
    servers = []
    for name in definition["group"]["default"]["targets"]:
        server = targets[name]["args"].get("ASGI_SERVER")
        if server and name.startswith(f"{server}-py"):  # a server, not an extra flavour
            servers.append(server)
            images[server] = targets[name]["tags"][0]
            images[f"sample-{server}"] = tests[f"sample-{server}"]["tags"][0]
            images[f"example-{server}"] = tests[f"example-{server}"]["tags"][0]
            images[f"corpus-{server}"] = tests[f"corpus-{REAL_PROJECT}-{server}"]["tags"][0]
    return Line(args["PYTHON_VERSION"], args["DJANGO_VERSION"], tuple(servers), images)


def naive_requirements(server: str, django: str) -> list[str]:
    """The seed's `pip install` line for a server, at the versions our locks pin."""
    packages = [f"django=={pinned_version(lock_path('base', django), 'django')}"]
    for package, image in NAIVE_PACKAGES[server].items():
        packages.append(f"{package}=={pinned_version(lock_path(image, django), package)}")
    return packages


def naive_image(server: str, line: Line) -> str:
    return f"{NAIVE_NAME}:{server}-py{line.python}-django{line.django}"


# Ours: migrations off at start, like the naive setups (the index page needs no database).
OURS_ENV = {"DJANGO_MIGRATE": "0"}
# The labels the report compares by.
OURS, SEED, HOST_NETWORK = "ours", "seed's setup", "ours, --network host"


def setups(server: str, line: Line) -> list[Setup]:
    ours = line.images[f"sample-{server}"]
    result = [
        Setup(server, "ours", OURS, ours, dict(OURS_ENV)),
        Setup(
            server,
            "naive",
            SEED,
            naive_image(server, line),
            command=tuple(shlex.split(NAIVE_COMMANDS[server])),
        ),
        Setup(server, "host network", HOST_NETWORK, ours, dict(OURS_ENV), host_network=True),
    ]
    for alternative in ALTERNATIVES:
        if server in alternative.servers:
            result.append(
                Setup(server, "alternative", f"ours, {alternative.name}", ours, {**OURS_ENV, **alternative.env})
            )
    return (
        result
        + static_setups(server, line)
        + websocket_setups(server, line)
        + real_setups(server, line)
        + heavy_setups(server, line)
    )


# WebSocket echo round trips on the sample's /ws/echo (routed before Django in its asgi.py),
# ours against the same image with SYNC_THREADS=0, as it was before sync views had threads.
WEBSOCKET_PATH = "/ws/echo"
WEBSOCKET_OURS, WEBSOCKET_BEFORE = "WebSocket echo: ours", "WebSocket echo: SYNC_THREADS=0 (before)"


def websocket_setups(server: str, line: Line) -> list[Setup]:
    ours = line.images[f"sample-{server}"]
    return [
        Setup(server, "websocket", WEBSOCKET_OURS, ours, dict(OURS_ENV), path=WEBSOCKET_PATH, websocket=True),
        Setup(
            server,
            "websocket",
            WEBSOCKET_BEFORE,
            ours,
            {**OURS_ENV, "SYNC_THREADS": "0"},
            path=WEBSOCKET_PATH,
            websocket=True,
        ),
    ]


# Static files: the example project's collected stylesheet (examples/fly collects at build
# time), through the image's ServeStatic on every server and granian's own mount.
STATIC_FILE = "/static/notes/style.css"
EXAMPLE_ENV = {"DJANGO_SECRET_KEY": "benchmark-only"}
GRANIAN_MOUNT = "--static-path-route /static --static-path-mount /app/staticfiles"


def static_setups(server: str, line: Line) -> list[Setup]:
    example = line.images[f"example-{server}"]
    result = [Setup(server, "static", "a static file, ServeStatic", example, dict(EXAMPLE_ENV), path=STATIC_FILE)]
    if server == "granian":
        env = {**EXAMPLE_ENV, "SERVE_STATIC": "0", "SERVER_ARGS": GRANIAN_MOUNT}
        result.append(Setup(server, "static", "a static file, granian's mount", example, env, path=STATIC_FILE))
    return result


# Side by side: ours and ours with one setting changed, started together on the same CPU and
# loaded together, each by its own wrk: the machine's state, which moves a lone run's
# throughput by +-20 % here, is the same for both, so a cost of a few percent shows.
SIDE_BY_SIDE_KIND = "side by side"


@dataclass(frozen=True)
class SideBySide:
    name: str
    env: dict[str, str]  # what it changes in ours (nothing: the method's own noise)


SIDE_BY_SIDE = (
    SideBySide("ours again (the method's noise)", {}),
    SideBySide("access log, text", {"ACCESS_LOG": "1"}),
    SideBySide("access log, JSON", {"ACCESS_LOG": "1", "LOG_FORMAT": "json"}),
)
ACCESS_LOG_WHY = (
    "The access log is off by default: Fly's proxy, ingress controllers and load balancers usually log requests "
    "already, and errors and start-up lines are logged either way; `ACCESS_LOG=1` turns it on. It is the image's "
    "own (django_asgi/accesslog.py), the same on every server, theirs off: the entries are formatted without "
    "`logging` and the ones finished in one turn of the event loop are written in one system call. The servers' "
    "own access logs cost 6-17 % of throughput here before, hypercorn's the most."
)


def side_by_side_pairs(server: str, line: Line) -> list[tuple[Setup, Setup]]:
    """(ours, ours changed) for each of SIDE_BY_SIDE, to be run at the same time."""
    ours = Setup(server, SIDE_BY_SIDE_KIND, OURS, line.images[f"sample-{server}"], dict(OURS_ENV))
    return [
        (ours, Setup(server, SIDE_BY_SIDE_KIND, change.name, ours.image, {**OURS_ENV, **change.env}))
        for change in SIDE_BY_SIDE
    ]


def alternative_named(label: str) -> Alternative | None:
    """The alternative a setup's label names; None for one measured once and dropped since
    (the .json keeps its runs)."""
    return next((a for a in ALTERNATIVES if label == f"ours, {a.name}"), None)


# The real app: the corpus's locallibrary (sync class-based views, the ORM on SQLite,
# templates, sessions, WhiteNoise), seeded by bench/realapp.Dockerfile, under the workload of
# bench/realapp.lua; against the WSGI setups a project like it would leave behind.
REAL_PROJECT = "locallibrary"
REAL_NAME = "django-asgi-bench-realapp"
REAL_SCRIPT = "bench/realapp.lua"
REAL_PATH = "/catalog/"
REAL_ENV = {"DJANGO_DEBUG": "False", "DJANGO_SECRET_KEY": "benchmark-only-" + "x" * 40}
REAL_BEFORE_SETTING = "SYNC_THREADS=0 (before: Django's own handler)"
REAL_THREADS = {REAL_BEFORE_SETTING: "0", "SYNC_THREADS=1": "1", "SYNC_THREADS=8": "8"}
WSGI = "wsgi"  # the setups' "server" for the WSGI baselines
GUNICORN_WSGI = "gunicorn locallibrary.wsgi, 1 sync worker"
GRANIAN_WSGI = "granian --interface wsgi"
WSGI_COMMANDS = {
    GUNICORN_WSGI: ("uvicorn", "gunicorn locallibrary.wsgi --bind 0.0.0.0:8000 --workers 1"),
    GRANIAN_WSGI: (
        "granian",
        "granian --interface wsgi --host 0.0.0.0 --port 8000 --workers 1 locallibrary.wsgi:application",
    ),
}


def real_label(setting: str) -> str:
    """A real-app setup's label: ours, or ours with one SYNC_THREADS setting."""
    return f"real app: {setting}"


REAL_OURS, REAL_BEFORE = real_label("ours"), real_label(REAL_BEFORE_SETTING)


def realapp_image(server: str, line: Line) -> str:
    return f"{REAL_NAME}:{server}-py{line.python}-django{line.django}"


def real_setup(
    server: str, kind: str, label: str, image: str, env: dict[str, str] | None = None, command: tuple[str, ...] = ()
) -> Setup:
    return Setup(server, kind, label, image, {**REAL_ENV, **(env or {})}, command, path=REAL_PATH, script=REAL_SCRIPT)


def real_setups(server: str, line: Line) -> list[Setup]:
    image = realapp_image(server, line)
    alternatives = [
        real_setup(server, "real alternative", real_label(label), image, {"SYNC_THREADS": threads})
        for label, threads in REAL_THREADS.items()
    ]
    return [real_setup(server, "real", REAL_OURS, image), *alternatives]


def wsgi_setups(line: Line, servers: tuple[str, ...]) -> list[Setup]:
    """The WSGI baselines, each in the image of the server that has the program."""
    return [
        real_setup(WSGI, "wsgi", label, realapp_image(image_server, line), command=tuple(shlex.split(command)))
        for label, (image_server, command) in WSGI_COMMANDS.items()
        if image_server in servers
    ]


# The heavy app, for cold starts only: the site `wagtail start` makes (bench/heavyapp.Dockerfile),
# on each server's tag, as shipped against the server's bare command on the same image: one
# worker, the project's asgi.py, what a hand-written CMD would run.
HEAVY_NAME = "django-asgi-bench-heavyapp"
HEAVY_KINDS = ("heavy", "heavy bare", "heavy unchecked")
HEAVY_OURS, HEAVY_BARE = "heavy app: ours", "heavy app: the bare server command"
# What Django's deployment checks at start cost: ours with them off (DJANGO_CHECK_DEPLOY).
HEAVY_UNCHECKED = "heavy app: ours, deployment checks off"
HEAVY_TARGET = "mysite.asgi:application"
HEAVY_COMMANDS = {
    "daphne": f"daphne --bind 0.0.0.0 --port 8000 {HEAVY_TARGET}",
    "hypercorn": f"hypercorn --bind 0.0.0.0:8000 {HEAVY_TARGET}",
    "uvicorn": f"gunicorn --worker-class uvicorn_worker.UvicornWorker --bind 0.0.0.0:8000 --workers 1 {HEAVY_TARGET}",
    "granian": f"granian --interface asginl --host 0.0.0.0 --port 8000 --workers 1 {HEAVY_TARGET}",
}


def heavy_image(server: str, line: Line) -> str:
    return f"{HEAVY_NAME}:{server}-py{line.python}-django{line.django}"


def heavy_setups(server: str, line: Line) -> list[Setup]:
    image = heavy_image(server, line)
    return [
        Setup(server, "heavy", HEAVY_OURS, image),
        Setup(server, "heavy bare", HEAVY_BARE, image, command=tuple(shlex.split(HEAVY_COMMANDS[server]))),
        Setup(server, "heavy unchecked", HEAVY_UNCHECKED, image, {"DJANGO_CHECK_DEPLOY": "off"}),
    ]
