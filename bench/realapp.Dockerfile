# The real-app benchmark's image: the corpus's locallibrary (tests/corpus/locallibrary, an
# open-source project with sync views, the ORM, templates and sessions) built FROM a server
# tag by the `corpus` bake target, with a seeded SQLite database the app's user can write.
ARG BASE
FROM ${BASE}
USER root
ENV DATABASE_URL=sqlite:////var/lib/bench/library.sqlite3
RUN --mount=type=bind,source=realapp_seed.py,target=/tmp/realapp_seed.py \
    install -d -o "${APP_UID}" -g "${APP_UID}" /var/lib/bench \
 && DJANGO_SECRET_KEY=seeding-at-build-time python manage.py migrate --verbosity 0 \
 && DJANGO_SECRET_KEY=seeding-at-build-time python manage.py shell --command "exec(open('/tmp/realapp_seed.py').read())" \
 && chown -R "${APP_UID}:${APP_UID}" /var/lib/bench
USER ${APP_UID}
