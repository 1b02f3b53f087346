"""The image's HEALTHCHECK: `python -m django_asgi.healthcheck`, no curl needed.

It connects to the server on this container's PORT (over TLS when TLS_CERTFILE is set,
without verifying the certificate: it is our own) and sends one HTTP request, which must
answer 2xx or 3xx. By default it asks the image's own route, HEALTH_PATH, which the
image's wrapper answers in the server's worker before the project's application: the
server and its workers answer HTTP, and Django never sees the probe (no DisallowedHost, no
log line, no query). With HEALTHCHECK_PATH (such as /healthz) it asks that route of the
project's instead, so a broken app or database turns the container unhealthy; the request
carries PROBE_HEADER, for which the wrapper gives Django a Host its ALLOWED_HOSTS accepts.
Exit 0 healthy, 1 unhealthy, with one line saying why.
"""

import http.client
import os
import ssl
import sys

from .config import HEALTH_PATH, PROBE_HEADER, ConfigError, read_healthcheck_path, read_host, read_port

TIMEOUT_SECONDS = 4.0  # inside the HEALTHCHECK's --timeout
HEALTHY_STATUSES = range(200, 400)


def probe_address(host: str) -> str:
    """Where to reach the server from inside: loopback of the family it listens on."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def connection(env: os._Environ[str] | dict[str, str]) -> http.client.HTTPConnection:
    address, port = probe_address(read_host(env)), read_port(env)
    if env.get("TLS_CERTFILE", "").strip():
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(address, port, timeout=TIMEOUT_SECONDS, context=context)
    return http.client.HTTPConnection(address, port, timeout=TIMEOUT_SECONDS)


def check(env: os._Environ[str] | dict[str, str]) -> str:
    """Why the server is unhealthy, or "" if it is healthy."""
    path = read_healthcheck_path(env)
    headers = {"Host": "localhost", "User-Agent": "django-asgi-healthcheck", **({PROBE_HEADER: "1"} if path else {})}
    client = connection(env)
    try:
        client.request("GET", path or HEALTH_PATH, headers=headers)
        status = client.getresponse().status
    except (OSError, http.client.HTTPException) as error:
        return f"no HTTP answer on port {client.port}: {error or type(error).__name__}"
    finally:
        client.close()
    if status not in HEALTHY_STATUSES:
        return f"{f'HEALTHCHECK_PATH={path}' if path else HEALTH_PATH} answered {status}"
    return ""


def main() -> int:
    try:
        problem = check(os.environ)
    except ConfigError as error:
        problem = str(error)
    print(f"django-asgi healthcheck: {problem or 'healthy'}", file=sys.stderr if problem else sys.stdout)
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
