"""URL configuration for hello_django."""

from django.urls import path

from hello import views

urlpatterns = [
    path("", views.index, name="index"),
    path("healthz", views.healthz, name="healthz"),
    path("visits", views.visits, name="visits"),
    path("slow", views.slow, name="slow"),
]
