"""The notes: a page rendered from a template with the async ORM, a health route for the
platform's checks, and the versions the image runs (Django from this project's lock)."""

import django
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from .models import Note


async def index(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        text = request.POST.get("text", "").strip()[:200]
        if text:
            await Note.objects.acreate(text=text)
        return redirect("index")
    notes = [note async for note in Note.objects.all()[:20]]
    return TemplateResponse(request, "notes/index.html", {"notes": notes})


async def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers and the notes table exists (migrations ran)."""
    try:
        count = await Note.objects.acount()
    except DatabaseError as error:
        return JsonResponse({"status": "unavailable", "error": type(error).__name__}, status=503)
    return JsonResponse({"status": "ok", "notes": count, "database": connection.vendor})


async def versions(request: HttpRequest) -> JsonResponse:
    import psycopg

    return JsonResponse({"django": django.get_version(), "psycopg": psycopg.__version__, "libpq": psycopg.pq.version()})
