# The seed's hand-written setup, built only by the benchmarks to compare against: a plain
# python:X.Y-slim, `pip install` of Django and the server, the project copied in, running as
# root, and the server's command line given at `docker run` (bench/setups.py).
ARG PYTHON_VERSION=3.14
FROM python:${PYTHON_VERSION}-slim
ARG REQUIREMENTS
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ${REQUIREMENTS}
WORKDIR /app
COPY . /app
ENV DJANGO_SETTINGS_MODULE=hello_django.settings
EXPOSE 8000
