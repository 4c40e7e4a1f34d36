"""The Symbl double (tests/doubles/symbl.py) speaks the protocol in shared/docs/SYMBL.md.

Only plain aiohttp clients here, no bot code besides the recognizer. Most tests use ``ToneRecognizer``: it
decodes instantly and deterministically (a phrase per tone frequency), so these tests check the protocol,
not speech recognition, and run in well under a second each. One test (marked ``asr``) feeds espeak-ng
speech through the real offline Whisper recognizer to show the double transcribes what it receives.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
import uuid
import wave
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import numpy as np
import pytest

from bot.backends.local.models import Decoded
from tests.doubles.symbl import SymblDouble

RATE = 16000
HELLO_HZ, QUESTION_HZ, ACTION_HZ = 300.0, 440.0, 660.0
PHRASES = {
    HELLO_HZ: "hello world",
    QUESTION_HZ: "can we start with the budget?",
    ACTION_HZ: "I will send the budget report by Friday",
}


class ToneRecognizer:
    """A stand-in for Whisper: the phrase of the strongest tone in PHRASES, "" for near-silence."""

    name = "tone"

    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []  # (samples, dtype) per decode

    def decode(self, audio: np.ndarray, hints: str | None = None) -> Decoded:
        self.calls.append((len(audio), str(audio.dtype)))
        if not len(audio) or float(np.sqrt(np.mean(audio**2))) < 0.005:
            return Decoded(text="")
        spectrum = np.abs(np.fft.rfft(audio))
        hz = float(np.argmax(spectrum) * RATE / len(audio))
        best = min(PHRASES, key=lambda f: abs(f - hz))
        return Decoded(text=PHRASES[best])


def tone(hz: float, seconds: float, amp: float = 0.3, rate: int = RATE) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * hz * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def silence(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.zeros(int(rate * seconds), np.float32)


def pcm(x: np.ndarray) -> bytes:
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def frames(data: bytes, size: int = 8192) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def start_request(user_id: str = "p1", name: str = "Ann", **extra: Any) -> dict[str, Any]:
    req: dict[str, Any] = {
        "type": "start_request",
        "insightTypes": ["question", "action_item", "follow_up"],
        "config": {"confidenceThreshold": 0.5, "languageCode": "en-US", "meetingTitle": "Weekly", "sentiment": True,
                   "speechRecognition": {"encoding": "LINEAR16", "sampleRateHertz": RATE}},
        "speaker": {"userId": user_id, "name": name},
    }
    req.update(extra)
    return req


@pytest.fixture
async def symbl() -> AsyncIterator[SymblDouble]:
    async with SymblDouble(ToneRecognizer()) as double:
        yield double


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def token_for(http: aiohttp.ClientSession, symbl: SymblDouble) -> str:
    async with http.post(f"{symbl.base_url}/oauth2/token:generate",
                         json={"type": "application", "appId": symbl.app_id, "appSecret": symbl.app_secret}) as r:
        assert r.status == 200
        return str((await r.json())["accessToken"])


async def connect(http: aiohttp.ClientSession, symbl: SymblDouble, connection_id: str, token: str, *,
                  via: str = "header", path: str = "/v1/streaming") -> aiohttp.ClientWebSocketResponse:
    url = f"{symbl.ws_base_url}{path}/{connection_id}"
    if via == "header":
        return await http.ws_connect(url, headers={"X-API-KEY": token})
    return await http.ws_connect(url, params={"access_token": token})


async def receive(ws: aiohttp.ClientWebSocketResponse, until: Callable[[dict[str, Any]], bool],
                  timeout: float = 10.0) -> list[dict[str, Any]]:
    """JSON messages up to and including the first one ``until`` accepts."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, (msg, got)
            data = json.loads(msg.data)
            got.append(data)
            if until(data):
                return got


def kind(data: dict[str, Any]) -> str:
    """``message.type`` for the "message" envelope, else the top-level type."""
    return str(data["message"]["type"]) if data["type"] == "message" else str(data["type"])


