"""What the template's production settings read from settings/local.py: a key and hosts."""

SECRET_KEY = "benchmark-only-" + "x" * 40
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
