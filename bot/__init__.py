"""A notetaker bot for Jitsi Meet."""

__version__ = "0.1.0"
