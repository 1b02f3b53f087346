# The cold-start benchmark's heavy real app: the site `wagtail start` makes, on a server tag,
# built the way Wagtail's own Dockerfile builds it (collectstatic at build time), its SQLite
# database migrated at build time, and the standard asgi.py a bare server command needs (the
# template has only wsgi.py). Its settings: the template's production module, plus the
# local.py that module reads for the secret key and the hosts.
ARG BASE
FROM ${BASE}
USER root
RUN --mount=type=bind,source=heavyapp/requirements.txt,target=/tmp/requirements.txt \
    --mount=type=cache,target=/root/.cache/pip \
    pip install --require-hashes -r /tmp/requirements.txt && pip check
ENV DJANGO_SETTINGS_MODULE=mysite.settings.production
RUN wagtail start mysite /app
COPY heavyapp/asgi.py /app/mysite/asgi.py
COPY heavyapp/local.py /app/mysite/settings/local.py
RUN python manage.py collectstatic --noinput --verbosity 0 \
 && python manage.py migrate --noinput --verbosity 0 \
 && chown "${APP_UID}:${APP_UID}" /app/db.sqlite3
USER ${APP_UID}