def is_(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda d: kind(d) == name


async def started(ws: aiohttp.ClientWebSocketResponse, request: dict[str, Any]) -> str:
    await ws.send_json(request)
    got = await receive(ws, is_("recognition_started"))
    assert [kind(d) for d in got] == ["conversation_created", "started_listening", "recognition_started"]
    assert got[0]["message"]["data"]["conversationId"] == got[2]["message"]["data"]["conversationId"]
    return str(got[0]["message"]["data"]["conversationId"])


async def send_audio(ws: aiohttp.ClientWebSocketResponse, x: np.ndarray) -> None:
    for f in frames(pcm(x)):
        await ws.send_bytes(f)


# ---------------------------------------------------------------------------------------------- auth


async def test_token_generation_ok_cached_401_and_injected_failure(http: aiohttp.ClientSession) -> None:
    async with SymblDouble(ToneRecognizer(), token_ttl_s=600, slow_s=0.2) as symbl:
        url = f"{symbl.base_url}/oauth2/token:generate"
        body = {"type": "application", "appId": symbl.app_id, "appSecret": symbl.app_secret}
        t0 = time.monotonic()
        async with http.post(url, json=body) as r:
            assert r.status == 200
            first = await r.json()
        assert time.monotonic() - t0 >= 0.2  # slow_s delays REST replies
        assert first["expiresIn"] == 600
        claims = json.loads(base64.urlsafe_b64decode(first["accessToken"].split(".")[1] + "=="))
        assert claims["exp"] - time.time() == pytest.approx(600, abs=5)  # a JWT with an exp claim (§1.1)
        await asyncio.sleep(1.1)
        async with http.post(url, json=body) as r:
            again = await r.json()
        # "returns the token with the remaining expiration time"
        assert again["accessToken"] == first["accessToken"] and again["expiresIn"] < 600
        async with http.post(url, json={**body, "appSecret": "wrong"}) as r:
            assert r.status == 401
        symbl.fail_token_with = 503
        async with http.post(url, json=body) as r:
            assert r.status == 503
        assert [(c.method, c.path, c.status) for c in symbl.calls] == [
            ("POST", "/oauth2/token:generate", s) for s in (200, 200, 401, 503)]


async def test_ws_handshake_auth_via_header_query_and_refusals(symbl: SymblDouble,
                                                               http: aiohttp.ClientSession) -> None:
    token = await token_for(http, symbl)
    ws = await connect(http, symbl, "conn-header", token, via="header", path="/v1/realtime/insights")
    await started(ws, start_request())
    await ws.close()
    ws = await connect(http, symbl, "conn-query", token, via="query")
    await started(ws, start_request())
    await ws.close()
    assert symbl.auth_methods == ["header", "query"]
    assert [r.path for r in symbl.records] == ["/v1/realtime/insights/conn-header", "/v1/streaming/conn-query"]
    # the browser JS SDK's form: the token as the WebSocket subprotocol (§1.2)
    ws = await http.ws_connect(f"{symbl.ws_base_url}/v1/streaming/conn-proto", protocols=(token,))
    assert ws.protocol == token
    await ws.close()
    assert symbl.auth_methods == ["header", "query", "subprotocol"]

    for bad in (None, "not-a-token"):
        headers = {} if bad is None else {"X-API-KEY": bad}
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await http.ws_connect(f"{symbl.ws_base_url}/v1/streaming/conn-bad", headers=headers)
        assert exc.value.status == 401
    symbl.ws_fail_with, symbl.ws_fail_count = 429, 1
    with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
        await connect(http, symbl, "conn-busy", token)
    assert exc.value.status == 429
    ws = await connect(http, symbl, "conn-busy", token)  # only the first handshake was refused
    await ws.close()
    assert [c.status for c in symbl.calls if c.path.startswith("/v1/")] == [101, 101, 101, 401, 401, 429, 101]
    symbl.revoke_tokens()
    with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
        await connect(http, symbl, "conn-revoked", token, via="query")
    assert exc.value.status == 401


# ---------------------------------------------------------------------------------------------- streaming


async def test_lifecycle_order_and_shapes(symbl: SymblDouble, http: aiohttp.ClientSession) -> None:
    token = await token_for(http, symbl)
    ws = await connect(http, symbl, "meeting-1", token)
    request = start_request(speaker={"userId": "p1", "name": "Ann", "peerId": "abc"}, noConnectionTimeout=60)
    conversation_id = await started(ws, request)
    assert symbl.start_requests == [request]
    await send_audio(ws, np.concatenate([silence(0.3), tone(QUESTION_HZ, 1.0), silence(1.0)]))
    got = await receive(ws, is_("topic_response"))
    assert [kind(d) for d in got] == ["recognition_result", "message_response", "insight_response", "topic_response"]
    result = got[0]["message"]
    assert result["isFinal"] is True
    assert result["punctuated"]["transcript"] == "Can we start with the budget?"
    alt = result["payload"]["raw"]["alternatives"][0]
    assert alt["transcript"] == "can we start with the budget?" and 0 < alt["confidence"] <= 1
    first, last = alt["words"][0], alt["words"][-1]
    assert set(first["startTime"]) == {"seconds", "nanos"} and isinstance(first["startTime"]["seconds"], str)
    start_s = int(first["startTime"]["seconds"]) + int(first["startTime"]["nanos"]) / 1e9
    end_s = int(last["endTime"]["seconds"]) + int(last["endTime"]["nanos"]) / 1e9
    assert 0.1 <= start_s < end_s <= 1.5  # relative to the stream start; the tone is at 0.3-1.3 s
    assert result["user"]["userId"] == "p1" and result["user"]["peerId"] == "abc" and result["user"]["id"]

    messages = got[1]
    assert messages["sequenceNumber"] == 1
    (m,) = messages["messages"]
    assert m["payload"] == {"content": "Can we start with the budget?", "contentType": "text/plain"}
    assert m["from"]["userId"] == "p1" and m["from"]["name"] == "Ann" and m["from"]["id"] == result["user"]["id"]
    words = json.loads(m["metadata"]["words"])  # a JSON string (§2.4.3)
    assert len(words) == 6 and words[0]["startTime"].endswith("Z")
    assert m["duration"]["startTime"] == words[0]["startTime"] and m["duration"]["endTime"] == words[-1]["endTime"]
    assert m["sentiment"]["suggested"] in ("positive", "neutral", "negative")
    (insight,) = got[2]["insights"]
    assert insight["type"] == "question" and insight["payload"]["content"] == insight["text"] == m["payload"]["content"]
    assert insight["messageReference"]["id"] == m["id"] and insight["confidence"] >= 0.5
    assert got[3]["topics"][0]["phrases"] == "budget"

    await ws.send_json({"type": "stop_request"})
    got = await receive(ws, is_("conversation_completed"))
    assert [kind(d) for d in got] == ["recognition_stopped", "conversation_completed"]
    done = got[-1]["message"]
    assert done["conversationId"] == done["data"]["conversationId"] == conversation_id and done["summaryUrl"]
    msg = await ws.receive()
    assert msg.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 1000
    await ws.close()
    assert symbl.transcripts("meeting-1") == {"p1": "Can we start with the budget?"}
    assert symbl.records[0].close_code == 1000 and not symbl.records[0].dropped


async def test_oversize_frame_is_rejected_with_an_error(symbl: SymblDouble, http: aiohttp.ClientSession) -> None:
    token = await token_for(http, symbl)
    ws = await connect(http, symbl, "big-frames", token)
    await started(ws, start_request())
    await ws.send_bytes(bytes(8192))  # the documented maximum is fine
    await ws.send_bytes(bytes(8193))
    (error,) = await receive(ws, is_("error"))
    assert "8192" in error["details"] and error["message"]
    msg = await ws.receive()
    assert msg.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 1009
    assert symbl.max_frame_size == 8193

    symbl.reject_oversize = False
    ws = await connect(http, symbl, "big-frames-ok", token)
    await started(ws, start_request())
    await ws.send_bytes(bytes(9000))
    await ws.send_json({"type": "stop_request"})
    assert kind((await receive(ws, is_("conversation_completed")))[-1]) == "conversation_completed"


async def test_audio_before_start_is_counted_and_ignored(symbl: SymblDouble, http: aiohttp.ClientSession) -> None:
    token = await token_for(http, symbl)
    ws = await connect(http, symbl, "early", token)
    speech = pcm(tone(HELLO_HZ, 1.0))
    for f in frames(speech):
        await ws.send_bytes(f)
    await started(ws, start_request())
    await send_audio(ws, silence(1.0))
    await ws.send_json({"type": "stop_request"})
    got = await receive(ws, is_("conversation_completed"))
    assert [kind(d) for d in got] == ["recognition_stopped", "conversation_completed"]  # nothing recognised
    assert symbl.early_audio_bytes == len(speech)
    assert symbl.transcripts("early") == {}


async def test_drop_after_frames_then_reconnect_continues_the_conversation(http: aiohttp.ClientSession) -> None:
    async with SymblDouble(ToneRecognizer(), drop_after_frames=8) as symbl:
        token = await token_for(http, symbl)
        ws = await connect(http, symbl, "flaky", token)
        conversation_id = await started(ws, start_request(noConnectionTimeout=60))
        # 1.8 s = 57600 B = 7.03 frames; the 8th frame is the last one before the drop
        await send_audio(ws, np.concatenate([tone(HELLO_HZ, 0.8), silence(1.0)]))
        got = await receive(ws, is_("message_response"))
        assert got[-1]["messages"][0]["payload"]["content"] == "Hello world."
        async with asyncio.timeout(5):
            msg = await ws.receive()
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)  # no close frame
        assert ws.close_code == 1006  # abnormal closure
        await ws.close()

        ws = await connect(http, symbl, "flaky", token)
        assert await started(ws, start_request(noConnectionTimeout=60)) == conversation_id
        await send_audio(ws, np.concatenate([tone(ACTION_HZ, 0.8), silence(0.5)]))  # > 8 frames: no 2nd drop
        await ws.send_json({"type": "stop_request"})
        got = await receive(ws, is_("conversation_completed"))
        assert [kind(d) for d in got][:2] == ["recognition_result", "message_response"]
        assert got[-1]["message"]["conversationId"] == conversation_id
        await ws.close()
        records = symbl.connections["flaky"]
        assert [(r.dropped, r.close_code) for r in records] == [(True, 1006), (False, 1000)]
        assert symbl.conversation_ids("flaky") == [conversation_id]
        assert symbl.transcripts("flaky") == {"p1": "Hello world. I will send the budget report by Friday."}

        # without noConnectionTimeout (default 0 here) a dropped connection id starts a new conversation
        symbl.drop_every = True
        symbl.drop_after_frames = 1
        ws = await connect(http, symbl, "flaky-2", token)
        first = await started(ws, start_request())
        await ws.send_bytes(bytes(320))
        async with asyncio.timeout(5):
            await ws.receive()
        await ws.close()
        ws = await connect(http, symbl, "flaky-2", token)
        assert await started(ws, start_request()) != first
        await ws.close()


