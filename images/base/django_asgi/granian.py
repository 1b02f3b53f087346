"""granian's command line, with one option of the image's own: `--preload`.

With it, granian's main process imports the app (django_asgi.app) before it starts its
workers, and forks them instead of spawning fresh interpreters (Python 3.14's default start
method, forkserver, makes granian spawn): the project is imported once, however many
workers there are, a worker granian replaces starts at once, and a project that fails to
import stops the container with one line and exit status 2 instead of a crash loop of
tracebacks. granian looks the app up by name in each worker, and finds it imported.
"""

import multiprocessing
import sys

PRELOAD_FLAG = "--preload"


def main() -> None:
    if PRELOAD_FLAG in sys.argv[1:]:
        sys.argv = [arg for arg in sys.argv if arg != PRELOAD_FLAG]
        multiprocessing.set_start_method("fork", force=True)
        import django_asgi.app  # noqa: F401 (the import is the point: one line and exit 2 if it fails)
    from granian.cli import entrypoint

    sys.argv[0] = "granian"  # click names the program after it in its messages
    entrypoint()


if __name__ == "__main__":
    main()
