"""Live transcription during `join`: the recorder's frames feed the backend while the meeting runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import structlog

from bot.audio import SAMPLE_RATE
from bot.backends.base import BackendEvent, ConversationBackend, Participant
from bot.bridge.recorder import ParticipantFrame
from bot.deadline import StopDeadline
from bot.llm import LlmSummary
from bot.pipeline import MeetingFacts, Transcriber, finish_meeting
from bot.report.model import Report

log = structlog.get_logger(__name__)


class LiveTranscription:
    """Owns the task that moves frames from the recorder's queue into backend streams.

    Args:
        frames: the recorder's bounded consumer queue.
        backend: opens a stream per participant.
        final_pass_s: time the backend may spend transcribing again from the recordings after the meeting.
        summary: an LLM that writes the report's summary; None: the offline analysers' only.
        on_final: told of each final transcript event as it is decoded, with the speaker's name.
    """

    def __init__(self, frames: asyncio.Queue[ParticipantFrame], backend: ConversationBackend, *,
                 final_pass_s: float = 0.0, summary: LlmSummary | None = None,
                 on_final: Callable[[BackendEvent, str], None] | None = None) -> None:
        self._frames = frames
        self._final_pass_s = final_pass_s
        self._summary = summary
        self.transcriber = Transcriber(backend, on_final=on_final)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Start consuming frames."""
        self._task = asyncio.create_task(self._feed(), name="live.feed")

    async def _feed(self) -> None:
        while True:
            if self._stopping and self._frames.empty():
                return
            try:
                async with asyncio.timeout(0.2):
                    item = await self._frames.get()
            except TimeoutError:
                continue
            who = Participant(item.participant_id, item.display_name)
            await self.transcriber.push(who, item.pcm, item.position_s)

    async def finish(self, facts: MeetingFacts, out_dir: Path, audio: dict[str, Path] | None = None, *,
                     deadline: StopDeadline | None = None) -> Report | None:
        """Drain what capture delivered, finish the streams and write the report files.

        Waiting for transcription is capped by the backlog (``Transcriber.finish_cap_s``) and by ``deadline``;
        the report is written from what was transcribed by then.
        """
        self._stopping = True
        deadline = deadline or StopDeadline()  # never set: no bound
        if self._task is not None:
            try:
                async with deadline.bound():
                    await self._task
            except TimeoutError:
                await self._cancel_feed()
                queued = 0.0
                while not self._frames.empty():
                    queued += len(self._frames.get_nowait().pcm) / 2 / SAMPLE_RATE
                facts.warnings.append(f"{queued:.1f} s of audio still queued when the bot was stopped were not "
                                      "transcribed; the recording has them: jitsi-bot replay")
            except Exception:
                log.exception("live.feed_failed")
                facts.errors.append("live transcription failed; the transcript may be incomplete")
        try:
            return await finish_meeting(facts, self.transcriber, out_dir, audio,
                                        cap_s=self.transcriber.finish_cap_s(), deadline=deadline,
                                        final_pass_s=self._final_pass_s, summary=self._summary)
        except Exception as exc:
            log.exception("live.report_failed")
            facts.errors.append(f"report failed: {type(exc).__name__}: {str(exc)[:300]}")
            return None
        finally:
            await self.transcriber.backend.aclose()

    async def _cancel_feed(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop at once (used when the session is cut short)."""
        await self._cancel_feed()
        await self.transcriber.aclose()
        await self.transcriber.backend.aclose()