async def test_stop_flushes_finals_before_completion(symbl: SymblDouble, http: aiohttp.ClientSession) -> None:
    token = await token_for(http, symbl)
    ws = await connect(http, symbl, "flush", token)
    await started(ws, start_request())
    await send_audio(ws, tone(ACTION_HZ, 1.0))  # no trailing silence: still pending at stop
    await asyncio.sleep(0.2)
    assert symbl.transcripts("flush") == {}
    await ws.send_json({"type": "stop_request"})
    got = await receive(ws, is_("conversation_completed"))
    assert [kind(d) for d in got] == ["recognition_result", "message_response", "insight_response",
                                      "topic_response", "recognition_stopped", "conversation_completed"]
    assert got[0]["message"]["isFinal"] is True
    (insight,) = got[2]["insights"]
    assert insight["type"] == "action_item" and insight["assignee"]["userId"] == "p1"
    assert insight["tags"] == [] or insight["tags"][0]["type"] == "person"


async def test_keep_socket_after_stop_restart_modify_and_ping(symbl: SymblDouble,
                                                               http: aiohttp.ClientSession) -> None:
    token = await token_for(http, symbl)
    ws = await connect(http, symbl, "keep-open", token)
    cid = await started(ws, start_request(disconnectOnStopRequest=False))
    await ws.send_str("__PING__")
    async with asyncio.timeout(5):
        assert (await ws.receive_str()) == "__PONG__"
    await send_audio(ws, tone(HELLO_HZ, 0.5))
    await ws.send_json({"type": "stop_request"})
    got = await receive(ws, is_("conversation_completed"))
    assert [kind(d) for d in got] == ["recognition_result", "message_response", "recognition_stopped",
                                      "conversation_completed"]
    await ws.send_bytes(bytes(640))  # stopped: ignored like audio before a start_request
    await ws.send_str("__PING__")  # the double handles a socket's messages in order: PONG = the bytes were seen
    async with asyncio.timeout(5):
        assert (await ws.receive_str()) == "__PONG__"
    assert symbl.early_audio_bytes == 640
    assert await started(ws, start_request()) == cid  # the same socket starts again, same conversation
    await ws.send_json({"type": "modify_request", "speechRecognition": {"encoding": "LINEAR16",
                                                                        "sampleRateHertz": 8000}})
    assert kind((await receive(ws, is_("session_modified")))[-1]) == "session_modified"
    await send_audio(ws, np.concatenate([tone(QUESTION_HZ, 0.5, rate=8000), silence(1.0, rate=8000)]))
    got = await receive(ws, is_("message_response"))
    assert got[-1]["messages"][0]["payload"]["content"] == "Can we start with the budget?"
    await ws.send_json({"type": "stop_request"})
    await receive(ws, is_("conversation_completed"))
    assert (await ws.receive()).type == aiohttp.WSMsgType.CLOSE  # this start_request left the default (close)
    await ws.close()
    assert symbl.transcripts("keep-open") == {"p1": "Hello world. Can we start with the budget?"}


