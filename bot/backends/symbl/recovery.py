"""After the call: transcripts for participants whose stream failed for good.

They are transcribed from their spooled WAV file, first with Symbl's Async API (``POST /v1/process/audio``,
poll ``GET /v1/job/{id}``, read the conversation's messages), and if that fails too, with the local backend,
so the meeting still gets a transcript. Every step taken is reported as a warning.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import structlog

from bot.audio import read_wav
from bot.backends.base import BackendError, BackendEvent, ConversationBackend, EventKind, Participant, http_error
from bot.backends.symbl.auth import TokenManager
from bot.backends.symbl.models import JobStatus, MessagesResponse, ProcessAudioResponse

log = structlog.get_logger(__name__)


class AsyncApi:
    """The slice of Symbl's Async and Conversation APIs the recovery needs."""

    def __init__(self, base_url: str, tokens: TokenManager, http: aiohttp.ClientSession, *,
                 poll_s: float = 1.0, job_timeout_s: float = 600.0, timeout_s: float = 60.0) -> None:
        self._base = base_url
        self._tokens = tokens
        self._http = http
        self._poll_s = poll_s
        self._job_timeout_s = job_timeout_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def _request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                       data: bytes | None = None, content_type: str | None = None) -> bytes:
        headers = {"Authorization": f"Bearer {await self._tokens.token()}"}
        if content_type:
            headers["Content-Type"] = content_type
        where = f"Symbl {method} {path}"
        try:
            async with self._http.request(method, self._base + path, headers=headers, params=params, data=data,
                                          timeout=self._timeout) as resp:
                body = await resp.read()
                if resp.status >= 400:
                    raise http_error(resp.status, where)
                return body
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise BackendError(f"{where}: {type(exc).__name__}", retryable=True) from None

    async def get(self, path: str) -> bytes:
        """An authenticated GET (Conversation API)."""
        return await self._request("GET", path)

    async def transcribe(self, participant: Participant, wav: Path) -> list[BackendEvent]:
        """Upload one participant's WAV, wait for the job, return its messages as FINAL events."""
        body = await asyncio.to_thread(wav.read_bytes)
        created = ProcessAudioResponse.model_validate_json(await self._request(
            "POST", "/v1/process/audio", params={"name": participant.name or participant.id}, data=body,
            content_type="audio/wav"))
        deadline = time.monotonic() + self._job_timeout_s
        while True:
            job = JobStatus.model_validate_json(await self._request("GET", f"/v1/job/{created.job_id}"))
            if job.status == "completed":
                break
            if job.status == "failed":
                raise BackendError("the Symbl Async API job failed", retryable=False)
            if time.monotonic() > deadline:
                raise BackendError(f"the Symbl Async API job did not finish in {self._job_timeout_s:g} s",
                                   retryable=False)
            await asyncio.sleep(self._poll_s)
        messages = MessagesResponse.model_validate_json(
            await self._request("GET", f"/v1/conversations/{created.conversation_id}/messages"))
        starts = [m.start_time for m in messages.messages if m.start_time is not None]
        origin = min(starts) if starts else None
        events = []
        for m in messages.messages:
            if not m.text.strip():
                continue
            if m.time_offset is not None:
                start = m.time_offset
            elif m.start_time is not None and origin is not None:
                start = (m.start_time - origin).total_seconds()
            else:
                start = 0.0
            length = m.duration if m.duration is not None else (
                (m.end_time - m.start_time).total_seconds() if m.end_time and m.start_time else 0.0)
            events.append(BackendEvent(kind=EventKind.FINAL, participant_id=participant.id, text=m.text.strip(),
                                       start_s=round(start, 3), end_s=round(start + length, 3)))
        return events


async def transcribe_locally(backend: ConversationBackend, participant: Participant, wav: Path) -> list[BackendEvent]:
    """Run a participant's WAV through another backend (the local one) and return its events."""
    data = await asyncio.to_thread(read_wav, wav)
    pcm = (data.mono() * 32767).astype("<i2").tobytes()
    stream = await backend.open_stream(participant)
    events: list[BackendEvent] = []

    async def read() -> None:
        async for e in stream.events():
            events.append(e)

    reader = asyncio.create_task(read(), name="symbl.local_fallback.read")
    step = 32_000
    for i in range(0, len(pcm), step):
        await stream.push_audio(pcm[i : i + step], i / 32_000)
    await stream.end_input()
    await reader
    return events


async def recover(
    failed: list[Participant],
    audio: dict[str, Path],
    api: AsyncApi,
    local: Callable[[], ConversationBackend],
) -> tuple[list[BackendEvent], list[str]]:
    """Transcribe failed participants from their WAV files: Async API first, then the local backend."""
    events: list[BackendEvent] = []
    warnings: list[str] = []
    fallback: ConversationBackend | None = None
    try:
        for who in failed:
            wav = audio.get(who.id)
            if wav is None or not await asyncio.to_thread(wav.is_file):
                warnings.append(f"no audio file to recover participant {who.id} from")
                continue
            try:
                events += await api.transcribe(who, wav)
                warnings.append(f"participant {who.id}: streaming failed; transcribed with the Symbl Async API")
                continue
            except BackendError as exc:
                log.warning("symbl.async_failed", participant_id=who.id, error=str(exc))
                async_error = str(exc)
            fallback = fallback or local()
            events += await transcribe_locally(fallback, who, wav)
            warnings.append(f"participant {who.id}: Symbl streaming and Async API failed ({async_error}); "
                            "transcribed with the local backend")
    finally:
        if fallback is not None:
            await fallback.aclose()
    return events, warnings
