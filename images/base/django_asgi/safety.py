"""Production safety at start: what a project is about to serve that it should not.

Said once, by the process that builds the app (django_asgi.building), after the project's
import configured Django and before any worker serves:

- Django's system checks with the deployment checks included (what `manage.py check
  --deploy` runs), each finding one line with its id; DJANGO_CHECK_DEPLOY=fail refuses to
  start on any, warn (the default) only says them, off skips them. SILENCED_SYSTEM_CHECKS
  silences a finding as it does for manage.py.
- DEBUG on, in a line of its own, unless RELOAD says this is development.

The launcher adds the third, before any import: settings taken from a project file's
default (asgi.py, wsgi.py, manage.py) that look like development settings
(development_settings()).
"""

import time
from dataclasses import dataclass
from typing import Any

# The last part of a settings module that names development settings (config.settings.local,
# mysite.settings_dev, test_settings): cookiecutter-django's asgi.py defaults to `local`.
DEVELOPMENT_WORDS = frozenset({"local", "dev", "devel", "develop", "development", "test", "tests", "testing"})
WARNING = 30  # django.core.checks.WARNING: below it are INFO and DEBUG, which are not problems


@dataclass(frozen=True)
class Examined:
    """What the checks found: said after the import's line, then the refusal if any."""

    summary: str  # for the import's line: "deployment checks: 3 findings in 0.05 s"
    lines: tuple[str, ...] = ()
    refusal: str = ""  # DJANGO_CHECK_DEPLOY=fail with findings: the error the start ends with


def examine(django_settings: Any, *, check_deploy: str, development: bool) -> Examined:
    """The DEBUG line and the deployment checks' findings for a configured Django."""
    if django_settings is None:
        return Examined("deployment checks: not a Django application")
    debug = () if development or not django_settings.DEBUG else (debug_warning(),)
    if check_deploy == "off":
        return Examined("deployment checks: off", debug)
    began = time.monotonic()
    findings = deployment_findings()
    took = time.monotonic() - began
    found = f"{len(findings)} finding{'s' if len(findings) != 1 else ''}" if findings else "none found"
    refusal = refusal_for(len(findings)) if check_deploy == "fail" and findings else ""
    return Examined(f"deployment checks: {found} in {took:.2f} s", (*debug, *findings), refusal)


def debug_warning() -> str:
    return (
        "warning: DEBUG is on: an error page shows anyone the traceback, the settings and the SQL, "
        "and every query is kept in memory; turn DEBUG off in production (RELOAD=1 is for development)"
    )


def deployment_findings() -> list[str]:
    """Every check's finding of WARNING or worse, not silenced, as one line each."""
    from django.core import checks

    try:
        messages = checks.run_checks(include_deployment_checks=True)
    except Exception as error:  # a project's or a package's own check is broken: say it, once
        return [f"check: Django's system checks could not run: {type(error).__name__}: {one_line(str(error))}"]
    return [finding(message) for message in messages if message.level >= WARNING and not message.is_silenced()]


def finding(message: Any) -> str:
    """`check: security.W018 You should not ... HINT: ...`, with the object when there is one."""
    where = f"({label(message.obj)}) " if message.obj is not None else ""
    hint = f" HINT: {one_line(str(message.hint))}" if message.hint else ""
    return f"check: {message.id} {where}{one_line(str(message.msg))}{hint}"


def label(obj: Any) -> str:
    """A model as Django names it (app_label.Model), anything else as it prints."""
    meta = getattr(obj, "_meta", None)
    return str(getattr(meta, "label", None) or obj)


def one_line(text: str) -> str:
    return " ".join(text.split())


def refusal_for(count: int) -> str:
    return (
        f"DJANGO_CHECK_DEPLOY=fail: {count} deployment check finding{'s' if count != 1 else ''} (above): "
        "fix them, add the ids you accept to SILENCED_SYSTEM_CHECKS, or set DJANGO_CHECK_DEPLOY=warn"
    )


def development_settings(module: str, origin: str) -> str:
    """The warning for a settings module a project file's default named (DJANGO_SETTINGS_MODULE
    unset), when its last part looks like development settings; else ""."""
    words = set(module.rpartition(".")[2].lower().split("_"))
    if not words & DEVELOPMENT_WORDS:
        return ""
    return (
        f"warning: the settings are {module}, the default {origin} names, which looks like development "
        "settings: set DJANGO_SETTINGS_MODULE to your production settings module"
    )
