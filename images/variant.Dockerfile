# Every variant, one Dockerfile: the image it builds on plus the packages of its own
# hash-locked requirements-django<A.B>.txt for the Django line, in exactly one layer (the
# pip cache stays in a cache mount).
# bake gives the context images/<variant>/ and fills `parent` with the target below it
# (base, or hypercorn for hypercorn-h3), so shared layers are the same bytes.
FROM parent
USER root
ARG DJANGO_VERSION
# Its packages are then pinned for the project's own installs too (PIP_CONSTRAINT, from the base).
RUN --mount=type=cache,target=/root/.cache/pip --mount=source=requirements-django${DJANGO_VERSION}.txt,target=/tmp/requirements.txt --mount=source=requirements.in,target=/tmp/requirements.in \
    pip install --require-hashes --no-deps -r /tmp/requirements.txt \
 && python -m django_asgi.constraints /tmp/requirements.in
USER ${APP_UID}
ARG ASGI_SERVER
ENV ASGI_SERVER=${ASGI_SERVER}
