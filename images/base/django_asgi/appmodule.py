"""Finding and checking the user's ASGI application (`APP_MODULE`).

The launcher checks cheaply that the application's module exists (check(), which runs none
of the project's code), and the server's main process imports it once (load(), through
django_asgi.app), so that a missing module, a missing attribute or an exception raised by
the project's import is one clear line and an exit, not a traceback from every worker.
A project without an asgi.py is served Django's standard ASGI application for the
settings module its environment, manage.py or wsgi.py names (read, never executed).
"""

import ast
import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from .config import AppTarget, ConfigError, describe

DEFAULT_ATTRIBUTE = "application"
DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
MAX_DEPTH = 4  # /app/src/project/asgi.py is depth 3; deeper files are not a project's
# Directories that hold no project code, or someone else's asgi.py.
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "venv", "static", "staticfiles", "media"})


# Django's standard application (django_asgi/standard.py), for projects without asgi.py.
STANDARD_APPLICATION = "django_asgi.standard"
SETTINGS_VARIABLE = "DJANGO_SETTINGS_MODULE"
# Files a project names its settings module in, as os.environ.setdefault(...) does.
SETTINGS_DECLARING_FILES = ("manage.py", "wsgi.py")


def resolve(env: Mapping[str, str], app_dir: Path) -> AppTarget:
    """APP_MODULE when set; else DJANGO_SETTINGS_MODULE's package; else the one asgi.py;
    else Django's standard application for the project's settings module."""
    raw = env.get("APP_MODULE", "").strip()
    if raw:
        return parse_app_module(raw, app_dir)
    from_settings = beside_settings(env.get(SETTINGS_VARIABLE, ""), app_dir)
    if from_settings is not None:
        return from_settings
    return discover(app_dir, env)


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


def discover(app_dir: Path, env: Mapping[str, str]) -> AppTarget:
    found = find_files(app_dir, "asgi.py")
    if len(found) > 1:
        names = ", ".join(str(path) for path in found)
        raise ConfigError(
            f"APP_MODULE is not set and {len(found)} asgi.py files were found ({names}): "
            "set APP_MODULE=module:attribute to choose one"
        )
    if found:
        return target_for(found[0])
    return standard_application(env, app_dir)


def find_files(app_dir: Path, *names: str) -> list[Path]:
    """The project's files of these names, in its own directories (not its dependencies')."""
    found = []
    for directory, subdirs, files in os.walk(app_dir):
        depth = len(Path(directory).relative_to(app_dir).parts)
        subdirs[:] = sorted(
            name for name in subdirs if depth < MAX_DEPTH and not name.startswith(".") and name not in SKIPPED_DIRS
        )
        found += [Path(directory, name) for name in names if name in files]
    return found


def standard_application(env: Mapping[str, str], app_dir: Path) -> AppTarget:
    """Django's own ASGI application, for the settings module DJANGO_SETTINGS_MODULE names,
    else the one the project's manage.py and wsgi.py files name."""
    given = env.get(SETTINGS_VARIABLE, "").strip()
    if given:
        if not DOTTED_NAME.fullmatch(given):
            raise ConfigError(
                f"{SETTINGS_VARIABLE}={describe(given)} is not a dotted module name, such as mysite.settings"
            )
        return standard_target(given, SETTINGS_VARIABLE, app_dir, [])
    declared = declared_settings(app_dir)
    modules = dict.fromkeys(module for module, _ in declared)
    if not modules:
        raise ConfigError(
            f"APP_MODULE is not set, and {app_dir} has no asgi.py and no manage.py or wsgi.py naming "
            f"a settings module: copy your project there, or set {SETTINGS_VARIABLE} (or APP_MODULE)"
        )
    if len(modules) > 1:
        named = ", ".join(f"{module} ({path})" for module, path in declared)
        raise ConfigError(
            f"{app_dir} has no asgi.py, and its files name {len(modules)} settings modules: {named}; "
            f"set {SETTINGS_VARIABLE} to the one to serve"
        )
    module, source = declared[0]
    return standard_target(module, str(source), app_dir, [source.parent, package_root(source)])


def declared_settings(app_dir: Path) -> list[tuple[str, Path]]:
    """(settings module, file) for every manage.py and wsgi.py that sets one."""
    found = []
    for path in find_files(app_dir, *SETTINGS_DECLARING_FILES):
        found += [(module, path) for module in settings_named_in(path)]
    return found


