# Redis from Debian's packages, for tests/test_channels.py (no image is pulled): channels_redis's
# server, reachable on the test's own network only, keeping nothing on disk.
ARG PYTHON_VERSION=3.14
FROM python:${PYTHON_VERSION}-slim
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/*
USER redis
EXPOSE 6379
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
