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

    def record(self, server: str, column: str, value: str) -> None:
        if column not in COLUMNS:
            raise KeyError(f"{column!r} is not a column of the capability matrix")
        seen = self.cells.setdefault((server, column), value)
        if seen != value:
            raise AssertionError(f"{server} {column}: one test saw {seen!r}, another {value!r}")

    def missing(self, servers: list[str]) -> list[tuple[str, str]]:
        return [(server, column) for server in servers for column in COLUMNS if (server, column) not in self.cells]

    def markdown(self, servers: list[str]) -> str:
        header = ["server", *COLUMNS.values()]
        rows = [[f"`{server}`", *(self.cells[server, column] for column in COLUMNS)] for server in servers]
        lines = [header, ["---"] * len(header), *rows]
        return "\n".join("| " + " | ".join(line) + " |" for line in lines) + "\n"


def readme_matrix(text: str | None = None) -> str:
    """The table between the markers in README.md."""
    text = README.read_text() if text is None else text
    try:
        start = text.index(START) + len(START) + 1
        return text[start : text.index(END, start)]
    except ValueError:
        raise AssertionError(f"README.md has no capability matrix between {START!r} and {END!r}") from None


def with_matrix(text: str, table: str) -> str:
    """README text with `table` between the markers."""
    current = readme_matrix(text)
    start = text.index(START) + len(START) + 1
    return text[:start] + table + text[start + len(current) :]


def difference(committed: str, observed: str) -> str:
    return "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            observed.splitlines(keepends=True),
            "README.md (committed)",
            "this test run",
        )
    )
