"""A double of an OpenAI-compatible chat-completions server (llama.cpp's ``llama-server``, Ollama, vLLM).

An aiohttp server on 127.0.0.1:<ephemeral> with ``POST /v1/chat/completions``. It checks each request the way
those servers do, and answers 400 with an OpenAI-style error body when the request is malformed: a JSON object
with ``model`` (non-empty string), ``messages`` (non-empty list of ``{role: system|user|assistant, content:
string}``), optional numeric ``temperature`` and integer ``max_tokens``, ``stream`` false or absent, and a
``response_format`` of ``{"type": "text"|"json_object"}`` or ``{"type": "json_schema", "json_schema": {"name",
"schema"}}``. With ``api_key`` set, ``Authorization: Bearer <key>`` is required (else 401, as vLLM and
llama-server with ``--api-key`` do), with the key it got echoed in the message.

It does not run a model: ``reply`` (a string, or a callable of the request body) is the assistant's content.
Knobs, plain attributes that may change while it runs: ``reply``, ``status`` (non-200 answers with an error
body), ``delay_s`` (sleeps before answering), ``finish_reason``, ``raw_body`` (sent as is instead of a chat
completion). Every request body and its headers are kept in ``requests``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ROLES = {"system", "user", "assistant"}


@dataclass
class Received:
    """One request as the server saw it."""

    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class ChatCompletionsDouble:
    """The server's behaviour; see the module docstring."""

    api_key: str | None = None
    reply: str | Callable[[dict[str, Any]], str] = "{}"
    status: int = 200
    delay_s: float = 0.0
    finish_reason: str = "stop"
    raw_body: bytes | None = None
    requests: list[Received] = field(default_factory=list)
    url: str = ""  # the base URL (…/v1) once started

    async def _handle(self, request: web.Request) -> web.Response:
        headers = dict(request.headers)
        if self.api_key is not None and headers.get("Authorization") != f"Bearer {self.api_key}":
            # Echoes the key it got, as some servers do in part ("Incorrect API key provided: sk-...").
            given = headers.get("Authorization", "").removeprefix("Bearer ")
            return _error(401, f"Incorrect API key provided: {given}", "authentication_error")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "request body is not JSON")
        problem = _malformed(body)
        self.requests.append(Received(body if isinstance(body, dict) else {}, headers))
        if problem:
            return _error(400, problem)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.status != 200:
            return _error(self.status, "the model crashed", "server_error")
        if self.raw_body is not None:
            return web.Response(body=self.raw_body, content_type="application/json")
        content = self.reply(body) if callable(self.reply) else self.reply
        return web.json_response({
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": self.finish_reason}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ChatCompletionsDouble]:
        """Serve on 127.0.0.1 at a free port until the block ends; ``url`` is the API base."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/v1"
        try:
            yield self
        finally:
            await runner.cleanup()


def _error(status: int, message: str, kind: str = "invalid_request_error") -> web.Response:
    return web.json_response({"error": {"message": message, "type": kind, "code": status}}, status=status)


def _malformed(body: Any) -> str | None:
    """What is wrong with a chat-completions request body, or None."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "'model' must be a non-empty string"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array"
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            return "each message needs a role (system, user, assistant) and string content"
    if "temperature" in body and not isinstance(body["temperature"], int | float):
        return "'temperature' must be a number"
    if "max_tokens" in body and (not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1):
        return "'max_tokens' must be a positive integer"
    if body.get("stream") not in (None, False):
        return "this double does not stream"
    fmt = body.get("response_format")
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind == "json_schema":
            spec = fmt.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) \
                    or not isinstance(spec.get("schema"), dict):
                return "'response_format.json_schema' needs a name and a schema object"
        elif kind not in ("text", "json_object"):
            return "'response_format.type' must be text, json_object or json_schema"
    return None


def as_json(answer: dict[str, Any]) -> str:
    """``answer`` as the content a model would send."""
    return json.dumps(answer, ensure_ascii=False)
