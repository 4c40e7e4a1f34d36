"""Page → bridge wire protocol, version 1.

One WebSocket per page at ``ws://127.0.0.1:<port>/audio?token=<token>``. The token is random per process;
a client without it is refused with HTTP 403 before the upgrade.

**Binary messages** carry audio. A fixed 16-byte little-endian header, then PCM::

    offset size type     field
    0      1    uint8    version (1)
    1      1    uint8    flags (0; reserved)
    2      2    uint16   track index (assigned by the page, announced in a ``track`` message first)
    4      4    uint32   sequence number, per track index, starting at 0, +1 per frame
    8      8    float64  capture time of the first sample, milliseconds since the Unix epoch
    16     2n   int16[n] mono PCM at 16,000 Hz, little-endian (n ≥ 1; 20–40 ms per frame)

**Text messages** are JSON objects with a ``type``:

- ``hello`` {version, sample_rate, worklet: bool}: first message after connecting.
- ``track`` {track, track_id, participant_id, display_name, source_name, p2p, seq?}: track index ``track`` now
  carries that participant's audio; ``seq`` (default 0) is the sequence number of the first frame that follows
  (after a reconnect the page announces its live tracks again and goes on counting). A MediaStreamTrack that
  changes owner (SSRC rewriting) or comes back gets a new index, so an index always means one owner.
- ``track_ended`` {track}: no more frames for that index.
- ``roster`` {participants: [{id, name, hidden, bot, phone, moderator}], elsewhere}: everyone else in the
  room, sent on every change while joined; ``elsewhere`` counts people in the main room's breakout rooms.
  ``hidden`` covers recorders/transcribers and people hidden from recorders (never recorded); ``phone`` marks
  dial-in (jigasi) participants, who are people.
- ``dominant_speaker`` {participant_id}.
- ``conference`` {state: joined|left|failed|kicked, error?: str, room?: str, title?: str, breakout?: bool,
  visitor?: bool, waiting_for_host?: bool}: the page's conference state; ``room`` names the conference the event
  is about (``title``: a breakout room's own name).
- ``track_stats`` {tracks: [{track, packets, muted}]}: every few seconds, the RTP packets each announced track
  index received since it was bound (``getStats()`` of the page's peer connections) and whether its owner is
  muted.
- ``chat`` {participant_id, name, text, moderator, private}: a chat message from someone else.
- ``page_error`` {message}: the capture script hit an error (logged, never fatal).

Text fields are clipped to their limits (ids 256, names 512 characters), never refused; a roster entry that is
not well formed is left out, not the roster.

``encode_frame``/``decode_frame`` and ``parse_control`` are pure; malformed input raises ``ProtocolError``.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

VERSION = 1
SAMPLE_RATE = 16_000
HEADER = struct.Struct("<BBHId")
HEADER_SIZE = HEADER.size  # 16


class ProtocolError(ValueError):
    """A message that does not follow the protocol."""


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """One decoded audio message: ``pcm`` holds int16 LE mono samples at 16 kHz."""

    track: int
    seq: int
    capture_ms: float
    pcm: bytes

    @property
    def samples(self) -> int:
        """Number of samples in the frame."""
        return len(self.pcm) // 2


def encode_frame(track: int, seq: int, capture_ms: float, pcm: bytes) -> bytes:
    """Encode an audio frame (the page does the same in capture.js)."""
    if not pcm or len(pcm) % 2:
        raise ProtocolError("PCM must be a non-empty whole number of int16 samples")
    return HEADER.pack(VERSION, 0, track, seq & 0xFFFFFFFF, capture_ms) + pcm


def decode_frame(data: bytes, max_bytes: int = 16384) -> AudioFrame:
    """Decode a binary message, raising ProtocolError when it is malformed or too large."""
    if len(data) > max_bytes:
        raise ProtocolError(f"frame of {len(data)} bytes exceeds {max_bytes}")
    if len(data) < HEADER_SIZE + 2:
        raise ProtocolError(f"frame of {len(data)} bytes is shorter than header + one sample")
    version, _flags, track, seq, capture_ms = HEADER.unpack_from(data)
    if version != VERSION:
        raise ProtocolError(f"unsupported frame version {version}")
    if (len(data) - HEADER_SIZE) % 2:
        raise ProtocolError("PCM payload has an odd number of bytes")
    if not math.isfinite(capture_ms) or capture_ms < 0:  # NaN, ±inf or negative
        raise ProtocolError("invalid capture timestamp")
    return AudioFrame(track=track, seq=seq, capture_ms=capture_ms, pcm=bytes(data[HEADER_SIZE:]))


def _clipper(limit: int) -> BeforeValidator:
    return BeforeValidator(lambda v: v[:limit] if isinstance(v, str) else v)


# Text fields are clipped, never refused: one 600-character display name must not cost its owner's audio or
# freeze the roster. The limits bound what one message can make the bot keep.
Id = Annotated[str, _clipper(256), Field(min_length=1)]
Name = Annotated[str, _clipper(512)]
Short = Annotated[str, _clipper(256)]


class _Msg(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Hello(_Msg):
    """First message of a page connection."""

    type: Literal["hello"]
    version: int
    sample_rate: int = SAMPLE_RATE
    worklet: bool = True


class TrackStarted(_Msg):
    """A track index now carries one participant's audio."""

    type: Literal["track"]
    track: int = Field(ge=0, le=0xFFFF)
    track_id: Short
    participant_id: Id
    display_name: Name = ""
    source_name: Short = ""
    p2p: bool = False
    seq: int = Field(0, ge=0, le=0xFFFFFFFF)  # the sequence number of the first frame that follows