def settings_named_in(path: Path) -> list[str]:
    """The values a file gives DJANGO_SETTINGS_MODULE, read with ast and never run:
    `os.environ.setdefault("DJANGO_SETTINGS_MODULE", "...")` or `os.environ[...] = "..."`."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError):
        return []
    values = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and is_environ(node.func, "setdefault") and len(node.args) == 2:
            name, value = node.args
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Subscript):
            name, value = node.targets[0].slice, node.value
            if not is_environ(node.targets[0].value):
                continue
        else:
            continue
        if constant(name) == SETTINGS_VARIABLE and DOTTED_NAME.fullmatch(constant(value)):
            values.append(constant(value))
    return list(dict.fromkeys(values))


def settings_named_by(target: AppTarget) -> str:
    """The settings module the target's own file names (an asgi.py's setdefault), or ""."""
    return settings_default(target)[0]


def settings_default(target: AppTarget) -> tuple[str, str]:
    """(settings module, the file naming it) that the target is served with when
    DJANGO_SETTINGS_MODULE is unset: its asgi.py's default, or the manage.py or wsgi.py one
    Django's standard application was given; ("", "") when no file names one."""
    if target.settings_module:
        return target.settings_module, target.origin
    path = target.root.joinpath(*target.module.split(".")).with_suffix(".py")
    named = settings_named_in(path) if path.is_file() else []
    return (named[0], str(path)) if named else ("", "")


def is_environ(node: ast.expr, method: str = "") -> bool:
    """`os.environ` or `environ` (after `from os import environ`), or its `method`."""
    if method:
        if not (isinstance(node, ast.Attribute) and node.attr == method):
            return False
        node = node.value
    if isinstance(node, ast.Attribute):
        return node.attr == "environ"
    return isinstance(node, ast.Name) and node.id == "environ"


def constant(node: ast.expr) -> str:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""


def standard_target(module: str, origin: str, app_dir: Path, roots: list[Path]) -> AppTarget:
    """Django's standard application for `module`, from the first root that holds it."""
    candidates = [*roots, *candidate_roots(app_dir)]
    root = next((root for root in candidates if module_file(root, module)), None)
    if root is None:
        top = module.partition(".")[0]
        if importlib.util.find_spec(top) is None:  # not an installed package either
            raise ConfigError(
                f"{SETTINGS_VARIABLE}={describe(module)} (from {origin}): there is no such module "
                f"under {app_dir}; copy your project there or set {SETTINGS_VARIABLE} to its settings"
            )
        root = candidates[0]
    return AppTarget(STANDARD_APPLICATION, DEFAULT_ATTRIBUTE, root, settings_module=module, origin=origin)


def module_file(root: Path, module: str) -> bool:
    path = root.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def target_for(asgi_file: Path) -> AppTarget:
    """The module path of a file: its packages up to the first directory that is none."""
    root = package_root(asgi_file)
    parts = [*asgi_file.parent.relative_to(root).parts, asgi_file.stem]
    return AppTarget(".".join(parts), DEFAULT_ATTRIBUTE, root)


def package_root(path: Path) -> Path:
    """The directory a module file is imported from: above its last package directory."""
    root = path.parent
    while (root / "__init__.py").is_file():
        root = root.parent
    return root


def check(target: AppTarget) -> None:
    """The application's module exists: files under the project's root, found without
    running any of them, or else an installed package (importlib finds it by name)."""
    parts = target.module.split(".")
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        is_package_dir = depth < len(parts) and target.root.joinpath(*parts[:depth]).is_dir()  # namespaces too
        if module_file(target.root, name) or is_package_dir:
            continue
        if depth == 1 and importlib.util.find_spec(name) is not None:
            return  # installed (django_asgi.standard, a project installed with pip): the import tells the rest
        raise ConfigError(
            f"APP_MODULE={describe(str(target))}: there is no module {name!r} "
            f"under {target.root}; set APP_MODULE to your project's module:attribute"
        )


def load(target: AppTarget) -> object:
    """Import the application as a server will, turning each failure into one line."""
    sys.path.insert(0, str(target.root))
    if target.settings_module:
        os.environ[SETTINGS_VARIABLE] = target.settings_module  # for Django's standard application
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
    import traceback  # here: only a failed import needs it

    frames = traceback.extract_tb(error.__traceback__)
    own = [frame for frame in frames if frame.filename.startswith(f"{target.root}/")]
    frame = (own or frames or [None])[-1]
    where = f" (at {frame.filename}:{frame.lineno})" if frame else ""
    message = "".join(traceback.format_exception_only(error)).strip().splitlines()[-1]
    what = f"Django's ASGI application for {target.settings_module}" if target.settings_module else target.module
    return f"importing {what} failed: {message}{where}"


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
