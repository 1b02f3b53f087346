"""Real open-source Django projects (tests/corpus/, see its README), none written for these
images and none with an asgi.py: each built FROM every server tag as README.md tells users
(the `corpus` bake targets), run locked down (read-only root, no capabilities, only /tmp
writable) and used as a person would: a page, a static file, the admin login through its
form (CSRF), and a write through the project's own form."""

import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import httpx
import pytest
from harness import (
    LOCKED_DOWN,
    Container,
    bake_definition,
    docker,
    running,
)

ADMIN_PASSWORD = "a-corpus-admin-password-" + uuid.uuid4().hex[:8]
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass(frozen=True)
class Project:
    """How one project is run and what a person does with it."""

    env: dict[str, str]
    page: tuple[str, str]  # a path, and text its page shows
    static: str  # a static file's URL path
    write: Callable[[httpx.Client], None]  # a write through the project's form, checked
    volumes: tuple[str, ...] = ()  # paths a named volume is mounted on


def csrf_token(client: httpx.Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.text[:500]
    match = CSRF_FIELD.search(response.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def post_form(client: httpx.Client, path: str, data: dict[str, str], **kwargs: object) -> httpx.Response:
    token = csrf_token(client, path)
    return client.post(
        path, data={"csrfmiddlewaretoken": token, **data}, headers={"Referer": str(client.base_url) + path}, **kwargs
    )  # type: ignore[arg-type]


def add_author(client: httpx.Client) -> None:
    """locallibrary: a new author through its ModelForm (as the logged-in admin)."""
    surname = f"Corpus{uuid.uuid4().hex[:6]}"
    form = {"first_name": "Ada", "last_name": surname, "date_of_birth": "1815-12-10", "date_of_death": ""}
    response = post_form(client, "/catalog/author/create/", form)
    assert response.status_code == 302, response.text[:2000]
    assert surname in client.get("/catalog/authors/").text


def log_message(client: httpx.Client) -> None:
    """vscode_tutorial: a message through its log form, then shown on the home page."""
    message = f"corpus-{uuid.uuid4().hex[:8]}"
    response = post_form(client, "/log/", {"message": message})
    assert response.status_code == 302, response.text[:2000]
    assert message in client.get("/").text


def upload_file(client: httpx.Client) -> None:
    """django_on_docker: a file through its upload form into MEDIA_ROOT (a volume), then
    served back at MEDIA_URL."""
    content = f"uploaded {uuid.uuid4().hex}\n".encode()
    response = post_form(client, "/", {}, files={"image_file": ("note.txt", content, "text/plain")})
    assert response.status_code == 200, response.text[:2000]
    url = re.search(r'File uploaded at: <a href="([^"]+)"', response.text)
    assert url, response.text[:2000]
    assert client.get(url.group(1)).content == content


PROJECTS = {
    "locallibrary": Project(
        env={"DATABASE_URL": "sqlite:////tmp/library.sqlite3", "DJANGO_DEBUG": "False", "DJANGO_SECRET_KEY": "x" * 50},
        page=("/catalog/", "Local Library Home"),
        static="/static/css/styles.css",
        write=add_author,
    ),
    "vscode_tutorial": Project(
        env={"DATABASE_PATH": "/tmp/tutorial.sqlite3"},
        page=("/", "Home"),
        static="/static/hello/site.css",
        write=log_message,
    ),
    "django_on_docker": Project(
        env={
            "SECRET_KEY": "x" * 50, "DJANGO_ALLOWED_HOSTS": "localhost 127.0.0.1", "DEBUG": "1",
            "SQL_DATABASE": "/tmp/upload.sqlite3",
        },
        page=("/", 'enctype="multipart/form-data"'),
        static="/staticfiles/admin/css/base.css",
        write=upload_file,
        volumes=("/app/mediafiles",),
    ),
}  # fmt: skip


def corpus_image(project: str, server: str) -> str:
    return bake_definition()["target"][f"corpus-{project}-{server}"]["tags"][0]


@pytest.fixture(scope="module", params=sorted(PROJECTS))
def project(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def served(family: None, project: str, server: str) -> Iterator[Container]:
    """The project, locked down, migrated at start, with an admin user and its volumes."""
    spec = PROJECTS[project]
    volumes = [f"django-asgi-corpus-{uuid.uuid4().hex[:12]}" for _ in spec.volumes]
    mounts = [f"--volume={name}:{path}" for name, path in zip(volumes, spec.volumes, strict=True)]
    try:
        with project_container(project, server, *mounts, env={"DJANGO_MIGRATE": "1"}) as container:
            create_admin(container)
            yield container
    finally:
        for name in volumes:
            docker("volume", "rm", "--force", name, check=False)


def project_container(
    project: str, server: str, *options: str, env: dict[str, str], ready: str = ""
) -> AbstractContextManager[Container]:
    """The project on the server's tag, locked down, with its environment and `env`, once it
    answers `ready` (its page by default)."""
    spec = PROJECTS[project]
    variables = [f"--env={name}={value}" for name, value in {**spec.env, **env}.items()]
    return running(corpus_image(project, server), *LOCKED_DOWN, *variables, *options, ready=ready or spec.page[0])


def create_admin(container: Container) -> None:
    docker(
        "exec", "--env", f"DJANGO_SUPERUSER_PASSWORD={ADMIN_PASSWORD}", container.id,
        "python", "manage.py", "createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com",
    )  # fmt: skip


def client_for(container: Container) -> httpx.Client:
    return httpx.Client(base_url=container.url, timeout=20)


def test_the_project_serves_its_page(served: Container, project: str) -> None:
    path, text = PROJECTS[project].page
    response = served.get(path)
    assert response.status_code == 200 and text in response.text, response.text[:1000]


def test_its_static_files_are_served(served: Container, project: str) -> None:
    response = served.get(PROJECTS[project].static)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")


def test_an_admin_logs_in_through_the_form(served: Container) -> None:
    with client_for(served) as client:
        response = post_form(
            client, "/admin/login/", {"username": "admin", "password": ADMIN_PASSWORD, "next": "/admin/"}
        )
        assert response.status_code == 302 and response.headers["location"] == "/admin/", response.text[:2000]
        assert "Site administration" in client.get("/admin/").text


def test_a_write_through_the_projects_form(served: Container, project: str) -> None:
    with client_for(served) as client:
        post_form(client, "/admin/login/", {"username": "admin", "password": ADMIN_PASSWORD, "next": "/admin/"})
        PROJECTS[project].write(client)


def fresh(project: str, server: str, sync_threads: str) -> AbstractContextManager[Container]:
    """The project, locked down and migrated, with nothing written yet."""
    return project_container(project, server, env={"DJANGO_MIGRATE": "1", "SYNC_THREADS": sync_threads})


def seen_by_a_client(response: httpx.Response, container: Container) -> dict[str, object]:
    """A response less what differs by nature between two containers: the date (and an
    Expires of now), the request ID the image made, CSRF tokens, cookie values and expiry
    times, the port each is published on (DEBUG pages)."""
    headers = sorted(
        (name, re.sub(r"=[^;]*", "=…", value) if name == "set-cookie" else value)
        for name, value in response.headers.multi_items()
        if name not in ("date", "expires", "x-request-id")
    )
    body = CSRF_FIELD.sub('name="csrfmiddlewaretoken" value="…"', response.text).replace(str(container.port), "PORT")
    return {"status": response.status_code, "headers": headers, "body": body}


def test_both_request_paths_answer_alike(family: None, project: str, server: str) -> None:
    """The same pages through the image's threads for sync views (the default) and through
    Django's own ASGI handler (SYNC_THREADS=0), each in a fresh container: a page, a static
    file, the admin's login form, a page that does not exist, a form POST without its CSRF
    token."""
    spec = PROJECTS[project]
    requests = [("GET", spec.page[0]), ("GET", spec.static), ("GET", "/admin/login/"), ("GET", "/no/such/page/")]
    with fresh(project, server, "4") as on_threads, fresh(project, server, "0") as on_django:
        for method, path in [*requests, ("POST", "/admin/login/")]:
            answers = [
                seen_by_a_client(httpx.request(method, container.url + path, timeout=20), container)
                for container in (on_threads, on_django)
            ]
            assert answers[0]["status"] in (200, 403, 404), answers[0]
            assert answers[0] == answers[1], (method, path)


def test_the_start_up_line_says_where_the_settings_came_from(served: Container, project: str) -> None:
    settings_module = next(
        line for line in served.stderr().splitlines() if "serving Django's ASGI application for" in line
    )
    assert "(no asgi.py; settings from /app/manage.py)" in settings_module


def test_the_health_check_is_healthy_and_silent(served: Container) -> None:
    """The image's probe never reaches the project: not one line in its logs from probes."""
    before = served.logs()
    for _ in range(3):
        result = docker("exec", served.id, "python", "-m", "django_asgi.healthcheck")
        assert result.strip() == "django-asgi healthcheck: healthy"
    time.sleep(0.5)  # let a log line the probes might cause reach docker's log
    assert served.logs() == before


def test_without_a_volume_an_unwritable_media_root_is_said_at_start(family: None, server: str) -> None:
    with project_container("django_on_docker", server, env={}, ready="/-/health") as container:
        assert (
            "django-asgi: notice: MEDIA_ROOT /app/mediafiles is not writable by uid 10001: uploads will fail; "
            "mount a volume there"
        ) in container.stderr()
