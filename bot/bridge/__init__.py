"""The loopback WebSocket bridge between the meeting page and the Python process."""
