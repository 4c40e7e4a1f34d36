"""The REST API of ``jitsi-bot serve`` (aiohttp): bots, their artifacts and events, health and metrics.

Every ``/api/`` request needs ``Authorization: Bearer <serve.api_token>`` (compared in constant time); errors are
JSON ``{"error": ..., "field"?: ...}``. ``create_app`` returns the Application before it is frozen, so the web
page (bot.serve.web) adds its routes to it; it finds the manager and settings under ``MANAGER``/``SETTINGS``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from bot.config import EmailSettings, ServeSettings
from bot.serve.manager import BotManager, BotRequest, Conflict, Event, NotAccepting, NotFound, StopFailed
from bot.serve.model import BotStatus
from bot.serve.policy import MAX_URL_CHARS, HostPolicy, UrlRefused
from bot.serve.store import BotRecord
from bot.serve.views import ARTIFACTS, bot_json
from bot.status import BotFiles

MANAGER = web.AppKey("serve_manager", BotManager)
SETTINGS = web.AppKey("serve_settings", ServeSettings)
POLICY = web.AppKey("serve_policy", HostPolicy)

HEARTBEAT_S = 15.0
MAX_BODY_BYTES = 64 * 1024
MAX_ARTIFACT_BYTES = 64 * 1024 * 1024
RESOLVE_TIMEOUT_S = 10.0
MAX_LIST_LIMIT = 10_000
# summary.html is the bot's own rendering of what people said: shown as a document, never as a script host.
SUMMARY_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CreateBot(BaseModel):
    """``POST /api/v1/bots``: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    meeting_url: str = Field(max_length=MAX_URL_CHARS)
    bot_name: str | None = Field(None, min_length=1, max_length=64)
    email: list[str] = Field(default_factory=list, max_length=20)
    webhook: str | None = Field(None, max_length=MAX_URL_CHARS)
    backend: Literal["local", "symbl"] | None = None
    password: SecretStr | None = Field(None, max_length=256)
    max_duration_s: float | None = Field(None, gt=0, le=24 * 3600)

    @field_validator("bot_name")
    @classmethod
    def _printable(cls, v: str | None) -> str | None:
        if v is not None and not v.isprintable():
            raise ValueError("must not contain control characters")
        return v

    @field_validator("email")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        try:
            EmailSettings.model_validate({"to": v})
        except ValidationError as exc:
            raise ValueError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None
        return v


def _error(status: int, message: str, field: str | None = None, **headers: str) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    return web.json_response(body, status=status, headers=headers or None)


def _base(request: web.Request) -> str:
    public = request.app[SETTINGS].public_url
    return public.rstrip("/") if public else f"{request.scheme}://{request.host}"


def _view(request: web.Request, record: BotRecord) -> dict[str, Any]:
    return bot_json(record, _base(request))


@web.middleware
async def _api_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer auth and JSON errors on ``/api/``."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    settings = request.app[SETTINGS]
    assert settings.api_token is not None
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    expected = settings.api_token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        return _error(401, "missing or wrong bearer token", **{"WWW-Authenticate": 'Bearer realm="jitsi-bot"'})
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason)


async def _create(request: web.Request) -> web.Response:
    too_large = _error(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return too_large
    try:
        body_bytes = await request.read()  # the whole body, however it arrives (client_max_size caps it)
    except web.HTTPRequestEntityTooLarge:
        return too_large
    try:
        raw = json.loads(body_bytes or b"null")
    except ValueError:
        return _error(400, "the body is not JSON")
    if not isinstance(raw, dict):
        return _error(422, "the body must be a JSON object")
    try:
        body = CreateBot.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else None
        message = "unknown field" if err["type"] == "extra_forbidden" else \
            str(err["msg"]).removeprefix("Value error, ")
        return _error(422, message, field)
    policy = request.app[POLICY]
    manager = request.app[MANAGER]
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):  # a resolver that does not answer
            meeting_url = await policy.check_meeting_url(body.meeting_url)
    except UrlRefused as exc:
        return _error(422, f"meeting_url refused: {exc}", "meeting_url")
    except TimeoutError:
        return _error(422, "meeting_url refused: its host could not be resolved in time", "meeting_url")
    webhook = None
    if body.webhook is not None:
        if not manager.webhooks_enabled:
            return _error(422, "this server has no webhook.secret to sign status webhooks with", "webhook")
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_S):
                webhook = await policy.check_webhook_url(body.webhook)
        except UrlRefused as exc:
            return _error(422, f"webhook refused: {exc}", "webhook")
        except TimeoutError:
            return _error(422, "webhook refused: its host could not be resolved in time", "webhook")
    request_ = BotRequest(
        meeting_url=meeting_url, bot_name=body.bot_name, email=tuple(body.email), webhook=webhook,
        backend=body.backend, password=body.password.get_secret_value() if body.password else None,
        max_duration_s=body.max_duration_s)
    try:
        record = await manager.create(request_)
    except NotAccepting:
        return _error(503, "the server is shutting down")
    view = _view(request, record)
    return web.json_response(view, status=201, headers={"Location": view["links"]["self"]})


def _record(request: web.Request) -> BotRecord:
    try:
        return request.app[MANAGER].get(request.match_info["bot_id"])
    except NotFound:
        raise web.HTTPNotFound(reason="no such bot") from None


