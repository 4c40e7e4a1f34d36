"""The queue, the slots and the watch over every bot: what ``jitsi-bot serve`` does between HTTP and launchers.

- At most ``serve.max_concurrent`` bots run; the rest wait in FIFO order. A bot is marked ``starting`` in the
  store *before* it is launched, so a server that dies mid-launch never launches it again: after a restart it
  is found by its launcher (``running()``) or marked failed.
- Each running bot is watched: its ``status.json`` is polled (``SESSION_STATES`` gives the API status), new
  ``live.jsonl`` lines become ``segment`` events, and ``launcher.wait`` gives the end. Exit 0 is ``done``,
  exit 4 is ``done`` with a note (a delivery is still pending), anything else ``failed``; a bot stopped through
  DELETE is ``stopped``.
- Per-bot status webhook: a request's ``webhook`` is *not* given to the bot (the bot would POST its report
  there too). The server posts, signed per Standard Webhooks with ``webhook.secret``, a ``bot.status`` event on
  every status change and a ``bot.done`` event carrying ``report.json`` (or null) at the end.
- Restart: queued bots stay queued; running ones are re-attached when their launcher still knows them, take
  their status file's final word when it has one, and are otherwise failed ("lost: ...").
- Shutdown: no new bots; local bots are asked to leave (they write their notes) and awaited up to
  ``serve.stop_grace_s``; containers and Jobs keep running and are re-attached by the next server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from pydantic import SecretStr

from bot.config import ServeSettings, WebhookSettings
from bot.delivery.errors import DeliveryError
from bot.delivery.webhook import WebhookSender, public_target, webhook_id
from bot.serve.launcher import LABEL_APP, LABEL_APP_VALUE, LABEL_BOT, Launcher, LaunchError
from bot.serve.model import SESSION_STATES, BotStatus, Exited, LaunchSpec
from bot.serve.store import BotRecord, Store, new_bot_id, utc_now
from bot.serve.views import bot_json
from bot.status import BotFiles

log = structlog.get_logger(__name__)

LOST = "lost: the server restarted while it ran"
DELIVERY_PENDING = "the notes were written, but an email or webhook delivery is still pending (jitsi-bot deliver)"


class NotFound(KeyError):
    """No bot with that id."""


class Conflict(Exception):
    """The bot has ended already."""


class NotAccepting(Exception):
    """The server is shutting down."""


@dataclass(frozen=True, slots=True)
class Event:
    """One item of a bot's events stream: ``status`` (data: the record), ``segment`` (a live.jsonl line)."""

    kind: str
    record: BotRecord | None = None
    segment: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class BotRequest:
    """What a client asked for (validated by the API)."""

    meeting_url: str
    bot_name: str | None = None
    email: tuple[str, ...] = ()
    webhook: str | None = None
    backend: str | None = None
    password: str | None = None
    max_duration_s: float | None = None


