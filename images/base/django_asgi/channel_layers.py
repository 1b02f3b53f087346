"""Django Channels' channel layers against the image's worker processes.

Channels carries a group message from one consumer to others only through its channel layer.
InMemoryChannelLayer (Channels: "for testing only") holds its groups in one process: with
several worker processes (the image's default is one per CPU), a message sent in one never
reaches the consumers connected to another, and nothing fails or says so. Said at start.
"""

from typing import Any

IN_MEMORY = "channels.layers.InMemoryChannelLayer"


def in_memory_layers(django_settings: Any) -> list[str]:
    """The aliases of CHANNEL_LAYERS whose backend is InMemoryChannelLayer."""
    layers = getattr(django_settings, "CHANNEL_LAYERS", None) or {}
    return [alias for alias, layer in layers.items() if isinstance(layer, dict) and layer.get("BACKEND") == IN_MEMORY]


def notices(django_settings: Any, workers: int) -> list[str]:
    if django_settings is None or workers < 2:
        return []
    return [
        f"CHANNEL_LAYERS[{alias!r}] is {IN_MEMORY} (Channels: for testing only) with {workers} worker "
        "processes: group messages sent in one never reach consumers in another, nor in other replicas; "
        "use channels_redis (channels_redis.core.RedisChannelLayer) or WEB_CONCURRENCY=1"
        for alias in in_memory_layers(django_settings)
    ]
