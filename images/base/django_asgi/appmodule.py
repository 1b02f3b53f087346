"""Finding and checking the user's ASGI application (`APP_MODULE`).

The launcher imports the application once before it starts the server, so that a missing
module or attribute is one clear line and an exit, not a traceback from every worker.
"""

import importlib
import os
import re
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path

from .config import AppTarget, ConfigError, describe

DEFAULT_ATTRIBUTE = "application"
DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
MAX_DEPTH = 4  # /app/src/project/asgi.py is depth 3; deeper files are not a project's
# Directories that hold no project code, or someone else's asgi.py.
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "venv", "static", "staticfiles", "media"})


def resolve(env: Mapping[str, str], app_dir: Path) -> AppTarget:
    """APP_MODULE when set; else DJANGO_SETTINGS_MODULE's package; else the one asgi.py."""
    raw = env.get("APP_MODULE", "").strip()
    if raw:
        return parse_app_module(raw, app_dir)
    from_settings = beside_settings(env.get("DJANGO_SETTINGS_MODULE", ""), app_dir)
    if from_settings is not None:
        return from_settings
    return discover(app_dir)


def parse_app_module(raw: str, app_dir: Path) -> AppTarget:
    module, _, attribute = raw.partition(":")
    attribute = attribute or DEFAULT_ATTRIBUTE
    if not DOTTED_NAME.fullmatch(module) or not DOTTED_NAME.fullmatch(attribute):
        raise ConfigError(
            f"APP_MODULE={describe(raw)} is not module:attribute: use dotted Python names, "
            "such as mysite.asgi:application"
        )
    return AppTarget(module, attribute, app_dir)


def beside_settings(settings_module: str, app_dir: Path) -> AppTarget | None:
    """`mysite.settings` names the package whose asgi.py to use, when that file exists."""
    package, _, _ = settings_module.strip().rpartition(".")
    if not package or not DOTTED_NAME.fullmatch(package):
        return None
    for root in candidate_roots(app_dir):
        if root.joinpath(*package.split("."), "asgi.py").is_file():
            return AppTarget(f"{package}.asgi", DEFAULT_ATTRIBUTE, root)
    return None


def candidate_roots(app_dir: Path) -> list[Path]:
    """The project directory and its `src/` layout, where packages are imported from."""
    return [app_dir, app_dir / "src"]


def discover(app_dir: Path) -> AppTarget:
    found = find_asgi_files(app_dir)
    if not found:
        raise ConfigError(
            f"APP_MODULE is not set and no asgi.py was found under {app_dir}: copy your "
            "project there or set APP_MODULE=module:attribute"
        )
    if len(found) > 1:
        names = ", ".join(str(path) for path in found)
        raise ConfigError(
            f"APP_MODULE is not set and {len(found)} asgi.py files were found ({names}): "
            "set APP_MODULE=module:attribute to choose one"
        )
    return target_for(found[0])


def find_asgi_files(app_dir: Path) -> list[Path]:
    found = []
    for directory, subdirs, files in os.walk(app_dir):
        depth = len(Path(directory).relative_to(app_dir).parts)
        subdirs[:] = sorted(
            name for name in subdirs if depth < MAX_DEPTH and not name.startswith(".") and name not in SKIPPED_DIRS
        )
        if "asgi.py" in files:
            found.append(Path(directory, "asgi.py"))
    return found


def target_for(asgi_file: Path) -> AppTarget:
    """The module path of a file: its packages up to the first directory that is none."""
    root = asgi_file.parent
    parts = [asgi_file.stem]
    while (root / "__init__.py").is_file():
        parts.insert(0, root.name)
        root = root.parent
    return AppTarget(".".join(parts), DEFAULT_ATTRIBUTE, root)


def load(target: AppTarget) -> object:
    """Import the application as a server will, turning each failure into one line."""
    sys.path.insert(0, str(target.root))
    try:
        module = importlib.import_module(target.module)
        load_urlconf()  # a broken urls.py or view module is reported like a broken app
    except ModuleNotFoundError as error:
        if error.name and (target.module + ".").startswith(error.name + "."):
            raise ConfigError(
                f"APP_MODULE={describe(str(target))}: there is no module {error.name!r} "
                f"under {target.root}; set APP_MODULE to your project's module:attribute"
            ) from None
        raise ConfigError(failed_import(target, error)) from None
    except Exception as error:  # the user's code raised while importing: say where, once
        raise ConfigError(failed_import(target, error)) from None
    application = getattr(module, target.attribute, None)
    if application is None:
        raise ConfigError(
            f"APP_MODULE={describe(str(target))}: module {target.module} has no attribute "
            f"{target.attribute!r}; Django projects name it 'application'"
        )
    if not callable(application):
        raise ConfigError(
            f"APP_MODULE={describe(str(target))}: {target.attribute!r} is a "
            f"{type(application).__name__}, not an ASGI application"
        )
    return application


def failed_import(target: AppTarget, error: BaseException) -> str:
    """One line for an exception raised while importing: what, and the user's frame it came
    from (the last one in the project, else the last one at all)."""
    frames = traceback.extract_tb(error.__traceback__)
    own = [frame for frame in frames if frame.filename.startswith(f"{target.root}/")]
    frame = (own or frames or [None])[-1]
    where = f" (at {frame.filename}:{frame.lineno})" if frame else ""
    message = "".join(traceback.format_exception_only(error)).strip().splitlines()[-1]
    return f"importing {target.module} failed: {message}{where}"


def load_urlconf() -> None:
    """Import Django's URLconf, and so the views, now rather than at the first request.

    A broken urls.py or view module then stops the start with one line instead of failing
    requests; the first request does not pay for the imports; and reloaders that watch the
    modules a process has imported at start (hypercorn's) see the views too.
    """
    if "django" not in sys.modules:
        return  # not a Django application
    from django.conf import settings

    if settings.configured:
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018 (the import is the point)
