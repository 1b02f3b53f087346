"""URL configuration for hello_django."""

from django.urls import path

from hello import sync_views, views

urlpatterns = [
    path("", views.index, name="index"),
    path("healthz", views.healthz, name="healthz"),
    path("visits", views.visits, name="visits"),
    path("slow", views.slow, name="slow"),
    path("sync/echo", sync_views.echo),
    path("sync/upload", sync_views.upload),
    path("sync/stream", sync_views.stream),
    path("sync/file", sync_views.stylesheet),
    path("sync/failure", sync_views.failure),
    path("sync/busy", sync_views.busy),
    path("sync/database", sync_views.database),
    path("sync/leak", sync_views.leak),
    path("async/echo", views.echo),
    path("logged", views.logged),
]