class TrackEnded(_Msg):
    """No more frames will come for a track index."""

    type: Literal["track_ended"]
    track: int = Field(ge=0, le=0xFFFF)


class RosterEntry(_Msg):
    """One other participant as the page sees them."""

    id: Id
    name: Name = ""
    hidden: bool = False
    bot: bool = False
    phone: bool = False
    moderator: bool = False


MAX_ROSTER = 5000  # entries kept from one roster; a bigger one is a runaway page, not a meeting


def _entries(value: Any, limit: int) -> Any:
    """The roster entries that are well formed (at most ``limit``): one bad entry does not cost the roster."""
    if not isinstance(value, list):
        return value
    kept = []
    for raw in value:
        try:
            kept.append(RosterEntry.model_validate(raw))
        except ValidationError:
            continue
        if len(kept) == limit:
            break
    return kept


class Roster(_Msg):
    """Everyone else in the room."""

    type: Literal["roster"]
    participants: Annotated[list[RosterEntry], BeforeValidator(lambda v: _entries(v, MAX_ROSTER))]
    elsewhere: int = Field(0, ge=0)  # people in the main room's breakout rooms


class DominantSpeaker(_Msg):
    """The conference's dominant speaker changed."""

    type: Literal["dominant_speaker"]
    participant_id: Short


class Conference(_Msg):
    """The page's conference state changed."""

    type: Literal["conference"]
    state: Literal["joined", "left", "failed", "kicked"]
    error: Name | None = None
    room: Name = ""
    title: Name = ""
    breakout: bool = False
    visitor: bool = False
    waiting_for_host: bool = False


class TrackCounters(_Msg):
    """RTP counters of one announced track."""

    track: int = Field(ge=0, le=0xFFFF)
    packets: int = Field(ge=0)  # since the index was bound to its owner
    muted: bool = False


class TrackStatsReport(_Msg):
    """Packets received so far per announced track (the silent-slot watchdog reads it)."""

    type: Literal["track_stats"]
    tracks: list[TrackCounters] = Field(max_length=MAX_ROSTER)


class Chat(_Msg):
    """A chat message someone else sent (group or private)."""

    type: Literal["chat"]
    participant_id: Short
    name: Name = ""
    text: Annotated[str, _clipper(4000)]
    moderator: bool = False
    private: bool = False


class PageError(_Msg):
    """The capture script reported an error."""

    type: Literal["page_error"]
    message: Annotated[str, _clipper(2000)] = ""


ControlMessage = Annotated[
    Hello | TrackStarted | TrackEnded | Roster | DominantSpeaker | Conference | PageError | TrackStatsReport | Chat,
    Field(discriminator="type"),
]
_CONTROL: TypeAdapter[ControlMessage] = TypeAdapter(ControlMessage)


def parse_control(text: str) -> ControlMessage:
    """Parse a text message, raising ProtocolError when it is not a known, well-formed message."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"control message is not JSON: {exc.msg}") from None
    try:
        return _CONTROL.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProtocolError(f"bad control message at {where or 'top'}: {first['msg']}") from None
