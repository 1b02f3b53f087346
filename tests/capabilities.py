"""The README's capability matrix, made from what the tests observe, never by hand.

Tests marked `@pytest.mark.capability(column)` record what they saw for their server
(`capabilities.record(server, column, value)`). The last test of a complete run renders the
table and compares it with the one committed in README.md; `python3 -m tools matrix`
copies the last complete run's table into the README.
"""

import difflib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
LAST_RUN = ROOT / ".venv" / "capability-matrix.md"
START = "<!-- capability matrix: generated from a test run by `python3 -m tools matrix`; do not edit -->"
END = "<!-- end of capability matrix -->"
# Figures the same run measured: shown beside the matrix, never compared (they vary by machine).
FIGURES_START = "<!-- figures: measured by the last full test run (`python3 -m tools matrix`); do not edit -->"
FIGURES_END = "<!-- end of figures -->"
LAST_FIGURES = ROOT / ".venv" / "figures.md"
FIGURES: dict[str, str] = {
    "drain": "docker stop, 3 s request in flight",
    "crash": "requests failed while a worker was killed",
    "load": "5,000 requests at 64 connections",
    "memory": "memory (RSS) before → after the load",
    "slow_clients": "a request beside 200 slow clients",
    "recycle": "workers over MAX_WORKER_MEMORY replaced under load",
}

# column: heading, in the table's order
COLUMNS: dict[str, str] = {
    "http1": "HTTP/1.1",
    "h2c": "h2c (cleartext)",
    "h2": "h2 over TLS",
    "h3": "HTTP/3",
    "websocket": "WebSocket",
    "tls": "TLS",
    "client_certs": "TLS client certs",
    "respawn": "worker respawn",
    "drain": "graceful drain",
    "reload": "reload",
}


class Matrix:
    """Observations per (server, column); two tests seeing different things is an error."""

    def __init__(self) -> None:
        self.cells: dict[tuple[str, str], str] = {}
        self.figures: dict[tuple[str, str], str] = {}

    def measure(self, server: str, figure: str, value: str) -> None:
        if figure not in FIGURES:
            raise KeyError(f"{figure!r} is not a figure of the README's table")
        self.figures[server, figure] = value

    def figures_markdown(self, servers: list[str]) -> str:
        rows = [
            [f"`{server}`", *(self.figures.get((server, f), "not measured") for f in FIGURES)] for server in servers
        ]
        return markdown_table(["server", *FIGURES.values()], rows)

    def record(self, server: str, column: str, value: str) -> None:
        if column not in COLUMNS:
            raise KeyError(f"{column!r} is not a column of the capability matrix")
        seen = self.cells.setdefault((server, column), value)
        if seen != value:
            raise AssertionError(f"{server} {column}: one test saw {seen!r}, another {value!r}")

    def missing(self, servers: list[str]) -> list[tuple[str, str]]:
        return [(server, column) for server in servers for column in COLUMNS if (server, column) not in self.cells]

    def markdown(self, servers: list[str]) -> str:
        rows = [[f"`{server}`", *(self.cells[server, column] for column in COLUMNS)] for server in servers]
        return markdown_table(["server", *COLUMNS.values()], rows)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines) + "\n"


def readme_matrix(text: str | None = None, start: str = START, end: str = END) -> str:
    """The table between the markers in README.md."""
    text = README.read_text() if text is None else text
    try:
        first = text.index(start) + len(start) + 1
        return text[first : text.index(end, first)]
    except ValueError:
        raise AssertionError(f"README.md has no table between {start!r} and {end!r}") from None


def with_matrix(text: str, table: str, start: str = START, end: str = END) -> str:
    """README text with `table` between the markers."""
    current = readme_matrix(text, start, end)
    first = text.index(start) + len(start) + 1
    return text[:first] + table + text[first + len(current) :]


def difference(committed: str, observed: str) -> str:
    return "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            observed.splitlines(keepends=True),
            "README.md (committed)",
            "this test run",
        )
    )
