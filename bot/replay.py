"""`jitsi-bot replay`: the same backend and analysers over recorded audio, one WAV per participant.

The files share one timeline (sample 0 = meeting start), as `join` writes them. Names come from
``--names``, else from ``participants.json`` beside the files (written by `join`), else the file names.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import structlog

from bot.audio import SAMPLE_RATE, WavError, read_wav
from bot.backends.base import ConversationBackend, Participant
from bot.llm import LlmSummary
from bot.outcome import slug
from bot.pipeline import MeetingFacts, Transcriber, finish_meeting
from bot.report.model import Report

log = structlog.get_logger(__name__)
CHUNK_S = 1.0


class ReplayInputError(ValueError):
    """Input files that cannot be replayed; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Track:
    """One participant's audio, converted to 16 kHz mono int16."""

    participant: Participant
    path: Path
    pcm: bytes
    notes: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        """Length of the audio."""
        return len(self.pcm) / 2 / SAMPLE_RATE


def load_track(path: Path, participant: Participant) -> Track:
    """Read a WAV, downmixing stereo and resampling to 16 kHz (soxr) when needed."""
    if not path.is_file():
        raise ReplayInputError(f"{path}: no such file")
    try:
        wav = read_wav(path)
    except WavError as exc:
        raise ReplayInputError(f"{exc} (convert with: sox IN -b 16 OUT.wav)") from None
    notes = []
    audio = wav.mono()
    if wav.channels > 1:
        notes.append(f"{path.name}: {wav.channels} channels mixed down to mono")
    if wav.rate != SAMPLE_RATE:
        import soxr  # type: ignore[import-untyped]

        audio = soxr.resample(audio, wav.rate, SAMPLE_RATE)
        notes.append(f"{path.name}: resampled from {wav.rate} Hz to {SAMPLE_RATE} Hz")
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    return Track(participant, path, pcm, tuple(notes))


def participants_for(paths: list[Path], names: list[str] | None) -> list[Participant]:
    """Participant ids and names for the files (see the module docstring)."""
    if names is not None and len(names) != len(paths):
        raise ReplayInputError(f"--names gives {len(names)} names for {len(paths)} files")
    known: dict[str, tuple[str, str]] = {}
    for folder in {p.parent for p in paths}:
        manifest = folder / "participants.json"
        if manifest.is_file():
            try:
                for entry in json.loads(manifest.read_text(encoding="utf-8"))["participants"]:
                    known[entry["file"]] = (entry["participant_id"], (entry["names"] or [entry["display_name"]])[-1])
            except (ValueError, KeyError, TypeError):
                log.warning("replay.manifest_unreadable", file=str(manifest))
    out: list[Participant] = []
    for i, path in enumerate(paths):
        pid, name = known.get(path.name, (slug(path.stem), path.stem))
        if names is not None:
            name = names[i].strip() or name
        out.append(Participant(id=pid if pid not in {p.id for p in out} else f"{pid}-{i}", name=name))
    return out


async def replay(
    paths: list[Path],
    backend: ConversationBackend,
    out_dir: Path,
    *,
    names: list[str] | None = None,
    title: str | None = None,
    progress: bool = False,
    started_at: datetime | None = None,
    summary: LlmSummary | None = None,
    trackers: dict[str, list[str]] | None = None,
) -> Report:
    """Transcribe and analyse the files; write report.json, transcript.txt and transcript.vtt to ``out_dir``.

    ``summary``, when given, has an LLM write the overview, key points, decisions and action items.
    ``started_at`` is when the meeting began (due dates like "by Thursday" are resolved against its date);
    by default it comes from join's ``participants.json`` beside the files, else from their modification time.
    ``trackers`` (name -> phrases) are looked for in the transcript.
    """
    people = participants_for(paths, names)
    tracks = [load_track(p, who) for p, who in zip(paths, people, strict=True)]
    duration = max(t.seconds for t in tracks)
    started = started_at or _meeting_start(paths, duration)
    facts = MeetingFacts(
        id=f"replay-{started.strftime('%Y%m%dT%H%M%SZ')}", title=title or "Meeting", started_at=started,
        duration_s=duration, warnings=[n for t in tracks for n in t.notes], trackers=dict(trackers or {}),
    )
    transcriber = Transcriber(backend)
    step = int(CHUNK_S * SAMPLE_RATE) * 2
    total = max(len(t.pcm) for t in tracks)
    # Interleave the files second by second, as they were spoken, so decoding follows the timeline.
    for offset in range(0, total, step):
        for t in tracks:
            if offset < len(t.pcm):
                await transcriber.push(t.participant, t.pcm[offset : offset + step], offset / 2 / SAMPLE_RATE)
        if progress:
            print(f"\rreplay: read {offset / 2 / SAMPLE_RATE:6.0f} / {duration:.0f} s", end="", file=sys.stderr)
    audio = {t.participant.id: t.path for t in tracks}
    # No cap on finishing: all the audio was pushed at once, and a replay is there to transcribe all of it.
    shown = asyncio.create_task(_show_backlog(transcriber), name="replay.progress") if progress else None
    try:
        report = await finish_meeting(facts, transcriber, out_dir, audio, summary=summary)
    finally:
        if shown is not None:
            shown.cancel()
            await asyncio.gather(shown, return_exceptions=True)
            print(file=sys.stderr)
    await backend.aclose()
    return report


async def _show_backlog(transcriber: Transcriber) -> None:
    """Say how much speech is still waiting to be transcribed, every second."""
    while True:
        left = sum(transcriber.backlog_s().values())
        print(f"\rreplay: transcribing, {left:6.0f} s of speech left ", end="", file=sys.stderr)
        await asyncio.sleep(1)


def _meeting_start(paths: list[Path], duration_s: float) -> datetime:
    """From join's manifest; else the files' modification time (when recording ended) minus the length."""
    for folder in {p.parent for p in paths}:
        manifest = folder / "participants.json"
        if manifest.is_file():
            try:
                origin = float(json.loads(manifest.read_text(encoding="utf-8"))["origin_ms"])
                return datetime.fromtimestamp(origin / 1000, UTC)
            except (ValueError, KeyError, TypeError):
                pass
    return datetime.fromtimestamp(max(p.stat().st_mtime for p in paths) - duration_s, UTC)
