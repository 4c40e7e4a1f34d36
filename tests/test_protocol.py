import json
import struct

import pytest

from bot.bridge.protocol import (
    HEADER_SIZE,
    Conference,
    ProtocolError,
    Roster,
    TrackStarted,
    decode_frame,
    encode_frame,
    parse_control,
)


def test_frame_round_trip() -> None:
    pcm = struct.pack("<4h", 0, 1000, -1000, 32767)
    data = encode_frame(3, 41, 1_700_000_000_123.5, pcm)
    assert len(data) == HEADER_SIZE + len(pcm)
    frame = decode_frame(data)
    assert (frame.track, frame.seq, frame.capture_ms) == (3, 41, 1_700_000_000_123.5)
    assert (frame.pcm, frame.samples) == (pcm, 4)


def test_header_layout_is_the_documented_one() -> None:
    # The page builds frames by hand (capture.js); this pins the byte layout it must follow.
    data = encode_frame(0x0102, 0x03040506, 1.0, b"\x01\x00")
    assert data[0] == 1 and data[1] == 0
    assert data[2:4] == b"\x02\x01"
    assert data[4:8] == b"\x06\x05\x04\x03"
    assert struct.unpack("<d", data[8:16])[0] == 1.0


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "shorter"),
        (struct.pack("<BBHId", 1, 0, 0, 0, 1.0) + b"\x00" * 3, "odd"),
        (struct.pack("<BBHId", 2, 0, 0, 0, 0.0) + b"\x00\x00", "version"),
        (struct.pack("<BBHId", 1, 0, 0, 0, float("nan")) + b"\x00\x00", "timestamp"),
        (struct.pack("<BBHId", 1, 0, 0, 0, 1.0) + b"\x00" * 20000, "exceeds"),
    ],
)
def test_malformed_frames_are_refused(data: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        decode_frame(data, max_bytes=16384)


def test_encode_refuses_odd_pcm() -> None:
    with pytest.raises(ProtocolError):
        encode_frame(0, 0, 0.0, b"\x00")


def test_control_messages_parse_into_types() -> None:
    msg = parse_control(json.dumps({"type": "track", "track": 2, "track_id": "t", "participant_id": "abc",
                                    "display_name": "Ann", "source_name": "abc-a0", "p2p": False}))
    assert isinstance(msg, TrackStarted) and msg.participant_id == "abc"
    roster = parse_control('{"type": "roster", "participants": [{"id": "a", "name": "A", "hidden": true}]}')
    assert isinstance(roster, Roster) and roster.participants[0].hidden
    conf = parse_control('{"type": "conference", "state": "failed", "error": "conference.destroyed"}')
    assert isinstance(conf, Conference) and conf.error == "conference.destroyed"


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"type": "nope"}',
        '{"type": "track", "track": -1, "track_id": "t", "participant_id": "a"}',
        '{"type": "conference", "state": "exploded"}',
    ],
)
def test_bad_control_messages_are_refused(text: str) -> None:
    with pytest.raises(ProtocolError):
        parse_control(text)
