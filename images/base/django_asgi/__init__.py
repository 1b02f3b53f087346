"""django-asgi: the launcher shared by every image of the family.

`launcher` reads the runtime contract (environment variables) into `config.Settings`,
`servers` turns those settings into one ASGI server's command line, and `app` is the ASGI
application every server loads: the user's Django application behind a lifespan answerer.
"""
