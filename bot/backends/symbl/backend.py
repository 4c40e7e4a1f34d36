"""SymblBackend: a Symbl streaming connection per participant, one connection id per meeting."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import structlog

from bot.backends.base import (
    BackendError,
    BackendEvent,
    ConnectOptions,
    ConversationBackend,
    Participant,
    PostCall,
    Recognition,
)
from bot.backends.symbl.auth import TokenManager
from bot.backends.symbl.insights import conversation_insights
from bot.backends.symbl.recovery import AsyncApi, recover
from bot.backends.symbl.stream import StreamOptions, SymblStream
from bot.backends.symbl.trackers import TrackerLog
from bot.config import SymblSettings

log = structlog.get_logger(__name__)


class SymblBackend:
    """The Symbl backend (ConversationBackend).

    Args:
        settings: base URL, credentials and streaming options.
        meeting_title: sent in every start_request.
        http: an aiohttp session to use (owned by the caller); one is created and owned otherwise.
        trackers: tracker name -> vocabulary, sent in every start_request; Symbl's hits fill the report's trackers.
    """

    name = "symbl"

    def __init__(self, settings: SymblSettings, *, meeting_title: str | None = None,
                 http: aiohttp.ClientSession | None = None,
                 local_fallback: Callable[[], ConversationBackend] | None = None,
                 async_poll_s: float = 1.0, trackers: Mapping[str, Sequence[str]] | None = None) -> None:
        if settings.app_id is None or settings.app_secret is None:
            raise ValueError("the symbl backend needs symbl.app_id and symbl.app_secret "
                             "(BOT_SYMBL__APP_ID, BOT_SYMBL__APP_SECRET)")
        self._settings = settings
        self._title = meeting_title
        self._http = http
        self._own_http = http is None
        self._tokens: TokenManager | None = None
        self._local_fallback = local_fallback
        self._async_poll_s = async_poll_s
        self.connection_id = str(uuid.uuid4())
        self.streams: list[SymblStream] = []
        self._recovery_warnings: list[str] = []
        self._trackers = {name: tuple(vocabulary) for name, vocabulary in (trackers or {}).items()}
        self._tracked = TrackerLog()

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    async def open_stream(self, participant: Participant) -> SymblStream:
        """Open a participant's streaming connection (it connects in the background)."""
        s = self._settings
        assert s.app_id is not None and s.app_secret is not None
        if self._tokens is None:
            self._tokens = TokenManager(s.base_url, s.app_id, s.app_secret, session=self._session())
        parts = urlsplit(s.base_url)
        ws_scheme = "wss" if parts.scheme == "https" else "ws"
        options = StreamOptions(
            ws_base=f"{ws_scheme}://{parts.netloc}", path=s.streaming_path, token_in=s.token_in,
            language_code=s.language_code, confidence_threshold=s.confidence_threshold,
            meeting_title=self._title, no_connection_timeout_s=s.no_connection_timeout_s,
            connect=ConnectOptions(max_retry=s.max_retry, retry_interval_s=s.retry_interval_s),
            trackers=tuple(self._trackers.items()),
        )
        stream = SymblStream(participant, self.connection_id, self._tokens, self._session(), options,
                             tracked=self._tracked)
        stream.start()
        self.streams.append(stream)
        return stream

    def recognition(self) -> Recognition:
        """Which service transcribed, and which streams failed."""
        host = urlsplit(self._settings.base_url).netloc
        rec = Recognition(recognizer=f"Symbl streaming API ({host})")
        for s in self.streams:
            if s.error is not None:
                rec.warnings.append(f"Symbl streaming failed for participant {s.participant.id}: {s.error}")
            if s.unresent_s:
                rec.warnings.append(
                    f"Symbl streaming for participant {s.participant.id}: after a reconnect, {s.unresent_s:.0f} s "
                    f"of audio with no transcript yet was not resent (the resend buffer keeps "
                    f"{s.max_resend_s:g} s); words in it may be missing, the recorded WAV has them")
        rec.warnings.extend(self._recovery_warnings)
        return rec

    async def post_call(self) -> PostCall | None:
        """Symbl's own insights for the meeting's conversation (None, with a warning, if unavailable).

        With trackers configured, their live hits come along (the analysers' trackers stand when None).
        """
        conversation = next((s.conversation_id for s in self.streams if s.conversation_id), None)
        if conversation is None or self._tokens is None:
            return None
        names = {s.participant.id: s.participant.name for s in self.streams}
        api = AsyncApi(self._settings.base_url, self._tokens, self._session())
        try:
            insights = await conversation_insights(api, conversation, names)
            if self._trackers:
                insights.trackers = self._tracked.trackers(self._trackers, names)
            return insights
        except (BackendError, ValueError) as exc:
            self._recovery_warnings.append(f"Symbl's insights were unavailable ({str(exc)[:200]}); "
                                           "the bot's own analysers were used")
            return None

    async def recover(self, audio: dict[str, Path]) -> list[BackendEvent]:
        """Transcribe participants whose stream failed: Symbl's Async API, then the local backend."""
        failed = [s.participant for s in self.streams if s.error is not None]
        if not failed:
            return []
        s = self._settings
        assert s.app_id is not None and s.app_secret is not None
        tokens = self._tokens or TokenManager(s.base_url, s.app_id, s.app_secret, session=self._session())
        api = AsyncApi(s.base_url, tokens, self._session(), poll_s=self._async_poll_s)
        events, warnings = await recover(failed, audio, api, self._local_fallback or _no_local)
        self._recovery_warnings.extend(warnings)
        return events

    async def aclose(self) -> None:
        """Close every stream and the HTTP session if this backend owns it."""
        for s in self.streams:
            await s.aclose()
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None


def _no_local() -> ConversationBackend:
    from bot.backends.local.stt import LocalBackend

    return LocalBackend()
