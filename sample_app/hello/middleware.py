"""An async-only middleware, as some packages ship: installed when DJANGO_ASYNC_ONLY_MIDDLEWARE=1
(settings.py), to show that every request then takes Django's own ASGI path."""

from collections.abc import Awaitable, Callable

from django.http import HttpRequest, HttpResponse
from django.utils.decorators import async_only_middleware


@async_only_middleware
def mark_async_only(get_response: Callable[[HttpRequest], Awaitable[HttpResponse]]) -> Callable[..., object]:
    async def middleware(request: HttpRequest) -> HttpResponse:
        response = await get_response(request)
        response["X-Async-Only-Middleware"] = "1"
        return response

    return middleware