async def test_two_speakers_share_a_conversation_and_see_each_others_messages(
        symbl: SymblDouble, http: aiohttp.ClientSession) -> None:
    token = await token_for(http, symbl)
    ann = await connect(http, symbl, "room-42", token)
    bo = await connect(http, symbl, "room-42", token, via="query", path="/v1/realtime/insights")
    cid = await started(ann, start_request("p1", "Ann", insightTypes=[]))
    assert await started(bo, start_request("p2", "Bo")) == cid
    await send_audio(ann, np.concatenate([tone(HELLO_HZ, 0.6), silence(1.0)]))
    got_ann = await receive(ann, is_("message_response"))
    got_bo = await receive(bo, is_("message_response"))
    assert [kind(d) for d in got_ann] == ["recognition_result", "message_response"]
    assert [kind(d) for d in got_bo] == ["message_response"]  # captions only for its own speaker
    assert got_bo[0]["messages"][0]["from"]["userId"] == "p1"
    await send_audio(bo, np.concatenate([tone(QUESTION_HZ, 0.6), silence(1.0)]))
    got_ann = await receive(ann, is_("topic_response"))
    assert [kind(d) for d in got_ann] == ["message_response", "topic_response"]  # Ann asked for no insights
    for ws in (ann, bo):
        await ws.send_json({"type": "stop_request"})
        await receive(ws, is_("conversation_completed"))
        await ws.close()
    assert symbl.transcripts("room-42") == {"p1": "Hello world.", "p2": "Can we start with the budget?"}


