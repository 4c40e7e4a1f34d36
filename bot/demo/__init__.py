"""The local demo meeting.

A stand-in Jitsi Meet room served from this process (``room``), a scripted meeting spoken by espeak-ng
(``meeting``, ``speech``) and the runner behind ``jitsi-bot demo`` (``run``). The tests use the same room.
"""
