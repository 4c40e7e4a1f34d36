"""Conversation backends and the factory that picks one from the settings."""

from __future__ import annotations

from bot.backends.base import ConversationBackend
from bot.config import Settings


def create_backend(settings: Settings) -> ConversationBackend:
    """The backend named by ``settings.backend``; heavy libraries load only here."""
    if settings.backend == "local":
        return _local(settings)
    if settings.backend == "symbl":
        from bot.backends.symbl.backend import SymblBackend

        return SymblBackend(settings.symbl, local_fallback=lambda: _local(settings), trackers=settings.trackers)
    raise ValueError(f"unknown backend {settings.backend!r}")


def _local(settings: Settings) -> ConversationBackend:
    from bot.backends.local.models import AsrChoice
    from bot.backends.local.stt import LocalBackend

    a = settings.asr
    choice = AsrChoice.from_profile(a.profile, model=a.model, beam_size=a.beam_size, cpu_threads=a.cpu_threads,
                                    language=a.language, cache_dir=a.cache_dir, allow_download=a.allow_download,
                                    engine=a.engine)
    return LocalBackend(choice)