async def test_interim_results_and_resampling(symbl: SymblDouble, http: aiohttp.ClientSession) -> None:
    token = await token_for(http, symbl)
    ws = await connect(http, symbl, "interim", token)
    request = start_request()
    request["config"]["speechRecognition"] = {"encoding": "LINEAR16", "sampleRateHertz": 48000,
                                              "interimResults": True}
    await started(ws, request)
    await send_audio(ws, np.concatenate([tone(HELLO_HZ, 1.5, rate=48000), silence(1.0, rate=48000)]))
    got = await receive(ws, is_("message_response"))
    finals = [d["message"]["isFinal"] for d in got if kind(d) == "recognition_result"]
    assert finals[-1] is True and finals.count(False) >= 1
    recognizer = symbl.recognizer
    assert isinstance(recognizer, ToneRecognizer)
    samples, dtype = recognizer.calls[-1]
    assert dtype == "float32" and 1.5 * RATE <= samples <= 2.5 * RATE  # handed over at 16 kHz
    await ws.close()


# ---------------------------------------------------------------------------------------------- REST


def wav(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm(x))
    return buf.getvalue()


async def test_async_job_flow(symbl: SymblDouble, http: aiohttp.ClientSession) -> None:
    token = await token_for(http, symbl)
    auth = {"Authorization": f"Bearer {token}"}
    audio = np.concatenate([tone(HELLO_HZ, 0.8), silence(1.0), tone(QUESTION_HZ, 0.8), silence(0.5)])
    url = f"{symbl.base_url}/v1/process/audio"
    async with http.post(url, data=wav(audio), headers={"Content-Type": "audio/wav"}) as r:
        assert r.status == 401
    params = {"name": "Upload", "channelMetadata": json.dumps([{"channel": 1, "speaker": {"name": "Ann",
                                                                                          "email": "ann@x.org"}}])}
    async with http.post(url, data=wav(audio), params=params, headers={**auth, "Content-Type": "audio/wav"}) as r:
        assert r.status == 200
        created = await r.json()
    assert set(created) == {"conversationId", "jobId"}
    statuses = []
    for _ in range(4):
        async with http.get(f"{symbl.base_url}/v1/job/{created['jobId']}", headers=auth) as r:
            body = await r.json()
        assert body["id"] == created["jobId"]
        statuses.append(body["status"])
    assert statuses == ["in_progress", "in_progress", "completed", "completed"]
    async with http.get(f"{symbl.base_url}/v1/conversations/{created['conversationId']}/messages",
                        headers=auth) as r:
        messages = (await r.json())["messages"]
    assert [m["text"] for m in messages] == ["Hello world.", "Can we start with the budget?"]
    assert messages[0]["from"] == {"id": messages[0]["from"]["id"], "name": "Ann", "userId": "ann@x.org",
                                   "email": "ann@x.org"}
    assert messages[1]["timeOffset"] == pytest.approx(1.8, abs=0.4)
    raw = pcm(tone(HELLO_HZ, 0.5))  # raw LINEAR16 works too
    async with http.post(url, data=raw, headers={**auth, "Content-Type": "audio/l16; rate=16000"}) as r:
        assert r.status == 200
        raw_job = await r.json()
    async with http.get(f"{symbl.base_url}/v1/job/{raw_job['jobId']}", headers=auth) as r:
        assert (await r.json())["status"] == "in_progress"
    symbl.async_fail_with = 429
    async with http.post(url, data=wav(audio), headers=auth) as r:
        assert r.status == 429 and (await r.json())["statusCode"] == 429


