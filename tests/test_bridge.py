import json
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from bot.audio import read_wav
from bot.bridge.app import STATE, create_app
from bot.bridge.protocol import ControlMessage, encode_frame
from bot.bridge.recorder import MeetingRecorder
from bot.bridge.server import BridgeServer

TOKEN = "secret-token"
ORIGIN_MS = 1_000_000.0


def _pcm(value: int, n: int = 320) -> bytes:
    return np.full(n, value, dtype="<i2").tobytes()


def _track(index: int, pid: str, name: str = "") -> str:
    return json.dumps({"type": "track", "track": index, "track_id": f"mst-{index}", "participant_id": pid,
                       "display_name": name or pid})


@pytest.fixture
def recorder(tmp_path: Path) -> MeetingRecorder:
    return MeetingRecorder(tmp_path / "audio", origin_ms=ORIGIN_MS, consumer_queue_size=4)


@pytest.fixture
def received() -> list[ControlMessage]:
    return []


@pytest.fixture
async def client(aiohttp_client, recorder, received):  # type: ignore[no-untyped-def]
    app = create_app(recorder, lambda conn, msg: received.append(msg), token=TOKEN, max_frame_bytes=4096)
    return await aiohttp_client(app)


async def test_client_without_token_is_refused(client) -> None:  # type: ignore[no-untyped-def]
    for query in ("", "?token=wrong"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await client.ws_connect(f"/audio{query}")
        assert err.value.status == 403
    assert client.server.app[STATE].counters.refused_clients == 2


async def test_frames_are_spooled_per_participant(client, recorder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ws = await client.ws_connect(f"/audio?token={TOKEN}")
    await ws.send_str(json.dumps({"type": "hello", "version": 1}))
    await ws.send_str(_track(0, "aa11", "Ann Lee"))
    await ws.send_str(_track(1, "bb22", "Bob/../x"))
    for seq in range(5):
        t = ORIGIN_MS + seq * 20
        await ws.send_bytes(encode_frame(0, seq, t, _pcm(1000)))
        await ws.send_bytes(encode_frame(1, seq, t, _pcm(-2000)))
    await ws.close()
    recorder.close()
    files = sorted(p.name for p in (tmp_path / "audio").glob("*.wav"))
    assert files == ["Ann-Lee-aa11.wav", "Bob-x-bb22.wav"]
    ann = read_wav(tmp_path / "audio" / "Ann-Lee-aa11.wav").samples[:, 0]
    assert len(ann) == 1600 and set(ann.tolist()) == {1000}
    bob = read_wav(tmp_path / "audio" / "Bob-x-bb22.wav").samples[:, 0]
    assert set(bob.tolist()) == {-2000}
    manifest = json.loads((tmp_path / "audio" / "participants.json").read_text())
    assert {p["participant_id"]: p["captured_samples"] for p in manifest["participants"]} == {"aa11": 1600,
                                                                                              "bb22": 1600}


async def test_malformed_frames_are_refused_and_counted(client, recorder) -> None:  # type: ignore[no-untyped-def]
    ws = await client.ws_connect(f"/audio?token={TOKEN}")
    await ws.send_str(_track(0, "aa11"))
    await ws.send_bytes(b"\x09" * 40)                      # wrong version
    await ws.send_bytes(encode_frame(0, 0, ORIGIN_MS, _pcm(5))[:-1])  # odd payload
    await ws.send_str("{not json")
    await ws.send_bytes(encode_frame(0, 0, ORIGIN_MS, _pcm(5)))       # still accepted afterwards
    await ws.close()
    counters = client.server.app[STATE].counters
    assert (counters.malformed_frames, counters.malformed_control) == (2, 1)
    assert recorder.tracks[(1, 0)].samples == 320


async def test_oversized_frame_is_refused_alone(client, recorder) -> None:  # type: ignore[no-untyped-def]
    ws = await client.ws_connect(f"/audio?token={TOKEN}")
    await ws.send_str(_track(0, "aa11"))
    await ws.send_bytes(encode_frame(0, 0, ORIGIN_MS, _pcm(5, n=4000)))  # 8 KB > max_frame_bytes
    await ws.send_bytes(encode_frame(0, 1, ORIGIN_MS + 20, _pcm(5)))
    await ws.close()
    assert client.server.app[STATE].counters.malformed_frames == 1
    assert recorder.tracks[(1, 0)].samples == 320


async def test_oversized_text_closes_the_socket(aiohttp_client, recorder) -> None:  # type: ignore[no-untyped-def]
    app = create_app(recorder, lambda conn, msg: None, token=TOKEN, max_text_bytes=65536)
    client = await aiohttp_client(app)
    ws = await client.ws_connect(f"/audio?token={TOKEN}")
    await ws.send_str(_track(0, "aa11"))
    await ws.send_str(json.dumps({"type": "page_error", "message": "x" * 70000}))
    msg = await ws.receive()
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    assert recorder.tracks[(1, 0)].ended


async def test_gaps_late_frames_and_unknown_tracks(client, recorder) -> None:  # type: ignore[no-untyped-def]
    ws = await client.ws_connect(f"/audio?token={TOKEN}")
    await ws.send_str(_track(0, "aa11"))
    for seq in (0, 1, 4, 3, 5):
        await ws.send_bytes(encode_frame(0, seq, ORIGIN_MS + seq * 20, _pcm(1)))
    await ws.send_bytes(encode_frame(7, 0, ORIGIN_MS, _pcm(1)))  # no track message for index 7
    await ws.close()
    stats = recorder.tracks[(1, 0)]
    assert (stats.gaps, stats.late, stats.frames) == (2, 1, 5)
    assert recorder.unknown_track_frames == 1


async def test_capture_clock_jumps_count_as_lost_audio(client, recorder) -> None:  # type: ignore[no-untyped-def]
    # Sequence numbers are contiguous, but the audio clock skipped 100 ms between frames 1 and 2: the
    # browser never rendered that audio (a starved audio thread), which no sequence gap can show.
    ws = await client.ws_connect(f"/audio?token={TOKEN}")
    await ws.send_str(_track(0, "aa11"))
    for seq, t in enumerate((0, 20, 140, 160.5)):
        await ws.send_bytes(encode_frame(0, seq, ORIGIN_MS + t, _pcm(1)))
    await ws.close()
    stats = recorder.tracks[(1, 0)]
    assert (stats.gaps, stats.discontinuities, stats.lost_ms) == (0, 1, 100.0)
    assert recorder.summary()["lost_ms"] == 100.0


async def test_lost_and_undelivered_seconds_per_participant(client, recorder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Ann: contiguous sequence numbers, but her audio clock skipped 100 ms, then 10 ms on a second track
    # (a rejoin): 0.11 s the browser never rendered. Ben: frames 2 and 3 (40 ms) never arrived: rendered,
    # not delivered. Kept apart: a starved audio thread is not a dropped frame.
    ws = await client.ws_connect(f"/audio?token={TOKEN}")
    await ws.send_str(_track(0, "aa11", "Ann"))
    await ws.send_str(_track(1, "bb22", "Ben"))
    for seq, t in enumerate((0, 20, 140, 160)):
        await ws.send_bytes(encode_frame(0, seq, ORIGIN_MS + t, _pcm(1)))
    for seq, t in ((0, 0), (1, 20), (4, 80)):
        await ws.send_bytes(encode_frame(1, seq, ORIGIN_MS + t, _pcm(2)))
    await ws.send_str(_track(2, "aa11", "Ann"))
    for seq, t in enumerate((1000, 1030)):
        await ws.send_bytes(encode_frame(2, seq, ORIGIN_MS + t, _pcm(1)))
    await ws.close()
    assert recorder.lost_seconds_by_participant() == {"aa11": 0.11, "bb22": 0.0}
    assert recorder.undelivered_seconds_by_participant() == {"aa11": 0.0, "bb22": 0.04}
    assert recorder.lost_ms() == 110.0
    recorder.close()
    manifest = json.loads((tmp_path / "audio" / "participants.json").read_text())
    assert {p["participant_id"]: (p["gaps"], p["gap_ms"], p["lost_ms"]) for p in manifest["participants"]} == {
        "aa11": (0, 0.0, 110.0), "bb22": (2, 40.0, 0.0)}


async def test_files_share_the_meeting_timeline(client, recorder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ws = await client.ws_connect(f"/audio?token={TOKEN}")
    await ws.send_str(_track(0, "late"))
    await ws.send_bytes(encode_frame(0, 0, ORIGIN_MS + 500, _pcm(9)))     # joined 0.5 s after the start
    await ws.send_str(json.dumps({"type": "track_ended", "track": 0}))
    await ws.send_str(_track(1, "late"))                                  # rejoined (new track) at 2 s
    await ws.send_bytes(encode_frame(1, 0, ORIGIN_MS + 2000, _pcm(9)))
    await ws.close()
    recorder.close()
    data = read_wav(tmp_path / "audio" / "late-late.wav").samples[:, 0]
    assert len(data) == 32000 + 320
    assert not data[:8000].any() and (data[8000:8320] == 9).all()
    assert not data[8320:32000].any() and (data[32000:] == 9).all()


async def test_consumer_queue_never_blocks_and_counts_drops(client, recorder) -> None:  # type: ignore[no-untyped-def]
    ws = await client.ws_connect(f"/audio?token={TOKEN}")
    await ws.send_str(_track(0, "aa11"))
    for seq in range(10):
        await ws.send_bytes(encode_frame(0, seq, ORIGIN_MS + seq * 20, _pcm(seq)))
    await ws.close()
    assert recorder.frames is not None and recorder.frames.qsize() == 4
    assert recorder.consumer_dropped == 6
    oldest = recorder.frames.get_nowait()  # the oldest were dropped; the spool has everything
    assert (oldest.participant_id, oldest.position_s, oldest.pcm) == ("aa11", 6 * 0.02, _pcm(6))
    assert recorder.tracks[(1, 0)].samples == 3200


async def test_control_messages_reach_the_session(client, received) -> None:  # type: ignore[no-untyped-def]
    ws = await client.ws_connect(f"/audio?token={TOKEN}")
    await ws.send_str(json.dumps({"type": "conference", "state": "kicked", "error": "bye"}))
    await ws.send_str(json.dumps({"type": "dominant_speaker", "participant_id": "x"}))
    await ws.close()
    assert [m.type for m in received] == ["conference", "dominant_speaker"]


async def test_server_binds_loopback_on_an_ephemeral_port(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rec = MeetingRecorder(tmp_path)
    async with BridgeServer(rec, lambda c, m: None) as server:
        assert server.port > 0
        assert server.audio_url.startswith(f"ws://127.0.0.1:{server.port}/audio?token=")
        assert "token" not in server.base_url
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.base_url}/healthz") as resp:
                assert (await resp.json())["status"] == "ok"
            async with http.ws_connect(server.audio_url) as ws:
                await ws.send_str(_track(0, "p"))
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await http.ws_connect(server.audio_url.split("?")[0])


async def test_metrics_in_prometheus_text_format(aiohttp_client, recorder) -> None:  # type: ignore[no-untyped-def]
    from bot.bridge.metrics import Metric

    extra = [Metric("participants", "People", "gauge", 3),
             Metric("state", "State", "gauge", 1, (("state", 'in"call'),))]
    client = await aiohttp_client(create_app(recorder, lambda c, m: None, token=TOKEN, metrics=lambda: extra))
    ws = await client.ws_connect(f"/audio?token={TOKEN}")
    await ws.send_str(_track(0, "aa11"))
    await ws.send_bytes(encode_frame(0, 0, ORIGIN_MS, _pcm(1)))
    await ws.send_bytes(encode_frame(0, 3, ORIGIN_MS + 60, _pcm(1)))
    await ws.send_bytes(b"junk")
    resp = await client.get("/metrics")
    text = await resp.text()
    await ws.close()
    assert resp.status == 200 and resp.content_type == "text/plain"
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    values = dict(line.rsplit(" ", 1) for line in lines)
    assert values["jitsi_bot_audio_samples_total"] == "640"
    assert values["jitsi_bot_audio_gap_frames_total"] == "2"
    assert values['jitsi_bot_refused_total{what="frame"}'] == "1"
    assert values["jitsi_bot_participants"] == "3"
    assert values['jitsi_bot_state{state="in\\"call"}'] == "1"
    assert text.count("# TYPE jitsi_bot_refused_total counter") == 1
    assert TOKEN not in text