class BotManager:
    """Queues, launches, watches and stops bots; the single owner of every bot record while the server runs."""

    def __init__(self, settings: ServeSettings, store: Store, launcher: Launcher, *,
                 webhook: WebhookSettings | None = None, poll_s: float = 0.5) -> None:
        """Prepare the manager (``start`` loads the records).

        Args:
            settings: the ``[serve]`` settings.
            store: the open store.
            launcher: starts and stops the bots.
            webhook: the ``[webhook]`` settings (their secret signs status webhooks).
            poll_s: how often a running bot's files are read.
        """
        self._settings = settings
        self._store = store
        self._launcher = launcher
        self._webhook_settings = webhook
        self._poll_s = poll_s
        self.bots_dir = settings.data_dir / "bots"
        self._records: dict[str, BotRecord] = {}
        self._queue: deque[str] = deque()
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._segments: dict[str, list[dict[str, Any]]] = {}
        self._subscribers: dict[str, set[asyncio.Queue[Event | None]]] = {}
        self._hooks: dict[str, asyncio.Queue[tuple[str, dict[str, Any]] | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._scheduler: asyncio.Task[None] | None = None
        self._sender: WebhookSender | None = None
        self.accepting = True
        self.launches = 0
        self.launch_failures = 0

    @property
    def launcher_name(self) -> str:
        """The launcher's name (``local``, ``docker``, ``kubernetes``)."""
        return self._launcher.name

    @property
    def webhooks_enabled(self) -> bool:
        """Whether status webhooks can be signed (``webhook.secret`` is set)."""
        s = self._webhook_settings
        return s is not None and s.secret is not None

    def out_dir(self, bot_id: str) -> Path:
        """The bot's artifact folder."""
        return self.bots_dir / bot_id

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Load the records, re-attach or settle the bots that were running, start the queue."""
        self.bots_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.webhooks_enabled:
            assert self._webhook_settings is not None
            self._sender = WebhookSender(self._webhook_settings.model_copy(update={"url": None}))
        running: dict[str, str] | None
        try:
            running = await self._launcher.running()
        except Exception as exc:  # an engine that is down now must not keep the server from listing bots
            log.warning("serve.running_unknown", launcher=self._launcher.name, error=type(exc).__name__)
            running = None
        for record in await self._store.all():
            self._records[record.id] = record
            if record.status is BotStatus.QUEUED:
                self._queue.append(record.id)
            elif not record.status.final:
                if running is None:  # not knowing is not losing: left as they were until the next start
                    log.warning("serve.not_reattached", bot=record.id)
                    continue
                await self._resume(record, running.get(record.id))
        log.info("serve.loaded", bots=len(self._records), queued=len(self._queue), running=len(self._watchers))
        self._scheduler = asyncio.create_task(self._schedule(), name="serve.scheduler")
        self.kick()

    async def _resume(self, record: BotRecord, ref: str | None) -> None:
        if record.webhook:
            self._start_hook(record.id)
        if ref is not None:
            record = await self._update(record.id, ref=ref)
            self._watch(record)
            return
        status = BotFiles(self.out_dir(record.id)).status() or {}
        if status.get("state") in ("done", "failed"):
            await self._finish(record.id, Exited(None), status)
        else:
            await self._finish(record.id, Exited(None, LOST), status, lost=True)

    async def shutdown(self) -> None:
        """Stop taking bots; ask local bots to leave and wait for them (``stop_grace_s``); stop watching."""
        self.accepting = False
        if self._scheduler is not None:
            self._scheduler.cancel()
            await asyncio.gather(self._scheduler, return_exceptions=True)
        if self._launcher.name == "local" and self._watchers:
            for bot_id in list(self._watchers):
                record = self._records[bot_id]
                await self._update(bot_id, stop_requested=True, detail="the server shut down")
                if record.ref is not None:
                    await self._launcher.stop(record.ref, self._settings.stop_grace_s)
            await asyncio.wait(list(self._watchers.values()), timeout=self._settings.stop_grace_s + 5)
        for task in list(self._watchers.values()):
            task.cancel()
        await asyncio.gather(*self._watchers.values(), return_exceptions=True)
        for queues in self._subscribers.values():
            for q in queues:
                q.put_nowait(None)

    async def aclose(self) -> None:
        """Cancel whatever is left (webhook deliveries too) and close the webhook client."""
        if self._scheduler is not None:
            self._scheduler.cancel()
            await asyncio.gather(self._scheduler, return_exceptions=True)
        for task in list(self._watchers.values()) + list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._watchers.values(), *self._tasks, return_exceptions=True)
        if self._sender is not None:
            await self._sender.aclose()

    # ------------------------------------------------------------------ requests
    def bots(self) -> list[BotRecord]:
        """Every bot, oldest first."""
        return sorted(self._records.values(), key=lambda r: r.seq or 0)

    def get(self, bot_id: str) -> BotRecord:
        """One bot.

        Raises:
            NotFound: no such bot.
        """
        try:
            return self._records[bot_id]
        except KeyError:
            raise NotFound(bot_id) from None

    async def create(self, request: BotRequest) -> BotRecord:
        """Queue a bot; the scheduler launches it when a slot is free.

        Raises:
            NotAccepting: the server is shutting down.
        """
        if not self.accepting:
            raise NotAccepting()
        record = BotRecord(id=new_bot_id(), meeting_url=request.meeting_url, launcher=self._launcher.name,
                           bot_name=request.bot_name, email=request.email, backend=request.backend,
                           password=request.password, max_duration_s=request.max_duration_s,
                           webhook=request.webhook)
        record = await self._store.insert(record)
        self._records[record.id] = record
        self._queue.append(record.id)
        log.info("serve.queued", bot=record.id, queue=len(self._queue))
        if record.webhook:
            self._start_hook(record.id)
            self._hook(record.id, "bot.status", record)
        self.kick()
        return record

    async def stop(self, bot_id: str) -> BotRecord:
        """Stop a bot: a queued one never starts, a running one is asked to leave (its notes are written).

        Raises:
            NotFound: no such bot.
            Conflict: it has ended already.
        """
        record = self.get(bot_id)
        if record.status.final:
            raise Conflict(bot_id)
        if record.status is BotStatus.QUEUED:
            with contextlib.suppress(ValueError):
                self._queue.remove(bot_id)
            await self._settle(bot_id, BotStatus.STOPPED, detail="stopped before it started", stop_requested=True)
            return self._records[bot_id]
        if not record.stop_requested:
            record = await self._update(bot_id, stop_requested=True, detail="stopped through the API")
            log.info("serve.stop", bot=bot_id)
            if record.ref is not None:  # else the launch under way sees stop_requested when it returns
                await self._launcher.stop(record.ref, self._settings.stop_grace_s)
        return self._records[bot_id]

    def subscribe(self, bot_id: str) -> tuple[list[Event], asyncio.Queue[Event | None]]:
        """The bot's events so far (its status, then every segment) and a queue of those to come.

        The queue yields None when the bot has ended (or the server stops); call ``unsubscribe`` when done.

        Raises:
            NotFound: no such bot.
        """
        record = self.get(bot_id)
        segments = self._segments.get(bot_id)
        if segments is None:
            segments = BotFiles(self.out_dir(bot_id)).live_since(0)[0]
        past = [Event("status", record=record)] + [Event("segment", segment=s) for s in segments]
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        if record.status.final:
            queue.put_nowait(None)
        else:
            self._subscribers.setdefault(bot_id, set()).add(queue)
        return past, queue

    def unsubscribe(self, bot_id: str, queue: asyncio.Queue[Event | None]) -> None:
        """Stop delivering events to ``queue``."""
        self._subscribers.get(bot_id, set()).discard(queue)

    def counts(self) -> dict[str, int]:
        """Bots by status (every status named), for /metrics."""
        out = {str(s): 0 for s in BotStatus}
        for record in self._records.values():
            out[str(record.status)] += 1
        return out

    @property
    def queue_length(self) -> int:
        """Bots waiting for a slot."""
        return len(self._queue)

    @property
    def running_count(self) -> int:
        """Bots launched and not yet ended."""
        return len(self._watchers)

    # ------------------------------------------------------------------ the queue
    def kick(self) -> None:
        """Have the scheduler look at the queue (a bot was added, or a slot came free)."""
        self._wake.set()

    async def _schedule(self) -> None:
        """Launch queued bots while slots are free, one launch at a time (so nothing starts twice)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.accepting and self._queue and len(self._watchers) < self._settings.max_concurrent:
                bot_id = self._queue.popleft()
                try:
                    await self._launch(bot_id)
                except Exception:  # the store failed: the scheduler must live on for the other bots
                    log.exception("serve.launch_error", bot=bot_id)

    async def _launch(self, bot_id: str) -> None:
        record = self._records[bot_id]
        out = self.out_dir(bot_id)
        spec = LaunchSpec(
            bot_id=bot_id, meeting_url=record.meeting_url, bot_name=record.bot_name, email=record.email,
            backend=record.backend, password=_secret(record.password), max_duration_s=record.max_duration_s,
            labels={LABEL_APP: LABEL_APP_VALUE, LABEL_BOT: bot_id})
        # Stored before the launch: a server that dies during it finds the bot, or fails it; never relaunches it.
        await self._update(bot_id, status=BotStatus.STARTING, started_at=utc_now())
        self.launches += 1
        try:
            ref = await self._launcher.launch(spec, out)
        except Exception as exc:
            self.launch_failures += 1
            detail = str(exc) if isinstance(exc, LaunchError) else f"the launcher failed ({type(exc).__name__})"
            log.warning("serve.launch_failed", bot=bot_id, error=detail)
            await self._settle(bot_id, BotStatus.FAILED, detail=detail, end_reason="launch_failed")
            return
        record = await self._update(bot_id, ref=ref, password=None)
        log.info("serve.launched", bot=bot_id, ref=ref, running=len(self._watchers) + 1)
        self._watch(record)
        if record.stop_requested:
            await self._launcher.stop(ref, self._settings.stop_grace_s)

    def _watch(self, record: BotRecord) -> None:
        self._segments.setdefault(record.id, [])
        self._watchers[record.id] = asyncio.create_task(self._watching(record), name=f"serve.watch.{record.id}")

    async def _watching(self, record: BotRecord) -> None:
        assert record.ref is not None
        files = BotFiles(self.out_dir(record.id))
        waiter = asyncio.create_task(self._launcher.wait(record.ref), name=f"serve.wait.{record.id}")
        offset = 0
        try:
            while True:
                offset = await self._observe(record.id, files, offset)
                if waiter.done():
                    break
                await asyncio.wait({waiter}, timeout=self._poll_s)
            try:
                exited = waiter.result()
            except Exception as exc:
                exited = Exited(None, f"the launcher lost the bot ({type(exc).__name__})")
            await self._observe(record.id, files, offset)
            await self._finish(record.id, exited, files.status() or {})
        finally:
            waiter.cancel()
            with contextlib.suppress(BaseException):
                await waiter
            self._watchers.pop(record.id, None)
        self.kick()

    async def _observe(self, bot_id: str, files: BotFiles, offset: int) -> int:
        status = files.status()
        if status is not None:
            record = self._records[bot_id]
            mapped = SESSION_STATES.get(str(status.get("state")))
            changes: dict[str, Any] = {}
            if mapped is not None:
                # done/failed are written just before the process exits: its exit decides the final status.
                shown = BotStatus.FINALIZING if mapped.final else mapped
                if shown is not record.status:
                    changes["status"] = shown
            participants = status.get("participants")
            if isinstance(participants, int) and participants != record.participants:
                changes["participants"] = participants
            if changes:
                await self._update(bot_id, **changes)
        segments, offset = files.live_since(offset)
        for segment in segments:
            self._segments.setdefault(bot_id, []).append(segment)
            self._publish(bot_id, Event("segment", segment=segment))
        return offset

    async def _finish(self, bot_id: str, exited: Exited, status: dict[str, Any], *, lost: bool = False) -> None:
        record = self._records[bot_id]
        code = exited.exit_code if exited.exit_code is not None else status.get("exit_code")
        code = code if isinstance(code, int) else None
        end_reason = status.get("end_reason") if isinstance(status.get("end_reason"), str) else None
        participants = status.get("participants")
        extra: dict[str, Any] = {"exit_code": code, "end_reason": end_reason}
        if isinstance(participants, int):
            extra["participants"] = participants
        detail: str | None
        if lost:
            final, detail = BotStatus.FAILED, LOST
        elif record.stop_requested:
            final, detail = BotStatus.STOPPED, record.detail
        elif code == 0 or (code is None and status.get("state") == "done"):
            final, detail = BotStatus.DONE, None
        elif code == 4:
            final, detail = BotStatus.DONE, DELIVERY_PENDING
        else:
            final = BotStatus.FAILED
            detail = exited.reason or (f"exit code {code}" if code is not None else "ended without an exit code")
        log.info("serve.ended", bot=bot_id, status=str(final), exit_code=code, end_reason=end_reason)
        await self._settle(bot_id, final, detail=detail, **extra)

    async def _settle(self, bot_id: str, final: BotStatus, **changes: Any) -> None:
        """Give the bot its final status; tell subscribers and its webhook; forget its live state."""
        record = await self._update(bot_id, status=final, ended_at=utc_now(), password=None, **changes)
        for queue in self._subscribers.pop(bot_id, set()):
            queue.put_nowait(None)
        self._segments.pop(bot_id, None)
        if record.webhook:
            report = _read_json(self.out_dir(bot_id) / "report.json")
            self._hook(bot_id, "bot.done", record, report=report)
            self._end_hook(bot_id)

    async def _update(self, bot_id: str, **changes: Any) -> BotRecord:
        before = self._records[bot_id]
        record = before.but(**changes)
        self._records[bot_id] = record
        await self._store.save(record)
        if record.status is not before.status or record.participants != before.participants:
            self._publish(bot_id, Event("status", record=record))
        if record.status is not before.status:
            log.info("serve.status", bot=bot_id, status=str(record.status))
            if record.webhook and not record.status.final:
                self._hook(bot_id, "bot.status", record)
        return record

    def _publish(self, bot_id: str, event: Event) -> None:
        for queue in self._subscribers.get(bot_id, ()):
            queue.put_nowait(event)

    # ------------------------------------------------------------------ status webhooks
    def _start_hook(self, bot_id: str) -> None:
        if self._sender is None or bot_id in self._hooks:
            return
        queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()
        self._hooks[bot_id] = queue
        self._own(asyncio.create_task(self._deliver_hooks(bot_id, queue), name=f"serve.hook.{bot_id}"))

    def _hook(self, bot_id: str, kind: str, record: BotRecord, **extra: Any) -> None:
        queue = self._hooks.get(bot_id)
        if queue is not None:
            data = bot_json(record, self._settings.public_url) | extra
            queue.put_nowait((kind, data))

    def _end_hook(self, bot_id: str) -> None:
        queue = self._hooks.pop(bot_id, None)
        if queue is not None:
            queue.put_nowait(None)

    async def _deliver_hooks(self, bot_id: str, queue: asyncio.Queue[tuple[str, dict[str, Any]] | None]) -> None:
        """POST this bot's events in order; one that cannot be delivered is logged and dropped."""
        assert self._sender is not None
        while (item := await queue.get()) is not None:
            kind, data = item
            url = self._records[bot_id].webhook
            if not url:
                continue
            msg_id = webhook_id(f"{bot_id}/{kind}/{data['status']}", url)
            body = json.dumps({"type": kind, "timestamp": utc_now(), "data": data}, ensure_ascii=False,
                              separators=(",", ":")).encode("utf-8")
            try:
                await self._sender.send(msg_id, body, url=url)
            except DeliveryError as exc:
                log.warning("serve.webhook_failed", bot=bot_id, kind=kind, target=public_target(url, path=False),
                            error=str(exc))

    def _own(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _secret(value: str | None) -> SecretStr | None:
    return SecretStr(value) if value is not None else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