async def test_conversation_api_shapes(symbl: SymblDouble, http: aiohttp.ClientSession) -> None:
    token = await token_for(http, symbl)
    ann = await connect(http, symbl, "api", token)
    bo = await connect(http, symbl, "api", token)
    cid = await started(ann, start_request("ann@x.org", "Ann Lee"))
    await started(bo, start_request("p2", "Bo"))
    await send_audio(ann, np.concatenate([tone(QUESTION_HZ, 0.8), silence(1.0)]))
    await receive(bo, is_("message_response"))
    await send_audio(bo, np.concatenate([tone(ACTION_HZ, 0.8), silence(1.0)]))
    await receive(ann, is_("message_response"))
    for ws in (ann, bo):
        await ws.send_json({"type": "stop_request"})
        await receive(ws, is_("conversation_completed"))
        await ws.close()

    base = f"{symbl.base_url}/v1/conversations/{cid}"
    auth = {"Authorization": f"Bearer {token}"}

    async def get(part: str, **params: str) -> Any:
        async with http.get(f"{base}{part}", headers=auth, params=params) as r:
            assert r.status == 200, part
            return await r.json()

    conv = await get("")
    assert conv["id"] == cid and conv["type"] == "meeting" and conv["name"] == "Weekly"
    assert {m["name"] for m in conv["members"]} == {"Ann Lee", "Bo"}
    messages = (await get("/messages", sentiment="true", verbose="true"))["messages"]
    assert [m["text"] for m in messages] == ["Can we start with the budget?",
                                             "I will send the budget report by Friday."]
    m = messages[0]
    assert {"id", "text", "from", "startTime", "endTime", "timeOffset", "duration", "conversationId",
            "sentiment", "words"} <= set(m)
    assert m["from"]["email"] == "ann@x.org" and m["conversationId"] == cid
    assert set(m["words"][0]) == {"word", "startTime", "endTime", "score", "timeOffset", "duration"}
    assert "sentiment" not in (await get("/messages"))["messages"][0]

    (question,) = (await get("/questions"))["questions"]
    assert question["type"] == "question" and question["messageIds"] == [m["id"]]
    assert question["from"]["name"] == "Ann Lee" and 0 < question["score"] <= 1
    (action,) = (await get("/action-items"))["actionItems"]
    assert action["type"] == "action_item" and action["assignee"]["name"] == "Bo" and action["definitive"] is True
    assert {"entities", "phrases", "from", "messageIds"} <= set(action)
    assert (await get("/follow-ups")) == {"followUps": []}
    topics = (await get("/topics", sentiment="true"))["topics"]
    assert topics[0]["text"] == "budget" and topics[0]["type"] == "topic" and len(topics[0]["messageIds"]) == 2
    assert "sentiment" in topics[0]

    analytics = await get("/analytics")
    assert [x["type"] for x in analytics["metrics"]] == ["total_silence", "total_talk_time", "total_overlap"]
    assert {x["name"] for x in analytics["members"]} == {"Ann Lee", "Bo"}
    member = analytics["members"][0]
    assert {"pace", "talkTime", "listenTime", "overlap"} <= set(member) and member["pace"]["wpm"] > 0
    summary = (await get("/summary"))["summary"]
    assert len(summary) == 2 and summary[0]["messageRefs"] == [{"id": m["id"]}] and "budget" in summary[0]["text"]

    async with http.get(f"{base}/messages") as r:
        assert r.status == 401
    async with http.get(f"{base}/messages", headers={"Authorization": "Bearer nope"}) as r:
        assert r.status == 401
    async with http.get(f"{symbl.base_url}/v1/conversations/{uuid.uuid4().int}/messages", headers=auth) as r:
        assert r.status == 404


