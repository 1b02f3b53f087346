# The sample project with psycopg, for tests/test_postgres.py: README.md's pattern for a
# project's own hash-locked requirements, FROM the sample image of a server.
ARG SAMPLE
FROM ${SAMPLE}
USER root
RUN --mount=type=bind,source=requirements.txt,target=/tmp/requirements.txt \
    --mount=type=cache,target=/root/.cache/pip \
    pip install --require-hashes --no-deps -r /tmp/requirements.txt && pip check
USER ${APP_UID}
