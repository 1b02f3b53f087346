"""Bad settings end at the launcher: exit status 2 and one line on stderr, on every server."""

import subprocess

import pytest
from harness import image

pytestmark = pytest.mark.usefixtures("family")

# (environment, what the one line must say)
BAD_SETTINGS = {
    "port-word": ({"PORT": "abc"}, "PORT='abc' is not a TCP port"),
    "port-range": ({"PORT": "70000"}, "PORT='70000' is not a TCP port"),
    "workers-zero": ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY='0' is not a worker count"),
    "workers-word": ({"WEB_CONCURRENCY": "many"}, "WEB_CONCURRENCY='many' is not a worker count"),
    "missing-module": ({"APP_MODULE": "nope.asgi:app"}, "there is no module 'nope'"),
    "missing-attribute": ({"APP_MODULE": "hello_django.asgi:missing"}, "has no attribute 'missing'"),
    "unknown-server": ({"ASGI_SERVER": "tornado"}, "ASGI_SERVER='tornado' is not a server of this image"),
}


@pytest.mark.parametrize("case", sorted(BAD_SETTINGS))
def test_bad_setting_is_one_line_and_exit_2(server: str, case: str) -> None:
    env, message = BAD_SETTINGS[case]
    options = [f"--env={name}={value}" for name, value in env.items()]
    result = subprocess.run(
        ["docker", "run", "--rm", *options, image(f"sample-{server}")],
        capture_output=True,
        text=True,
        timeout=60,  # a guard against a hang, not a timing assertion
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("django-asgi: error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""


def test_the_base_image_says_to_pick_a_server() -> None:
    result = subprocess.run(
        ["docker", "run", "--rm", image("base")], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert result.stderr.startswith("django-asgi: error: ASGI_SERVER is not set")