# ---------------------------------------------------------------------------------------------- real ASR


@pytest.mark.asr
async def test_real_recognizer_transcribes_what_it_receives(tmp_path_factory: pytest.TempPathFactory,
                                                            http: aiohttp.ClientSession) -> None:
    import os
    from pathlib import Path

    from bot.backends.local.models import AsrChoice, load_recognizer
    from bot.demo.speech import speak

    cache = Path(os.environ.get("BOT_ASR__CACHE_DIR", tmp_path_factory.getbasetemp() / "asr-cache"))
    recognizer, _ = await asyncio.to_thread(load_recognizer, AsrChoice(cache_dir=cache, allow_download=False))
    speech = speak("Can we start with the budget?", "en-us")
    async with SymblDouble(recognizer) as symbl:
        token = await token_for(http, symbl)
        ws = await connect(http, symbl, "real-asr", token)
        await started(ws, start_request())
        await send_audio(ws, np.concatenate([silence(0.5), speech, silence(1.0)]))
        await ws.send_json({"type": "stop_request"})
        got = await receive(ws, is_("conversation_completed"), timeout=120)
        await ws.close()
    finals = [d["message"]["punctuated"]["transcript"] for d in got
              if kind(d) == "recognition_result" and d["message"]["isFinal"]]
    text = " ".join(finals).lower()
    assert "start" in text and "budget" in text
    assert any(kind(d) == "insight_response" and d["insights"][0]["type"] == "question" for d in got)
    assert "budget" in symbl.transcripts("real-asr")["p1"].lower()
