"""One call to an OpenAI-compatible ``POST {base_url}/chat/completions`` (llama.cpp server, Ollama, vLLM).

Only the non-streaming subset every such server speaks is used: ``model``, ``messages``, ``temperature``,
``max_tokens`` and ``response_format``. ``{"type": "json_object"}`` is accepted by llama.cpp's server, Ollama
and vLLM; ``{"type": "json_schema", "json_schema": {"name", "schema"}}`` constrains decoding on recent
llama.cpp, Ollama 0.5+ and vLLM, but some servers accept it and ignore it, so the answer is always validated
by the caller.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.config import LlmSettings

MAX_RESPONSE_BYTES = 1 << 20  # a summary is a few KB; a larger body is not an answer to this request
ERROR_EXCERPT_CHARS = 200


class ChatError(Exception):
    """The endpoint gave no usable answer. The message says why and is safe for logs and reports (no secret)."""


class ChatClient:
    """Sends chat-completions requests to one endpoint.

    Args:
        settings: the ``[llm]`` section (base_url must be set).
        http: an open aiohttp session to use; by default one is opened per call (a meeting makes one call).
    """

    def __init__(self, settings: LlmSettings, *, http: aiohttp.ClientSession | None = None) -> None:
        if not settings.base_url:
            raise ValueError("llm.base_url is not set")
        self._settings = settings
        self._url = settings.base_url + "/chat/completions"
        self._http = http

    @property
    def endpoint(self) -> str:
        """Scheme, host and port of the endpoint: what messages may name (no path, user info or query)."""
        parts = urlsplit(self._url)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")

    async def complete(self, messages: list[dict[str, str]], *, schema: dict[str, Any] | None = None) -> str:
        """The assistant's message content for ``messages``.

        The caller bounds the time (the bot's stop deadline and ``llm.timeout_s``); cancellation or a
        TimeoutError passes through.

        Raises:
            ChatError: connection failed, an HTTP error, or a body that is not a chat completion.
        """
        s = self._settings
        body: dict[str, Any] = {"model": s.model, "messages": messages, "temperature": s.temperature,
                                "max_tokens": s.max_tokens, "stream": False}
        if s.response_format == "json_object":
            body["response_format"] = {"type": "json_object"}
        elif s.response_format == "json_schema" and schema is not None:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "meeting_summary", "schema": schema}}
        headers = {"Accept": "application/json"}
        if s.api_key is not None:
            headers["Authorization"] = f"Bearer {s.api_key.get_secret_value()}"
        if self._http is not None:
            return await self._post(self._http, body, headers)
        async with aiohttp.ClientSession() as http:
            return await self._post(http, body, headers)

    async def _post(self, http: aiohttp.ClientSession, body: dict[str, Any], headers: dict[str, str]) -> str:
        try:
            async with http.post(self._url, json=body, headers=headers, allow_redirects=False) as resp:
                raw = await resp.content.read(MAX_RESPONSE_BYTES + 1)
                status = resp.status
        except aiohttp.ClientConnectorError as exc:
            why = "connection refused" if isinstance(exc.os_error, ConnectionRefusedError) else \
                exc.strerror or type(exc).__name__
            raise ChatError(f"could not connect to {self.endpoint}: {why}") from None
        except aiohttp.ClientError as exc:
            raise ChatError(f"{self.endpoint}: {type(exc).__name__}") from None
        if status != 200:
            raise ChatError(f"{self.endpoint} answered HTTP {status}{self._excerpt(raw)}")
        if len(raw) > MAX_RESPONSE_BYTES:
            raise ChatError(f"{self.endpoint} sent more than {MAX_RESPONSE_BYTES} bytes")
        return _content(raw, self.endpoint)

    def _excerpt(self, raw: bytes) -> str:
        """The start of an error body, for the warning; the API key is cut out should a server echo it."""
        text = " ".join(raw.decode("utf-8", "replace").split())[:ERROR_EXCERPT_CHARS]
        if self._settings.api_key is not None and (key := self._settings.api_key.get_secret_value()):
            text = text.replace(key, "***")
        return f": {text}" if text else ""


def _content(raw: bytes, endpoint: str) -> str:
    """``choices[0].message.content`` of a chat completion; ChatError when the body is no such thing."""
    try:
        data = json.loads(raw)
        choice = data["choices"][0]
        content = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ChatError(f"{endpoint} did not send a chat completion") from None
    if not isinstance(content, str) or not content.strip():
        raise ChatError(f"{endpoint} sent an empty answer")
    if choice.get("finish_reason") == "length":
        # The JSON is cut off and will not parse: say why rather than "not JSON".
        raise ChatError("the answer was cut off at llm.max_tokens")
    return content
