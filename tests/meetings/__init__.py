"""Scripted test meetings (espeak-ng speech), played through ``replay`` and ``join``, and their scoring."""
