# HAProxy from Debian's packages, for tests/test_swarm.py (no image is pulled): a stand-in for
# the official haproxy image examples/swarm/stack.yaml names, started the same way (the
# configuration at /usr/local/etc/haproxy/haproxy.cfg, as the unprivileged haproxy user).
ARG PYTHON_VERSION=3.14
FROM python:${PYTHON_VERSION}-slim
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends haproxy \
 && rm -rf /var/lib/apt/lists/*
USER haproxy
EXPOSE 8080
CMD ["haproxy", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
