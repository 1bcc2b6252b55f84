"""Twilio's face: the signed voice and status webhooks, the media-stream WebSocket, and
the REST calls a live call needs."""
