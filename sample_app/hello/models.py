from django.db import models


class Visit(models.Model):
    """One request to /visits, written and counted through Django's async ORM."""

    path = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