async def _list(request: web.Request) -> web.Response:
    """``GET /api/v1/bots[?limit=N][&status=S[,S...]]``: ``{"bots": [...]}``, always oldest first.

    ``status`` (repeatable, or comma-separated) keeps only bots with those statuses; ``limit`` then keeps
    the newest N of them, still oldest first, so that a page of the latest bots reads like the whole list.
    """
    limit: int | None = None
    if "limit" in request.query:
        try:
            limit = int(request.query["limit"])
        except ValueError:
            limit = -1
        if not 0 < limit <= MAX_LIST_LIMIT:
            return _error(422, f"limit must be a whole number from 1 to {MAX_LIST_LIMIT}", "limit")
    statuses: frozenset[BotStatus] | None = None
    names = [n for value in request.query.getall("status", []) for n in value.split(",") if n]
    if names:
        try:
            statuses = frozenset(BotStatus(n) for n in names)
        except ValueError:
            return _error(422, f"status must be among {', '.join(str(s) for s in BotStatus)}", "status")
    bots = request.app[MANAGER].bots(limit=limit, statuses=statuses)
    return web.json_response({"bots": [_view(request, r) for r in bots]})


async def _get(request: web.Request) -> web.Response:
    return web.json_response(_view(request, _record(request)))


async def _delete(request: web.Request) -> web.Response:
    record = _record(request)
    try:
        record = await request.app[MANAGER].stop(record.id)
    except Conflict as exc:
        return _error(409, str(exc))
    except StopFailed as exc:
        return _error(502, f"the bot could not be asked to leave: {exc}; try again")
    return web.json_response(_view(request, record), status=202)


async def _artifact(request: web.Request) -> web.StreamResponse:
    record = _record(request)
    name = request.match_info["name"]
    if name not in ARTIFACTS:  # the route allows only these names; never a path from the request
        raise web.HTTPNotFound(reason="no such artifact")
    # The bot controls its folder: a symlink, FIFO or device there (or as the folder) reads as absent.
    files = BotFiles(request.app[MANAGER].out_dir(record.id))
    body = await asyncio.to_thread(files.read, name, MAX_ARTIFACT_BYTES)
    if body is None:
        return _error(404, f"{name} is not written yet" if not record.status.final else f"{name} was not written")
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
    if name == "summary.html":
        headers["Content-Security-Policy"] = SUMMARY_CSP
    return web.Response(body=body, content_type=ARTIFACTS[name], charset="utf-8", headers=headers)


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _encode(request: web.Request, event: Event) -> bytes:
    if event.record is not None:
        return _sse("status", _view(request, event.record))
    if event.kind == "skipped":
        return _sse("skipped", {"segments": event.skipped,
                                "note": "earlier segments are not replayed; none is lost: the bot's transcript "
                                        "has them all"})
    return _sse("segment", event.segment)


async def _events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: ``status`` (the bot JSON) and ``segment`` (live transcript) events; ``end`` last.

    A replay of a long meeting starts with ``skipped`` (``{"segments": n}`` earlier segments left out). The
    ``end`` event is ``{"status", "reason"}``: ``final`` (the bot has ended) or ``server_stopping`` (the
    bot may still run: connect again to the next server).
    """
    record = _record(request)
    manager = request.app[MANAGER]
    past, queue = await manager.subscribe(record.id)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    try:
        await response.prepare(request)
        await response.write(b"".join(_encode(request, e) for e in past))
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
            except TimeoutError:
                await response.write(b": heartbeat\n\n")  # also finds a client that has gone
                continue
            if event is None:
                break
            await response.write(_encode(request, event))
        status = manager.get(record.id).status
        reason = "final" if status.final else "server_stopping"
        await response.write(_sse("end", {"status": str(status), "reason": reason}))
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client left
    finally:
        manager.unsubscribe(record.id, queue)
    return response


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok" if request.app[MANAGER].accepting else "stopping"})


def metrics_text(manager: BotManager) -> str:
    """Prometheus text exposition: counts only, never a URL or a name."""
    lines = ["# HELP jitsi_bot_serve_bots Bots known to the server, by status.",
             "# TYPE jitsi_bot_serve_bots gauge"]
    lines += [f'jitsi_bot_serve_bots{{status="{s}"}} {n}' for s, n in manager.counts().items()]
    for name, kind, value, text in (
        ("queue_length", "gauge", manager.queue_length, "Bots waiting for a free slot."),
        ("running", "gauge", manager.running_count, "Bots launched and not yet ended."),
        ("launches_total", "counter", manager.launches, "Launches attempted since the server started."),
        ("launch_failures_total", "counter", manager.launch_failures, "Launches that failed since the start."),
    ):
        lines += [f"# HELP jitsi_bot_serve_{name} {text}", f"# TYPE jitsi_bot_serve_{name} {kind}",
                  f"jitsi_bot_serve_{name} {value}"]
    return "\n".join(lines) + "\n"


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(text=metrics_text(request.app[MANAGER]), content_type="text/plain",
                        headers={"Cache-Control": "no-store"})


def create_app(settings: ServeSettings, *, manager: BotManager, policy: HostPolicy) -> web.Application:
    """The API application (not frozen: the web page's ``setup`` adds its routes before it runs).

    Raises:
        ValueError: ``settings.api_token`` is not set.
    """
    if settings.api_token is None:
        raise ValueError("serve.api_token is required")
    app = web.Application(middlewares=[_api_guard], client_max_size=MAX_BODY_BYTES)
    app[MANAGER] = manager
    app[SETTINGS] = settings
    app[POLICY] = policy
    names = "|".join(n.replace(".", r"\.") for n in ARTIFACTS)
    app.router.add_post("/api/v1/bots", _create)
    app.router.add_get("/api/v1/bots", _list)
    app.router.add_get("/api/v1/bots/{bot_id}", _get)
    app.router.add_delete("/api/v1/bots/{bot_id}", _delete)
    app.router.add_get("/api/v1/bots/{bot_id}/events", _events)
    app.router.add_get("/api/v1/bots/{bot_id}/{name:(" + names + ")}", _artifact)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    return app
