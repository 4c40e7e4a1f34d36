"""A Symbl.ai double: an aiohttp server on 127.0.0.1:<ephemeral> speaking the protocol in shared/docs/SYMBL.md.

The real API is gone (SYMBL.md §6.1), so the bot's Symbl backend is tested against this. It follows the
documented facts; where the docs are silent it makes a choice, marked ``[I]`` below and in the docstrings.

Surfaces (section numbers are SYMBL.md's):

* ``POST /oauth2/token:generate`` (§1.1): JWT-shaped token, ``expiresIn``; a live cached token is returned again
  with the *remaining* lifetime, as the docs describe. Wrong credentials → 401.
* Streaming WebSocket at ``/v1/streaming/{connectionId}`` and ``/v1/realtime/insights/{connectionId}`` (§2).
  Token from the ``X-API-KEY`` header, the ``?access_token=`` query, or the ``Sec-WebSocket-Protocol``
  subprotocol (§1.2); bad or missing → the handshake is refused with 401 (§2.4.7: "surface as a failed
  handshake"). Lifecycle per §2.2: ``conversation_created``, ``started_listening``, ``recognition_started``;
  audio frames (LINEAR16, ≤ 8192 B, §2.3.2); ``recognition_result`` (§2.4.2), ``message_response`` (§2.4.3),
  ``insight_response`` (§2.4.4, full per-insight object plus the reduced ``text`` field), ``topic_response``
  (§2.4.5), ``tracker_response`` (§2.4.6, for the inline ``trackers`` of the receiving socket's start_request);
  ``stop_request`` → ``recognition_stopped``, ``conversation_completed`` (both documented shapes
  in one object: ``conversationId`` + ``summaryUrl`` *and* ``data.conversationId``), close 1000.
  ``modify_request`` → ``session_modified``; text ``__PING__`` → ``__PONG__`` (§2.3.5).
* Async API ``POST /v1/process/audio`` and ``GET /v1/job/{jobId}`` (§4).
* Conversation API under ``/v1/conversations/{conversationId}`` (§3): the conversation object, ``messages``,
  ``topics``, ``questions``, ``action-items``, ``follow-ups``, ``analytics``, ``summary``.

Recognition: the double cuts each socket's audio into utterances with a plain energy threshold (no VAD
model): an utterance ends after ``silence_s`` (0.8 s) of near-silence following speech, after
``max_utterance_s``, or on ``stop_request``. Each utterance is decoded by the injected recognizer (the
bot's ``Recognizer`` protocol: float32 mono 16 kHz) in a worker thread, one decode at a time.

Crude "intelligence" (deliberately simple, deterministic; the real service used ML models):

* messages: one per sentence of the punctuated transcript (punctuation = the recognizer's, plus a capital
  first letter and a final full stop when missing);
* ``question``: a sentence ending in ``?``;
* ``follow_up``: a sentence containing "follow up"/"follow-up"/"get back to";
* ``action_item``: a sentence containing "I will"/"I'll"/"I am going to" (assignee: the speaker) or
  "<Name> will"/"<Name>, please"/"<Name> can you" with a capitalised name that is not a pronoun (assignee:
  that name, resolved to a conversation member when a member's name starts with it); one type per sentence,
  in the order question, follow_up, action_item; all with confidence 0.9 (filtered by
  ``config.confidenceThreshold``) and only streamed when listed in the receiving socket's ``insightTypes``;
* topics: non-stopword words of 5+ letters, scored by frequency;
* trackers [I]: a vocabulary entry found in a message as whole words, case-insensitively, is an exact match
  (``offset`` = its character position); one whose every word appears in the message with a plural "s" more
  or less is a similar match (``offset`` -1, as the docs define it); every socket of the conversation gets
  every speaker's hits, as the docs say ("this would also return every tracker in case of multiple streams");
* sentiment: a tiny word list, score in [-1, 1], "positive" above 0.3, "negative" below -0.3;
* summary: the questions and action items (or the first three messages), one summary item each.

Timing [I]: ``recognition_result`` word times are ``{seconds, nanos}`` strings relative to the start of the
*socket's* stream (they restart on a reconnect); message/insight times are absolute ISO-8601, computed as the
wall-clock time of the socket's ``started_listening`` plus the audio offset (so faster-than-real-time tests
give compressed but ordered times).

Conversation lifetime [I, from the ``noConnectionTimeout`` description]: a ``start_request`` on a connection
id joins that id's conversation while any socket of it is open, or within the ``noConnectionTimeout`` seconds
(from the start_request; default ``default_no_connection_timeout_s`` = 0) after its last socket went away
*without* a ``stop_request``. After the last socket stopped gracefully, or the grace ran out, the id starts
a new conversation (new ``conversationId``). Audio still buffered when a socket drops is decoded anyway and
reaches the conversation (and the other open sockets) [I].

Knobs are plain attributes and may be changed while the server runs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import io
import itertools
import json
import re
import time
import uuid
import wave
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

from bot.backends.local.models import Recognizer

MAX_FRAME_BYTES = 8192
TOKEN_FAILED = "Token validation failed for provided token."
NOT_FOUND = "The conversation and/or it's metadata you asked could not be found"


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOPWORDS = _wordset(
    "about above after again against all also and any are because been before being below between both but "
    "can cannot could did does doing down during each few for from further had has have having here hers "
    "herself himself his how into its itself just more most myself not now off once only other ought our "
    "ours ourselves out over own same she should some such than that the their theirs them themselves then "
    "there these they this those through too under until very was were what when where which while who whom "
    "why will with would you your yours yourself yourselves going start thing things think really right "
    "maybe okay yeah hello world everyone please thank thanks today tomorrow"
)
_PRONOUNS = _wordset("I We You He She It They That This There What Who Which It's Everyone Somebody Someone")
_POSITIVE = _wordset("good great thanks thank happy love excellent awesome nice glad perfect agree wonderful")
_NEGATIVE = _wordset("bad problem sorry late hate terrible worried wrong issue fail failed broken angry")


@dataclass(frozen=True, slots=True)
class Call:
    """One request the double answered (WebSocket handshakes too: status 101 when accepted)."""

    method: str
    path: str
    status: int
    query: str = ""


@dataclass
class SocketRecord:
    """What one streaming WebSocket did, as seen by the double."""

    connection_id: str
    path: str
    auth_method: str  # "header" | "query" | "subprotocol"
    start_requests: list[dict[str, Any]] = field(default_factory=list)
    frame_sizes: list[int] = field(default_factory=list)
    early_audio_bytes: int = 0
    conversation_id: str | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    dropped: bool = False
    stopped: bool = False


@dataclass
class _Message:
    id: str
    user: dict[str, Any]
    text: str
    start: float  # epoch seconds
    end: float
    words: list[tuple[str, float, float]]  # epoch seconds
    confidence: float


@dataclass
class _Insight:
    id: str
    type: str
    text: str
    score: float
    message: _Message
    assignee: dict[str, Any] | None


@dataclass
class _Conversation:
    id: str
    name: str
    connection_id: str | None
    started: float
    ended: float | None = None
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: list[_Message] = field(default_factory=list)
    insights: list[_Insight] = field(default_factory=list)
    sockets: set[_Socket] = field(default_factory=set)
    idle_since: float | None = None
    grace_s: float = 0.0
    completed: bool = False


@dataclass(eq=False)
class _Socket:
    ws: web.WebSocketResponse
    request: web.Request
    record: SocketRecord
    state: str = "connected"  # connected | listening | stopped
    conversation: _Conversation | None = None
    user: dict[str, Any] = field(default_factory=dict)
    start: dict[str, Any] = field(default_factory=dict)
    chunker: _Chunker | None = None
    wall_start: float = 0.0
    binary_frames: int = 0
    sequence: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class _Job:
    id: str
    conversation: _Conversation
    task: asyncio.Task[None]
    polls: int = 0
    status: str = "in_progress"


class _Chunker:
    """Energy-threshold utterance cutter over LINEAR16 mono at ``rate``: returns (start_s, float32 audio)."""

    def __init__(self, rate: int, *, threshold: float, silence_s: float, max_s: float, preroll_s: float = 0.2):
        self.rate = rate
        self._win = max(1, rate // 50)  # 20 ms
        self._threshold = threshold
        self._silence_limit = int(silence_s * rate)
        self._max = int(max_s * rate)
        self._preroll = max(1, int(preroll_s * rate) // self._win)
        self._odd = b""
        self._rest = np.zeros(0, np.float32)
        self._pending: deque[tuple[int, np.ndarray]] = deque()
        self._pos = 0
        self._speech = False
        self._silence = 0
        self._speech_since_partial = 0

    def push(self, pcm: bytes) -> list[tuple[float, np.ndarray]]:
        data = self._odd + pcm
        cut = len(data) - len(data) % 2
        self._odd = data[cut:]
        x = np.concatenate([self._rest, np.frombuffer(data[:cut], "<i2").astype(np.float32) / 32768])
        out: list[tuple[float, np.ndarray]] = []
        n = len(x) // self._win
        for i in range(n):
            w = x[i * self._win : (i + 1) * self._win]
            self._pending.append((self._pos, w))
            self._pos += len(w)
            if float(np.sqrt(np.mean(w**2))) >= self._threshold:
                self._speech = True
                self._silence = 0
                self._speech_since_partial += len(w)
            elif self._speech:
                self._silence += len(w)
                if self._silence >= self._silence_limit:
                    out.append(self._emit())
            else:
                while len(self._pending) > self._preroll:
                    self._pending.popleft()
            if self._speech and len(self._pending) * self._win >= self._max:
                out.append(self._emit())
                self._speech = True  # speech goes on in the next utterance
        self._rest = x[n * self._win :]
        return out

    def partial(self, min_new_s: float) -> tuple[float, np.ndarray] | None:
        """The utterance so far, when at least ``min_new_s`` of speech came since the last partial."""
        if not self._speech or self._speech_since_partial < min_new_s * self.rate:
            return None
        self._speech_since_partial = 0
        return self._pending[0][0] / self.rate, np.concatenate([w for _, w in self._pending])

    def flush(self) -> list[tuple[float, np.ndarray]]:
        if self._rest.size:
            self._pending.append((self._pos, self._rest))
            self._pos += len(self._rest)
            if float(np.sqrt(np.mean(self._rest**2))) >= self._threshold:
                self._speech = True
                self._silence = 0
            self._rest = np.zeros(0, np.float32)
        return [self._emit()] if self._speech and self._pending else []

    def _emit(self) -> tuple[float, np.ndarray]:
        start = self._pending[0][0]
        audio = np.concatenate([w for _, w in self._pending])
        keep = len(audio) - max(0, self._silence - int(0.3 * self.rate))  # trailing silence: keep 0.3 s
        self._pending.clear()
        self._speech = False
        self._silence = 0
        self._speech_since_partial = 0
        return start / self.rate, audio[:keep]


# ---------------------------------------------------------------------------------------------- helpers


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _offset(t: float) -> dict[str, str]:
    t = max(0.0, t)
    return {"seconds": str(int(t)), "nanos": str(int(round((t - int(t)) * 1e9)))}


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _punctuate(text: str) -> str:
    t = " ".join(text.split())
    if not t:
        return t
    t = t[0].upper() + t[1:]
    return t if t[-1] in ".?!" else t + "."


def _sentences(text: str) -> list[str]:
    parts = [p.strip() for p in re.findall(r"[^.?!]+[.?!]*", text)]
    return [p for p in parts if re.search(r"\w", p)]


def _tracker_offset(entry: str, text: str) -> int | None:
    """Where ``entry`` is in ``text`` (exact, whole words, any case), -1 for a similar match, None for none."""
    exact = re.search(r"(?<!\w)" + r"\s+".join(map(re.escape, entry.split())) + r"(?!\w)", text, re.IGNORECASE)
    if exact:
        return exact.start()
    said = {w.removesuffix("s") for w in re.findall(r"\w+", text.lower())}
    wanted = [w.removesuffix("s") for w in re.findall(r"\w+", entry.lower())]
    return -1 if wanted and all(w in said for w in wanted) else None


def _sentiment(text: str) -> dict[str, Any]:
    words = re.findall(r"[a-z']+", text.lower())
    pos = sum(w in _POSITIVE for w in words)
    neg = sum(w in _NEGATIVE for w in words)
    score = round((pos - neg) / (pos + neg), 3) if pos + neg else 0.0
    suggested = "positive" if score > 0.3 else "negative" if score < -0.3 else "neutral"
    return {"polarity": {"score": score}, "suggested": suggested}


def _topic_words(text: str) -> list[str]:
    words = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'-]+", text)]
    return [w for w in words if len(w) >= 5 and w not in _STOPWORDS]


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def _public_user(user: dict[str, Any]) -> dict[str, Any]:
    out = {"id": user.get("id"), "name": user.get("name"), "userId": user.get("userId")}
    if "@" in str(user.get("userId") or ""):
        out["email"] = user["userId"]
    return out


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def _error(status: int, message: str) -> web.Response:
    body: dict[str, Any] = {"message": message}
    if status == 429:
        body["statusCode"] = 429
    return web.json_response(body, status=status)


def _decode_wav_or_raw(body: bytes, content_type: str, rate_hint: int) -> tuple[bytes, int]:
    """LINEAR16 mono bytes and their rate, from a WAV body or raw s16le (rate from ``;rate=`` or the hint)."""
    if body[:4] == b"RIFF":
        with wave.open(io.BytesIO(body), "rb") as w:
            if w.getsampwidth() != 2:
                raise ValueError("only 16-bit PCM WAV is supported by the double")
            rate, channels = w.getframerate(), w.getnchannels()
            x = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        if channels > 1:
            x = x.reshape(-1, channels).mean(axis=1).astype("<i2")
        return x.tobytes(), rate
    m = re.search(r"rate=(\d+)", content_type)
    return body, int(m.group(1)) if m else rate_hint


class SymblDouble:
    """A Symbl.ai stand-in; use as ``async with SymblDouble(recognizer) as symbl:``.

    Knobs (attributes, changeable at run time):
        app_id, app_secret: the accepted credentials.
        token_ttl_s: lifetime of a new token (``expiresIn``); ``token_cache``: return a live token again.
        fail_token_with: answer the token endpoint with this HTTP status instead.
        ws_fail_with / ws_fail_count: refuse WebSocket handshakes with this status (only the first
            ``ws_fail_count`` ones when set).
        reject_oversize: close a socket that sends a binary frame over 8192 bytes (error message, close 1009).
        drop_after_frames / drop_every: abort the TCP connection (no close frame → the client sees 1006)
            after N binary frames on a socket; once per connection id unless ``drop_every``.
        unfinished_close_after_frames: after N binary frames on a socket (once per connection id), send a
            close frame without a status code and then neither read nor answer until the client goes away
            (a close handshake the server never finishes). The client waits for the answer, and every write it
            makes meanwhile fails (aiohttp: ``ClientConnectionResetError``, "Cannot write to closing transport").
        fault_user_id: the two faults above hit only sockets whose ``speaker.userId`` is this (None: any).
        interim_results: send ``isFinal: false`` results (None: as the start_request asks, via
            ``config.speechRecognition.interimResults``); ``interim_every_s``: new speech between them.
        slow_s: delay every REST reply (not the WebSocket).
        job_polls: ``GET /v1/job`` answers ``in_progress`` this many times, then ``completed``;
            ``job_fails``: then ``failed`` instead; ``async_fail_with``: refuse ``POST /v1/process/audio``.
        accept_legacy_api_key: let REST calls authenticate with ``x-api-key`` (deprecated in the docs).
        energy_threshold, silence_s, max_utterance_s: the utterance cutter.
        default_no_connection_timeout_s: reconnect grace when a start_request gives no ``noConnectionTimeout``.
    """

    def __init__(
        self,
        recognizer: Recognizer,
        *,
        app_id: str = "test-app-id",
        app_secret: str = "test-app-secret",
        token_ttl_s: int = 86400,
        token_cache: bool = True,
        fail_token_with: int | None = None,
        ws_fail_with: int | None = None,
        ws_fail_count: int | None = None,
        reject_oversize: bool = True,
        drop_after_frames: int | None = None,
        drop_every: bool = False,
        unfinished_close_after_frames: int | None = None,
        fault_user_id: str | None = None,
        interim_results: bool | None = None,
        interim_every_s: float = 0.5,
        slow_s: float = 0.0,
        job_polls: int = 2,
        job_fails: bool = False,
        async_fail_with: int | None = None,
        accept_legacy_api_key: bool = False,
        energy_threshold: float = 0.01,
        silence_s: float = 0.8,
        max_utterance_s: float = 20.0,
        default_no_connection_timeout_s: float = 0.0,
    ) -> None:
        self.recognizer = recognizer
        self.app_id = app_id
        self.app_secret = app_secret
        self.token_ttl_s = token_ttl_s
        self.token_cache = token_cache
        self.fail_token_with = fail_token_with
        self.ws_fail_with = ws_fail_with
        self.ws_fail_count = ws_fail_count
        self.reject_oversize = reject_oversize
        self.drop_after_frames = drop_after_frames
        self.drop_every = drop_every
        self.unfinished_close_after_frames = unfinished_close_after_frames
        self.fault_user_id = fault_user_id
        self.interim_results = interim_results
        self.interim_every_s = interim_every_s
        self.slow_s = slow_s
        self.job_polls = job_polls
        self.job_fails = job_fails
        self.async_fail_with = async_fail_with
        self.accept_legacy_api_key = accept_legacy_api_key
        self.energy_threshold = energy_threshold
        self.silence_s = silence_s
        self.max_utterance_s = max_utterance_s
        self.default_no_connection_timeout_s = default_no_connection_timeout_s

        self.calls: list[Call] = []
        """Every request answered, in order: (method, path, status, query)."""
        self.connections: dict[str, list[SocketRecord]] = {}
        """Per connection id, one record per accepted WebSocket, in order."""
        self.tokens_issued: list[str] = []
        self.decodes = 0

        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._tokens: dict[str, float] = {}  # token -> expiry (epoch)
        self._cached: dict[str, str] = {}  # appId -> token
        self._ws_failures = 0
        self._dropped_ids: set[str] = set()
        self._conversations: dict[str, _Conversation] = {}
        self._by_connection: dict[str, list[_Conversation]] = {}
        self._jobs: dict[str, _Job] = {}
        self._ids = itertools.count(5093011103940608, 7919)
        self._decode_lock = asyncio.Lock()
        self._sockets: set[_Socket] = set()
        self._stopping = False

    # ------------------------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> SymblDouble:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Start serving on 127.0.0.1 with an ephemeral port."""
        if self._runner is not None:
            return
        self._stopping = False
        app = web.Application(middlewares=[self._middleware], client_max_size=1 << 30)
        app.router.add_post("/oauth2/token:generate", self._token)
        app.router.add_get("/v1/streaming/{connection_id}", self._ws)
        app.router.add_get("/v1/realtime/insights/{connection_id}", self._ws)
        app.router.add_post("/v1/process/audio", self._process_audio)
        app.router.add_get("/v1/job/{job_id}", self._job)
        app.router.add_get("/v1/conversations/{cid}", self._conversation)
        app.router.add_get("/v1/conversations/{cid}/{what}", self._conversation_part)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def aclose(self) -> None:
        """Close the sockets, cancel async jobs, stop the server."""
        self._stopping = True
        for sock in list(self._sockets):
            with contextlib.suppress(Exception):
                await sock.ws.close()
        for job in self._jobs.values():
            job.task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._port is None:
            raise RuntimeError("SymblDouble is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def ws_base_url(self) -> str:
        """``ws://127.0.0.1:PORT`` (append ``/v1/streaming/{connectionId}``)."""
        return "ws" + self.base_url[4:]

    # ------------------------------------------------------------------------------------ test helpers

    def transcripts(self, connection_id: str) -> dict[str, str]:
        """Per speaker ``userId``: the final text of every conversation this connection id had, in order."""
        out: dict[str, list[str]] = {}
        for conv in self._by_connection.get(connection_id, []):
            for m in conv.messages:
                out.setdefault(str(m.user.get("userId") or m.user.get("name") or ""), []).append(m.text)
        return {k: " ".join(v) for k, v in out.items()}

    def conversation_transcript(self, conversation_id: str) -> dict[str, str]:
        """Per speaker ``userId`` (or name): the final text of one conversation (streaming or async)."""
        out: dict[str, list[str]] = {}
        for m in self._conversations[conversation_id].messages:
            out.setdefault(str(m.user.get("userId") or m.user.get("name") or ""), []).append(m.text)
        return {k: " ".join(v) for k, v in out.items()}

    def conversation_ids(self, connection_id: str) -> list[str]:
        """Every conversation id this connection id has had, oldest first."""
        return [c.id for c in self._by_connection.get(connection_id, [])]

    def insights(self, conversation_id: str) -> list[tuple[str, str]]:
        """(type, text) of every insight found in a conversation."""
        return [(i.type, i.text) for i in self._conversations[conversation_id].insights]

    def revoke_tokens(self) -> None:
        """Forget every issued token (the next REST or WebSocket use gets 401)."""
        self._tokens.clear()
        self._cached.clear()

    @property
    def records(self) -> list[SocketRecord]:
        """Every accepted WebSocket, over all connection ids, in acceptance order of each id."""
        return [r for recs in self.connections.values() for r in recs]

    @property
    def max_frame_size(self) -> int:
        """The largest binary frame any socket sent (0 if none)."""
        return max((s for r in self.records for s in r.frame_sizes), default=0)

    @property
    def early_audio_bytes(self) -> int:
        """Audio bytes sent before start_request/started_listening (ignored, as the docs say)."""
        return sum(r.early_audio_bytes for r in self.records)

    @property
    def start_requests(self) -> list[dict[str, Any]]:
        """Every start_request received, as sent."""
        return [s for r in self.records for s in r.start_requests]

    @property
    def auth_methods(self) -> list[str]:
        """How each accepted WebSocket passed its token: "header", "query" or "subprotocol"."""
        return [r.auth_method for r in self.records]

    # ------------------------------------------------------------------------------------ plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        is_ws = request.match_info.handler == self._ws  # the WebSocket handler logs its handshake itself
        if self.slow_s and not is_ws:
            await asyncio.sleep(self.slow_s)
        try:
            resp: web.StreamResponse = await handler(request)
        except web.HTTPException as exc:
            if not is_ws:
                self.calls.append(Call(request.method, request.path, exc.status, request.query_string))
            raise
        if not is_ws:
            self.calls.append(Call(request.method, request.path, resp.status, request.query_string))
        return resp

    def _token_valid(self, token: str | None) -> bool:
        return token is not None and self._tokens.get(token, 0.0) > time.time()

    def _rest_token_ok(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return self._token_valid(auth[7:].strip())
        if self.accept_legacy_api_key:
            return self._token_valid(request.headers.get("x-api-key"))
        return False

    def _new_conversation(self, name: str, connection_id: str | None) -> _Conversation:
        conv = _Conversation(id=str(next(self._ids)), name=name, connection_id=connection_id, started=time.time())
        self._conversations[conv.id] = conv
        if connection_id is not None:
            self._by_connection.setdefault(connection_id, []).append(conv)
        return conv

    # ------------------------------------------------------------------------------------ auth

    async def _token(self, request: web.Request) -> web.Response:
        if self.fail_token_with is not None:
            return _error(self.fail_token_with, "token generation failed (injected)")
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _error(400, "Invalid request body")
        if not isinstance(body, dict) or body.get("type") != "application":
            return _error(400, "type must be 'application'")
        if body.get("appId") != self.app_id or body.get("appSecret") != self.app_secret:
            return _error(401, "Invalid appId or appSecret")
        now = time.time()
        cached = self._cached.get(self.app_id)
        if self.token_cache and cached and self._tokens.get(cached, 0.0) - now >= 1:
            return _json({"accessToken": cached, "expiresIn": int(self._tokens[cached] - now)})
        exp = now + self.token_ttl_s
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {"sub": self.app_id, "iat": int(now), "exp": int(exp), "jti": uuid.uuid4().hex}
        payload = _b64url(json.dumps(claims).encode())
        sig = hmac.new(self.app_secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
        token = f"{header}.{payload}.{_b64url(sig)}"
        self._tokens[token] = exp
        self._cached[self.app_id] = token
        self.tokens_issued.append(token)
        return _json({"accessToken": token, "expiresIn": self.token_ttl_s})

    # ------------------------------------------------------------------------------------ streaming

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        connection_id = request.match_info["connection_id"]

        def refuse(status: int, message: str) -> web.Response:
            self.calls.append(Call(request.method, request.path, status, request.query_string))
            return _error(status, message)

        if self.ws_fail_with is not None and (self.ws_fail_count is None or self._ws_failures < self.ws_fail_count):
            self._ws_failures += 1
            return refuse(self.ws_fail_with, "handshake refused (injected)")
        token, method = request.headers.get("X-API-KEY"), "header"
        if token is None and "access_token" in request.query:
            token, method = request.query["access_token"], "query"
        protocols: tuple[str, ...] = ()
        if token is None and request.headers.get("Sec-WebSocket-Protocol"):
            offered = [p.strip() for p in request.headers["Sec-WebSocket-Protocol"].split(",")]
            token = next((p for p in offered if self._token_valid(p)), offered[0])
            method, protocols = "subprotocol", (token,)
        if not self._token_valid(token):
            return refuse(401, TOKEN_FAILED)
        ws = web.WebSocketResponse(protocols=protocols, max_msg_size=1 << 22)
        await ws.prepare(request)
        self.calls.append(Call(request.method, request.path, 101, request.query_string))
        record = SocketRecord(connection_id=connection_id, path=request.path, auth_method=method)
        self.connections.setdefault(connection_id, []).append(record)
        sock = _Socket(ws=ws, request=request, record=record)
        self._sockets.add(sock)
        try:
            await self._serve(sock)
        finally:
            await self._socket_gone(sock)
        return ws

    async def _serve(self, sock: _Socket) -> None:
        ws = sock.ws
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                if msg.data == "__PING__":
                    await ws.send_str("__PONG__")
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    await self._send(sock, {"type": "error", "details": "Invalid JSON", "message": "Bad request"})
                    continue
                kind = data.get("type") if isinstance(data, dict) else None
                if kind == "start_request":
                    await self._on_start(sock, data)
                elif kind == "stop_request":
                    if await self._on_stop(sock):
                        return
                elif kind == "modify_request":
                    await self._on_modify(sock, data)
                else:
                    await self._send(sock, {"type": "error", "details": f"Unknown message type {kind!r}",
                                            "message": "Bad request"})
            elif msg.type == WSMsgType.BINARY:
                if await self._on_audio(sock, msg.data):
                    return
            else:
                return

    async def _send(self, sock: _Socket, data: dict[str, Any]) -> None:
        if sock.ws.closed:
            return
        async with sock.lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await sock.ws.send_str(json.dumps(data))
                sock.record.sent.append(data)

    async def _on_start(self, sock: _Socket, data: dict[str, Any]) -> None:
        sock.record.start_requests.append(data)
        config = data.get("config") or {}
        sr = config.get("speechRecognition") or {}
        encoding = sr.get("encoding", config.get("encoding", "LINEAR16"))
        rate = int(sr.get("sampleRateHertz", config.get("sampleRateHertz", 16000)))
        if encoding != "LINEAR16" or not 8000 <= rate <= 48000:
            await self._send(sock, {"type": "error", "details": f"unsupported {encoding} at {rate} Hz by the double",
                                    "message": "Bad request"})
            return
        if sock.state == "listening":
            return  # already started: a repeated start_request is ignored [I]
        cid = sock.record.connection_id
        conv = sock.conversation
        if conv is None:
            existing = (self._by_connection.get(cid) or [None])[-1]
            now = time.time()
            alive = existing is not None and not existing.completed and (
                existing.sockets or (existing.idle_since is not None and now - existing.idle_since <= existing.grace_s)
            )
            conv = existing if alive and existing else self._new_conversation(
                str(config.get("meetingTitle") or data.get("meetingTitle") or cid), cid)
            conv.sockets.add(sock)
            conv.idle_since = None
            sock.conversation = conv
            sock.record.conversation_id = conv.id
        speaker = data.get("speaker") or {}
        user_id = str(speaker.get("userId") or "")
        member = conv.members.get(user_id) if user_id else None
        if member is None:
            member = {"id": str(uuid.uuid4()), "name": speaker.get("name") or "Unknown Speaker", "userId": user_id}
            if user_id:
                conv.members[user_id] = member
        sock.user = {**speaker, "id": member["id"]}  # extra keys (e.g. peerId) are echoed back [T: DYTE]
        sock.start = data
        sock.chunker = _Chunker(rate, threshold=self.energy_threshold, silence_s=self.silence_s,
                                max_s=self.max_utterance_s)
        sock.wall_start = time.time()
        sock.state = "listening"
        await self._send(sock, {"type": "message", "message": {"type": "conversation_created",
                                                               "data": {"conversationId": conv.id}}})
        await self._send(sock, {"type": "message", "message": {"type": "started_listening"}})
        await self._send(sock, {"type": "message", "message": {"type": "recognition_started",
                                                               "data": {"conversationId": conv.id}}})

    async def _on_modify(self, sock: _Socket, data: dict[str, Any]) -> None:
        sr = data.get("speechRecognition") or {}
        if sock.chunker is not None:
            for start_s, audio in sock.chunker.flush():
                await self._utterance(sock, start_s, audio, sock.chunker.rate, final=True)
            rate = int(sr.get("sampleRateHertz", sock.chunker.rate))
            sock.chunker = _Chunker(rate, threshold=self.energy_threshold, silence_s=self.silence_s,
                                    max_s=self.max_utterance_s)
        await self._send(sock, {"type": "message", "message": {"type": "session_modified"}})

    async def _on_audio(self, sock: _Socket, data: bytes) -> bool:
        """Handle one binary frame; True when the socket is finished."""
        rec = sock.record
        rec.frame_sizes.append(len(data))
        sock.binary_frames += 1
        if len(data) > MAX_FRAME_BYTES and self.reject_oversize:
            # The docs give the limit but not the reaction [I]: an error message (§2.4.7 shape), then close 1009.
            await self._send(sock, {"type": "error", "details": f"Audio chunk of {len(data)} bytes exceeds the "
                                    f"maximum of {MAX_FRAME_BYTES} bytes", "message": "Bad request"})
            rec.close_code = 1009
            await sock.ws.close(code=1009, message=b"audio chunk too large")
            return True
        if sock.state != "listening" or sock.chunker is None:
            rec.early_audio_bytes += len(data)  # "any binary audio streamed before ... will be ignored"
        else:
            for start_s, audio in sock.chunker.push(data):
                await self._utterance(sock, start_s, audio, sock.chunker.rate, final=True)
            if self._wants_interim(sock):
                part = sock.chunker.partial(self.interim_every_s)
                if part is not None:
                    await self._utterance(sock, part[0], part[1], sock.chunker.rate, final=False)
        cid = rec.connection_id
        if self.fault_user_id is not None and sock.user.get("userId") != self.fault_user_id:
            return False
        n = self.unfinished_close_after_frames
        if n is not None and sock.binary_frames >= n and cid not in self._dropped_ids:
            self._dropped_ids.add(cid)
            await self._unfinished_close(sock)
            return True
        n = self.drop_after_frames
        if n is not None and sock.binary_frames >= n and (self.drop_every or cid not in self._dropped_ids):
            self._dropped_ids.add(cid)
            rec.dropped = True
            rec.close_code = 1006
            transport = sock.request.transport
            if transport is not None:
                transport.abort()  # no close frame: an abnormal closure for the client
            return True
        return False

    async def _unfinished_close(self, sock: _Socket, hold_s: float = 60.0) -> None:
        """Send a bare close frame, then hold the socket unread until the client drops it (or ``hold_s``)."""
        rec = sock.record
        rec.dropped = True
        rec.close_code = 1005  # RFC 6455: "no status code was actually present"
        transport = sock.request.transport
        if transport is None:
            return
        transport.write(b"\x88\x00")  # FIN + opcode 8 (close), empty payload; server frames are not masked
        deadline = time.monotonic() + hold_s
        # Polling is the only way to wait without reading: reading would answer the client's close.
        while not transport.is_closing() and not self._stopping and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        transport.abort()

    def _wants_interim(self, sock: _Socket) -> bool:
        if self.interim_results is not None:
            return self.interim_results
        config = sock.start.get("config") or {}
        sr = config.get("speechRecognition") or {}
        return bool(sr.get("interimResults", config.get("interimResults", False)))

    async def _on_stop(self, sock: _Socket) -> bool:
        """Flush, report, and close unless disconnectOnStopRequest is false; True when the socket is done."""
        conv = sock.conversation
        if sock.state != "listening" or conv is None or sock.chunker is None:
            await self._send(sock, {"type": "error", "details": "stop_request before start_request",
                                    "message": "Bad request"})
            return False
        for start_s, audio in sock.chunker.flush():
            await self._utterance(sock, start_s, audio, sock.chunker.rate, final=True)
        sock.state = "stopped"
        sock.record.stopped = True
        conv.ended = time.time()
        await self._send(sock, {"type": "message", "message": {"type": "recognition_stopped",
                                                               "data": {"conversationId": conv.id}}})
        await self._send(sock, {"type": "message", "message": {
            "type": "conversation_completed", "conversationId": conv.id,
            "summaryUrl": f"{self.base_url}/meeting/#/{conv.id}", "data": {"conversationId": conv.id}}})
        if sock.start.get("disconnectOnStopRequest", True) is False:
            return False
        sock.record.close_code = 1000
        await sock.ws.close(code=1000)
        return True

    async def _socket_gone(self, sock: _Socket) -> None:
        self._sockets.discard(sock)
        conv = sock.conversation
        if sock.state == "listening" and sock.chunker is not None:
            for start_s, audio in sock.chunker.flush():  # audio the server already had is still processed [I]
                await self._utterance(sock, start_s, audio, sock.chunker.rate, final=True)
            sock.state = "stopped"
        if sock.record.close_code is None:
            sock.record.close_code = sock.ws.close_code
        if conv is None:
            return
        conv.sockets.discard(sock)
        if not conv.sockets:
            conv.idle_since = time.time()
            conv.ended = conv.ended or conv.idle_since
            if sock.record.stopped:
                conv.completed = True
            else:
                grace = sock.start.get("noConnectionTimeout", self.default_no_connection_timeout_s)
                conv.grace_s = float(grace or 0)

    async def _decode(
        self, audio: np.ndarray, rate: int, hints: str | None
    ) -> tuple[str, list[tuple[str, float, float]], float]:
        """Decoded text, words (relative to ``audio``'s start) and a confidence."""
        if rate != 16000:
            import soxr

            audio = soxr.resample(audio, rate, 16000).astype(np.float32)
        async with self._decode_lock:
            decoded = await asyncio.to_thread(self.recognizer.decode, audio.astype(np.float32), hints)
            self.decodes += 1
        probs = [w.probability for w in decoded.words if w.probability is not None]
        words = [(w.text, w.start_s, w.end_s) for w in decoded.words]
        return decoded.text.strip(), words, round(float(np.mean(probs)) if probs else 0.9, 3)

    async def _recognize(
        self, audio: np.ndarray, rate: int, start_s: float, hints: str | None
    ) -> tuple[str, str, list[tuple[str, float, float]], float] | None:
        """(raw, punctuated, words relative to the stream start, confidence), or None if nothing was said."""
        raw, words, confidence = await self._decode(audio, rate, hints)
        if not raw:
            return None
        punct = _punctuate(raw)
        tokens = punct.split()
        duration = len(audio) / rate
        if len(words) == len(tokens):
            timed = [(tok, start_s + a, start_s + b) for tok, (_, a, b) in zip(tokens, words, strict=True)]
        else:  # no (or mismatched) word times: spread the words over the utterance [I]
            lo, hi = start_s + min(0.2, duration / 4), start_s + max(duration - 0.3, duration * 3 / 4)
            step = (hi - lo) / len(tokens)
            timed = [(tok, lo + k * step, lo + (k + 1) * step) for k, tok in enumerate(tokens)]
        return raw, punct, timed, confidence

    async def _utterance(self, sock: _Socket, start_s: float, audio: np.ndarray, rate: int, *, final: bool) -> None:
        conv = sock.conversation
        if conv is None or not len(audio):
            return
        vocab = sock.start.get("customVocabulary") or []
        hints = " ".join(str(v) for v in vocab) or None
        got = await self._recognize(audio, rate, start_s, hints)
        if got is None:
            return
        raw, punct, timed, confidence = got
        user = dict(sock.user)
        await self._send(sock, {"type": "message", "message": {
            "type": "recognition_result", "isFinal": final,
            "payload": {"raw": {"alternatives": [{
                "words": [{"word": w, "startTime": _offset(a), "endTime": _offset(b)} for w, a, b in timed],
                "transcript": raw, "confidence": confidence}]}},
            "punctuated": {"transcript": punct},
            "user": user,
        }})
        if not final:
            return
        absolute = [(w, sock.wall_start + a, sock.wall_start + b) for w, a, b in timed]
        messages, insights = self._add_final(conv, sock.user, absolute, confidence)
        # every socket of the conversation gets every speaker's messages (§2.4.3); live captions only its own
        for other in list(conv.sockets):
            if other is sock or other.state == "listening":
                await self._stream_results(other, messages, insights, conv)

    async def _stream_results(
        self, sock: _Socket, messages: list[_Message], insights: list[_Insight], conv: _Conversation
    ) -> None:
        config = sock.start.get("config") or {}
        with_sentiment = bool(config.get("sentiment"))
        sock.sequence += 1
        out = []
        for m in messages:
            item: dict[str, Any] = {
                "id": m.id,
                "from": {k: v for k, v in m.user.items()},
                "payload": {"content": m.text, "contentType": "text/plain"},
                "channel": {"id": "realtime-api"},
                "metadata": {
                    "disablePunctuation": True,
                    "timezoneOffset": config.get("timezoneOffset", 0),
                    "originalContent": m.text,
                    "words": json.dumps([{"word": w, "startTime": _iso(a), "endTime": _iso(b)}
                                         for w, a, b in m.words]),
                    "originalMessageId": m.id,
                },
                "dismissed": False,
                "duration": {"startTime": _iso(m.start), "endTime": _iso(m.end),
                             "timeOffset": round(m.start - conv.started, 3), "duration": round(m.end - m.start, 3)},
            }
            if with_sentiment:
                item["sentiment"] = _sentiment(m.text)
            out.append(item)
        await self._send(sock, {"type": "message_response", "sequenceNumber": sock.sequence, "sentiment":
                                with_sentiment, "messages": out})
        trackers = self._tracker_hits(sock.start.get("trackers") or [], messages)
        if trackers:
            await self._send(sock, {"type": "tracker_response", "isFinal": True, "sequenceNumber": sock.sequence,
                                    "trackers": trackers})
        wanted = set(sock.start.get("insightTypes") or [])
        threshold = float(config.get("confidenceThreshold", 0.5))
        chosen = [i for i in insights if i.type in wanted and i.score >= threshold]
        if chosen:
            await self._send(sock, {"type": "insight_response", "sequenceNumber": sock.sequence,
                                    "insights": [self._insight_stream(i) for i in chosen]})
        topics = []
        for m in messages:
            for word in dict.fromkeys(_topic_words(m.text)):
                topic: dict[str, Any] = {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{conv.id}/{word}")),
                    "messageReferences": [{"id": m.id, "relation": "text instance"}],
                    "phrases": word, "rootWords": [{"text": word}], "score": 0.9, "type": "topic"}
                if with_sentiment:
                    topic["sentiment"] = _sentiment(m.text)
                topics.append(topic)
        if topics:
            await self._send(sock, {"type": "topic_response", "sequenceNumber": sock.sequence, "topics": topics})

    @staticmethod
    def _tracker_hits(definitions: list[dict[str, Any]], messages: list[_Message]) -> list[dict[str, Any]]:
        """The ``trackers`` of a tracker_response: each inline tracker with a match in ``messages`` (§2.4.6)."""
        out = []
        for tracker in definitions:
            matches = []
            for entry in tracker.get("vocabulary") or []:
                refs = [{"id": m.id, "text": m.text, "offset": offset} for m in messages
                        if (offset := _tracker_offset(str(entry), m.text)) is not None]
                if refs:
                    matches.append({"type": "vocabulary", "value": entry, "messageRefs": refs, "insightRefs": []})
            if matches:
                out.append({"name": tracker.get("name", ""), "matches": matches})
        return out

    @staticmethod
    def _insight_stream(i: _Insight) -> dict[str, Any]:
        tags = []
        if i.assignee is not None:
            name = str(i.assignee.get("name") or "")
            pos = i.text.find(name.split(" ")[0]) if name else -1
            tags.append({"type": "person", "text": name, "beginOffset": max(pos, 0),
                         "value": {"value": {**i.assignee, "assignee": True}}})
        return {
            "id": i.id, "type": i.type, "confidence": i.score, "messageReference": {"id": i.message.id},
            "hints": [{"key": "confidenceScore", "value": str(i.score)}],
            "assignee": i.assignee or {}, "tags": tags, "dismissed": False,
            "payload": {"content": i.text, "contentType": "text/plain"}, "text": i.text,
            "from": {k: v for k, v in i.message.user.items()}, "entities": None,
        }

    def _add_final(
        self, conv: _Conversation, user: dict[str, Any], words: list[tuple[str, float, float]], confidence: float
    ) -> tuple[list[_Message], list[_Insight]]:
        """Split timed words into sentence messages, find insights, store both in the conversation."""
        messages: list[_Message] = []
        k = 0
        text = " ".join(w for w, _, _ in words)
        for sentence in _sentences(text):
            n = len(sentence.split())
            chunk = words[k : k + n] or words[-1:]
            k += n
            messages.append(_Message(id=str(uuid.uuid4()), user=dict(user), text=sentence, start=chunk[0][1],
                                     end=chunk[-1][2], words=chunk, confidence=confidence))
        insights = [i for m in messages if (i := self._insight_for(conv, m)) is not None]
        conv.messages.extend(messages)
        conv.insights.extend(insights)
        return messages, insights

    @staticmethod
    def _insight_for(conv: _Conversation, m: _Message) -> _Insight | None:
        text = m.text
        speaker = {"id": m.user.get("id"), "name": m.user.get("name"), "userId": m.user.get("userId")}
        kind: str | None = None
        assignee: dict[str, Any] | None = None
        if text.rstrip().endswith("?"):
            kind = "question"
        elif re.search(r"\bfollow[\s-]?up\b|\bget back to\b", text, re.I):
            kind, assignee = "follow_up", speaker
        elif re.search(r"\b(I will|I'll|I am going to|I'm going to)\b", text, re.I):
            kind, assignee = "action_item", speaker
        else:
            for match in re.finditer(r"\b([A-Z][a-z]+)(?: will\b|, please\b|,? can you\b)", text):
                name = match.group(1)
                if name in _PRONOUNS:
                    continue
                kind = "action_item"
                member = next((mm for mm in conv.members.values() if str(mm.get("name", "")).startswith(name)), None)
                assignee = dict(member) if member else {"name": name}
                break
        if kind is None:
            return None
        return _Insight(id=str(uuid.uuid4()), type=kind, text=text, score=0.9, message=m, assignee=assignee)

    # ------------------------------------------------------------------------------------ async API

    async def _process_audio(self, request: web.Request) -> web.Response:
        if not self._rest_token_ok(request):
            return _error(401, TOKEN_FAILED)
        if self.async_fail_with is not None:
            status = self.async_fail_with
            msg = ("This API has a limit of maximum of 2 number of concurrent jobs per account."
                   if status == 429 else "processing refused (injected)")
            return _error(status, msg)
        if request.content_length is None:
            return _error(400, "Content-Length header is mandatory")
        body = await request.read()
        try:
            pcm, rate = _decode_wav_or_raw(body, request.headers.get("Content-Type", ""),
                                           int(request.query.get("sampleRateHertz", "16000")))
            if not 8000 <= rate <= 48000:
                raise ValueError(f"sample rate {rate} Hz")
        except (ValueError, wave.Error, EOFError) as exc:
            return _error(400, f"Unsupported audio: {exc}")
        speaker: dict[str, Any] = {"name": "Unknown Speaker", "userId": ""}
        with contextlib.suppress(ValueError, TypeError, IndexError, KeyError, AttributeError):
            meta = json.loads(request.query["channelMetadata"])
            got = meta[0]["speaker"]
            speaker = {"name": got.get("name", "Unknown Speaker"), "userId": got.get("email") or got.get("userId", "")}
        conv = self._new_conversation(request.query.get("name", ""), None)
        conv.name = conv.name or conv.id
        member = {"id": str(uuid.uuid4()), **speaker}
        conv.members[str(speaker["userId"]) or member["id"]] = member
        hints = request.query.get("customVocabulary")
        job = _Job(id=str(uuid.uuid4()), conversation=conv,
                   task=asyncio.create_task(self._run_job(conv, member, pcm, rate, hints)))
        self._jobs[job.id] = job
        return _json({"conversationId": conv.id, "jobId": job.id})

    async def _run_job(self, conv: _Conversation, user: dict[str, Any], pcm: bytes, rate: int,
                       hints: str | None) -> None:
        chunker = _Chunker(rate, threshold=self.energy_threshold, silence_s=self.silence_s, max_s=self.max_utterance_s)
        for start_s, audio in chunker.push(pcm) + chunker.flush():
            got = await self._recognize(audio, rate, start_s, hints)
            if got is not None:
                _, _, timed, confidence = got
                self._add_final(conv, user, [(w, conv.started + a, conv.started + b) for w, a, b in timed],
                                confidence)
        conv.ended = conv.started + len(pcm) / 2 / rate
        conv.completed = True

    async def _job(self, request: web.Request) -> web.Response:
        if not self._rest_token_ok(request):
            return _error(401, TOKEN_FAILED)
        job = self._jobs.get(request.match_info["job_id"])
        if job is None:
            return _error(404, "Job not found")
        job.polls += 1
        if job.status == "in_progress" and job.polls > self.job_polls:
            try:
                await asyncio.shield(job.task)
            except Exception:  # a recognizer failure fails the job
                job.status = "failed"
            else:
                job.status = "failed" if self.job_fails else "completed"
        return _json({"id": job.id, "status": job.status})

    # ------------------------------------------------------------------------------------ conversation API

    def _find(self, request: web.Request) -> _Conversation | web.Response:
        if not self._rest_token_ok(request):
            return _error(401, TOKEN_FAILED)
        conv = self._conversations.get(request.match_info["cid"])
        if conv is None:
            return _error(404, NOT_FOUND)
        return conv

    async def _conversation(self, request: web.Request) -> web.Response:
        conv = self._find(request)
        if isinstance(conv, web.Response):
            return conv
        members = [{k: v for k, v in _public_user(m).items() if k != "userId"} for m in conv.members.values()]
        return _json({"id": conv.id, "type": "meeting", "name": conv.name, "startTime": _iso(conv.started),
                      "endTime": _iso(conv.ended or time.time()), "members": members, "metadata": {}})

    async def _conversation_part(self, request: web.Request) -> web.Response:
        conv = self._find(request)
        if isinstance(conv, web.Response):
            return conv
        what = request.match_info["what"]
        q = request.query
        if what == "messages":
            return _json({"messages": [self._message_rest(conv, m, _truthy(q.get("sentiment")),
                                                          _truthy(q.get("verbose"))) for m in conv.messages]})
        if what in ("questions", "action-items", "follow-ups"):
            kind = {"questions": "question", "action-items": "action_item", "follow-ups": "follow_up"}[what]
            root = {"questions": "questions", "action-items": "actionItems", "follow-ups": "followUps"}[what]
            return _json({root: [self._insight_rest(i) for i in conv.insights if i.type == kind]})
        if what == "topics":
            return _json({"topics": self._topics(conv, _truthy(q.get("sentiment")), _truthy(q.get("parentRefs")))})
        if what == "analytics":
            return _json(self._analytics(conv))
        if what == "summary":
            job_running = any(j.conversation is conv and not j.task.done() for j in self._jobs.values())
            if job_running:
                return _error(404, NOT_FOUND)
            return _json({"summary": self._summary(conv)})
        return _error(404, NOT_FOUND)

    @staticmethod
    def _message_rest(conv: _Conversation, m: _Message, sentiment: bool, verbose: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": m.id, "text": m.text, "from": _public_user(m.user), "startTime": _iso(m.start),
            "endTime": _iso(m.end), "timeOffset": round(m.start - conv.started, 3),
            "duration": round(m.end - m.start, 3), "conversationId": conv.id, "phrases": [],
        }
        if sentiment:
            out["sentiment"] = _sentiment(m.text)
        if verbose:
            out["words"] = [{"word": w, "startTime": _iso(a), "endTime": _iso(b), "score": m.confidence,
                             "timeOffset": round(a - conv.started, 3), "duration": round(b - a, 3)}
                            for w, a, b in m.words]
        return out

    @staticmethod
    def _insight_rest(i: _Insight) -> dict[str, Any]:
        out: dict[str, Any] = {"id": i.id, "text": i.text, "type": i.type, "score": i.score,
                               "messageIds": [i.message.id], "from": _public_user(i.message.user)}
        if i.type != "question":
            name = str((i.assignee or {}).get("name") or "")
            entities = []
            if name and (pos := i.text.find(name.split(" ")[0])) >= 0:
                entities.append({"type": "person", "text": name.split(" ")[0], "offset": pos,
                                 "value": {"assignee": True, "name": name}})
            out.update({"entities": entities, "phrases": [], "definitive": True,
                        "assignee": dict(i.assignee or {})})
        return out

    @staticmethod
    def _topics(conv: _Conversation, sentiment: bool, parent_refs: bool) -> list[dict[str, Any]]:
        counts: Counter[str] = Counter()
        refs: dict[str, list[_Message]] = {}
        for m in conv.messages:
            for word in dict.fromkeys(_topic_words(m.text)):
                counts[word] += 1
                refs.setdefault(word, []).append(m)
        if not counts:
            return []
        top = max(counts.values())
        out = []
        for word, n in counts.most_common(10):
            topic: dict[str, Any] = {"id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{conv.id}/{word}")), "text": word,
                                     "type": "topic", "score": round(n / top, 3),
                                     "messageIds": [m.id for m in refs[word]]}
            if sentiment:
                topic["sentiment"] = _sentiment(" ".join(m.text for m in refs[word]))
            if parent_refs:
                topic["parentRefs"] = []
            out.append(topic)
        return out

    @staticmethod
    def _analytics(conv: _Conversation) -> dict[str, Any]:
        spans = sorted((m.start, m.end) for m in conv.messages)
        end = max([conv.ended or 0.0, *(b for _, b in spans)]) if spans else (conv.ended or conv.started)
        total = max(end - conv.started, 1e-9)
        union, cur = 0.0, None
        for a, b in spans:
            if cur is None or a > cur[1]:
                if cur is not None:
                    union += cur[1] - cur[0]
                cur = [a, b]
            else:
                cur[1] = max(cur[1], b)
        if cur is not None:
            union += cur[1] - cur[0]
        by_user: dict[str, list[_Message]] = {}
        for m in conv.messages:
            by_user.setdefault(str(m.user.get("id")), []).append(m)

        def overlap(x: list[_Message], y: list[_Message]) -> float:
            return sum(max(0.0, min(a.end, b.end) - max(a.start, b.start)) for a in x for b in y)

        members = []
        total_overlap = 0.0
        for uid, msgs in by_user.items():
            talk = sum(m.end - m.start for m in msgs)
            words = sum(len(m.words) for m in msgs)
            others = []
            for other_uid, other in by_user.items():
                if other_uid == uid:
                    continue
                sec = overlap(msgs, other)
                if sec > 0:
                    others.append({**_public_user(other[0].user), "percent": round(100 * sec / max(talk, 1e-9), 3),
                                   "seconds": round(sec, 3)})
            ov = sum(o["seconds"] for o in others)
            total_overlap += ov
            listen = max(0.0, union - talk)
            members.append({
                **_public_user(msgs[0].user),
                "pace": {"wpm": int(round(words / (talk / 60))) if talk > 0 else 0},
                "talkTime": {"percentage": round(100 * talk / (talk + listen or 1), 3), "seconds": round(talk, 3)},
                "listenTime": {"percentage": round(100 * listen / (talk + listen or 1), 3),
                               "seconds": round(listen, 3)},
                "overlap": {"overlapDuration": round(ov, 3), "overlappingMembers": others},
            })
        total_overlap /= 2
        return {"metrics": [
            {"type": "total_silence", "percent": round(100 * (total - union) / total, 3),
             "seconds": round(total - union, 3)},
            {"type": "total_talk_time", "percent": round(100 * union / total, 3), "seconds": round(union, 3)},
            {"type": "total_overlap", "percent": round(100 * total_overlap / (union or 1), 3),
             "seconds": round(total_overlap, 3)},
        ], "members": members}

    @staticmethod
    def _summary(conv: _Conversation) -> list[dict[str, Any]]:
        items = []
        for i in conv.insights:
            who = i.message.user.get("name") or "Someone"
            verb = {"question": "asked", "action_item": "committed", "follow_up": "will follow up"}[i.type]
            items.append((f"{who} {verb}: {i.text}", [i.message]))
        if not items:
            items = [(f"{m.user.get('name') or 'Someone'}: {m.text}", [m]) for m in conv.messages[:3]]
        return [{"id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{conv.id}/summary/{k}")), "text": text,
                 "messageRefs": [{"id": m.id} for m in msgs], "startTime": _iso(msgs[0].start),
                 "endTime": _iso(msgs[-1].end)} for k, (text, msgs) in enumerate(items)]
