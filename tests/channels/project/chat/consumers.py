"""The tutorial's consumer: every message a member sends goes to the room's group. Each
connection first says which container and process it landed on, so that a test can tell
its members are spread over processes and replicas."""

import json
import os
import socket

from channels.generic.websocket import AsyncWebsocketConsumer


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.group = f"chat_{self.scope['url_route']['kwargs']['room']}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send(text_data=json.dumps({"process": f"{socket.gethostname()}:{os.getpid()}"}))

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        message = json.loads(text_data or "{}")["message"]
        await self.channel_layer.group_send(self.group, {"type": "chat.message", "message": message})

    async def chat_message(self, event: dict) -> None:
        await self.send(text_data=json.dumps({"message": event["message"]}))
