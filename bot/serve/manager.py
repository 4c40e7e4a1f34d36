"""The queue, the slots and the watch over every bot: what ``jitsi-bot serve`` does between HTTP and launchers.

- At most ``serve.max_concurrent`` bots run; the rest wait in FIFO order. A bot is marked ``starting`` in the
  store *before* it is launched, so a server that dies mid-launch never launches it again: after a restart it
  is found by its launcher (``running()``) or marked failed.
- Each running bot is watched: its ``status.json`` is polled (``SESSION_STATES`` gives the API status), new
  ``live.jsonl`` lines become ``segment`` events, and ``launcher.wait`` gives the end. Exit 0 is ``done``,
  exit 4 is ``done`` with a note (a delivery is still pending), anything else ``failed``; a bot stopped through
  DELETE is ``stopped``, unless its meeting had ended by itself first (its ``end_reason`` says so): then it
  keeps that outcome. A DELETE whose launcher call fails is answered 502 and may be repeated. When
  ``status.json`` has no ``end_reason``, ``meeting.json`` gives it.
- Per-bot status webhook: a request's ``webhook`` is *not* given to the bot (the bot would POST its report
  there too). The server posts, signed per Standard Webhooks with ``webhook.secret``, a ``bot.status`` event on
  every status change and a ``bot.done`` event carrying ``report.json`` (or null) at the end.
- Restart: queued bots stay queued; running ones are re-attached when their launcher still knows them, take
  their status file's final word when it has one, and are otherwise failed ("lost: ..."). While the launcher
  cannot say what runs (an engine that is down), those bots hold their slots and ``running()`` is asked again
  every ``retry_s``. Records of another launcher than ``serve.launcher`` are left as they are (their detail
  says so): this server cannot see their units. Status webhooks resume for every bot not yet ended.
- Bot files are read on worker threads (a stalled volume never freezes the API), each read size-capped; the
  live transcript kept in memory is the last ``MAX_SEGMENTS`` per bot (``live.jsonl`` keeps them all).
- Shutdown: no new bots; local bots are asked to leave (they write their notes) and awaited up to
  ``serve.stop_grace_s``; containers and Jobs keep running and are re-attached by the next server. Pending
  status webhooks get ``hook_grace_s`` to be delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from pydantic import SecretStr

from bot.config import ServeSettings, WebhookSettings
from bot.delivery.errors import DeliveryError
from bot.delivery.webhook import WebhookSender, public_target, webhook_id
from bot.serve.launcher import Launcher, LaunchError
from bot.serve.model import SESSION_STATES, BotStatus, Exited, LaunchSpec
from bot.serve.policy import HostPolicy, PublicOnlyResolver
from bot.serve.store import BotRecord, Store, new_bot_id, utc_now
from bot.serve.views import bot_json
from bot.status import BotFiles

log = structlog.get_logger(__name__)

LOST = "lost: the server restarted while it ran"
MAX_SEGMENTS = 2000
DELIVERY_PENDING = "the notes were written, but an email or webhook delivery is still pending (jitsi-bot deliver)"


class NotFound(KeyError):
    """No bot with that id."""


class Conflict(Exception):
    """The bot cannot be stopped from here (it has ended, or another launcher runs it); the message says why."""


class StopFailed(Exception):
    """The launcher could not ask the bot to leave; the message says why (a repeated request tries again)."""


class NotAccepting(Exception):
    """The server is shutting down."""


@dataclass(frozen=True, slots=True)
class Event:
    """One item of a bot's events stream.

    ``status`` (``record``), ``segment`` (a live.jsonl line), or ``skipped``: ``skipped`` earlier segments are
    not replayed from memory (they are all in the bot's files).
    """

    kind: str
    record: BotRecord | None = None
    segment: dict[str, Any] | None = None
    skipped: int = 0


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
                 webhook: WebhookSettings | None = None, policy: HostPolicy | None = None, poll_s: float = 0.5,
                 retry_s: float = 5.0, hook_grace_s: float = 10.0) -> None:
        """Prepare the manager (``start`` loads the records).

        Args:
            settings: the ``[serve]`` settings.
            store: the open store.
            launcher: starts and stops the bots.
            webhook: the ``[webhook]`` settings (their secret signs status webhooks).
            policy: checks each status webhook's address again as it is sent (a name re-pointed at a private
                address since the POST is refused); None: no check at send time.
            poll_s: how often a running bot's files are read.
            retry_s: how often ``launcher.running()`` is asked again after it failed at start.
            hook_grace_s: how long ``aclose`` waits for pending status webhooks.
        """
        self._settings = settings
        self._store = store
        self._launcher = launcher
        self._webhook_settings = webhook
        self._policy = policy
        self._resolver: PublicOnlyResolver | None = None
        self._poll_s = poll_s
        self._retry_s = retry_s
        self._hook_grace_s = hook_grace_s
        self.bots_dir = settings.data_dir / "bots"
        self._records: dict[str, BotRecord] = {}
        self._queue: deque[str] = deque()
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._segments: dict[str, deque[dict[str, Any]]] = {}
        self._seen: dict[str, int] = {}  # segments read per bot, kept or not
        self._unattached: set[str] = set()  # running before the restart; the launcher could not say yet
        self._stop_failed: set[str] = set()
        self._subscribers: dict[str, set[asyncio.Queue[Event | None]]] = {}
        self._hooks: dict[str, asyncio.Queue[tuple[str, dict[str, Any]] | None]] = {}
        self._hook_tasks: set[asyncio.Task[None]] = set()
        self._hook_seq = itertools.count(1)
        self._epoch = secrets.token_hex(4)  # webhook ids of this server's run never repeat a former run's
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
            hook_settings = self._webhook_settings.model_copy(update={"url": None})
            if self._policy is not None:
                self._resolver = self._policy.webhook_resolver()
                self._sender = WebhookSender(hook_settings, resolver=self._resolver,
                                             check_url=self._policy.check_webhook_address)
            else:
                self._sender = WebhookSender(hook_settings)
        running = await self._running()
        for record in await self._store.all():
            self._records[record.id] = record
            if record.status.final:
                continue
            if record.launcher != self._launcher.name:
                # Its unit is invisible to this launcher: resuming would mark a running bot lost.
                self._records[record.id] = record.but(
                    detail=f"left as it was: started by the {record.launcher} launcher, this server runs "
                           f"{self._launcher.name}")
                log.warning("serve.other_launcher", bot=record.id, launcher=record.launcher)
                continue
            if record.webhook:
                self._start_hook(record.id)
            if record.status is BotStatus.QUEUED:
                self._queue.append(record.id)
            elif running is None:  # not knowing is not losing: it holds its slot until the launcher answers
                log.warning("serve.not_reattached", bot=record.id)
                self._unattached.add(record.id)
            else:
                await self._resume(record, running.get(record.id))
        log.info("serve.loaded", bots=len(self._records), queued=len(self._queue), running=len(self._watchers),
                 unattached=len(self._unattached))
        if self._unattached:
            self._own(asyncio.create_task(self._reattach(), name="serve.reattach"))
        self._scheduler = asyncio.create_task(self._schedule(), name="serve.scheduler")
        self.kick()

    async def _running(self) -> dict[str, str] | None:
        try:
            return await self._launcher.running()
        except Exception as exc:  # an engine that is down now must not keep the server from listing bots
            log.warning("serve.running_unknown", launcher=self._launcher.name, error=type(exc).__name__)
            return None

    async def _reattach(self) -> None:
        """Ask the launcher what runs until it answers, then resume the bots that waited for that."""
        while True:
            running = await self._running()
            if running is not None:
                break
            await asyncio.sleep(self._retry_s)
        for bot_id in sorted(self._unattached, key=lambda i: self._records[i].seq or 0):
            try:
                await self._resume(self._records[bot_id], running.get(bot_id))
            except Exception:
                log.exception("serve.resume_error", bot=bot_id)
            finally:
                self._unattached.discard(bot_id)
        self.kick()

    async def _resume(self, record: BotRecord, ref: str | None) -> None:
        if ref is not None:
            self._records[record.id] = record = record.but(ref=ref)
            self._watch(record)
            await self._persist(record.id)
            return
        status = await asyncio.to_thread(BotFiles(self.out_dir(record.id)).status) or {}
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
                try:
                    await self._update(bot_id, stop_requested=True, detail="the server shut down")
                except Exception:  # the store failed: the bot is still asked to leave
                    log.exception("serve.store_error", bot=bot_id)
                if record.ref is not None:
                    await self._stop_unit(bot_id, record.ref)
            await asyncio.wait(list(self._watchers.values()), timeout=self._settings.stop_grace_s + 5)
        for task in list(self._watchers.values()):
            task.cancel()
        await asyncio.gather(*self._watchers.values(), return_exceptions=True)
        for queues in self._subscribers.values():
            for q in queues:
                q.put_nowait(None)

    async def aclose(self) -> None:
        """Give pending status webhooks ``hook_grace_s``, then cancel whatever is left and close the client."""
        if self._scheduler is not None:
            self._scheduler.cancel()
            await asyncio.gather(self._scheduler, return_exceptions=True)
        for task in list(self._watchers.values()) + list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._watchers.values(), *self._tasks, return_exceptions=True)
        for bot_id in list(self._hooks):
            self._end_hook(bot_id)  # each delivery task ends once its queue is empty
        if self._hook_tasks:
            await asyncio.wait(list(self._hook_tasks), timeout=self._hook_grace_s)
        for task in list(self._hook_tasks):
            task.cancel()
        await asyncio.gather(*self._hook_tasks, return_exceptions=True)
        if self._sender is not None:
            await self._sender.aclose()
        if self._resolver is not None:
            await self._resolver.close()

    # ------------------------------------------------------------------ requests
    def bots(self, *, limit: int | None = None, statuses: frozenset[BotStatus] | None = None) -> list[BotRecord]:
        """The bots, oldest first (the queue order).

        Args:
            limit: only the newest ``limit`` of them (still oldest first).
            statuses: only bots with one of these statuses (applied before ``limit``).
        """
        out = sorted(self._records.values(), key=lambda r: r.seq or 0)
        if statuses is not None:
            out = [r for r in out if r.status in statuses]
        if limit is not None:
            out = out[-limit:] if limit > 0 else []
        return out

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

        A bot already finalizing after its meeting ended is left to finish (it stays ``done``). A request
        whose launcher call failed may be repeated: it asks again.

        Raises:
            NotFound: no such bot.
            Conflict: it has ended already, or another launcher runs it.
            StopFailed: the launcher could not ask it to leave.
        """
        record = self.get(bot_id)
        if record.status.final:
            raise Conflict(f"the bot has ended already ({record.status})")
        if record.launcher != self._launcher.name:
            raise Conflict(f"the bot was started by the {record.launcher} launcher; this server runs "
                           f"{self._launcher.name}")
        if record.status is BotStatus.QUEUED:
            with contextlib.suppress(ValueError):
                self._queue.remove(bot_id)
            await self._settle(bot_id, BotStatus.STOPPED, detail="stopped before it started", stop_requested=True)
            return self._records[bot_id]
        if record.status is BotStatus.FINALIZING and not record.stop_requested:
            return record  # it is leaving on its own: its notes are being written
        if not record.stop_requested:
            record = await self._update(bot_id, stop_requested=True, detail="stopped through the API")
            log.info("serve.stop", bot=bot_id)
        elif bot_id not in self._stop_failed:
            return record
        if record.ref is not None:  # else the launch under way sees stop_requested when it returns
            problem = await self._stop_unit(bot_id, record.ref)
            if problem is not None:
                raise StopFailed(problem)
        return self._records[bot_id]

    async def _stop_unit(self, bot_id: str, ref: str) -> str | None:
        """Ask the launcher to stop the unit; the problem (logged, remembered for a retry), or None."""
        try:
            await self._launcher.stop(ref, self._settings.stop_grace_s)
        except Exception as exc:
            problem = str(exc) if isinstance(exc, LaunchError) else f"the launcher failed ({type(exc).__name__})"
            log.warning("serve.stop_failed", bot=bot_id, error=problem)
            self._stop_failed.add(bot_id)
            return problem
        self._stop_failed.discard(bot_id)
        return None

    async def subscribe(self, bot_id: str) -> tuple[list[Event], asyncio.Queue[Event | None]]:
        """The bot's events so far (its status, then its segments) and a queue of those to come.

        At most the last ``MAX_SEGMENTS`` segments are replayed; when there were more, a ``skipped`` event
        says how many came before (``live.jsonl`` and the transcript keep them all). The queue yields None
        when the bot has ended (or the server stops); call ``unsubscribe`` when done.

        Raises:
            NotFound: no such bot.
        """
        record = self.get(bot_id)
        if record.status.final:  # its segments are no longer in memory: from its file
            segments, seen = await asyncio.to_thread(_last_segments, BotFiles(self.out_dir(bot_id)))
        else:  # no await from here on, so that no event falls between the replay and the queue
            kept = self._segments.get(bot_id, ())
            segments, seen = list(kept), self._seen.get(bot_id, len(kept))
        past = [Event("status", record=record)]
        if seen > len(segments):
            past.append(Event("skipped", skipped=seen - len(segments)))
        past += [Event("segment", segment=s) for s in segments]
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
        """Bots launched and not yet ended (those not yet re-attached after a restart too)."""
        return len(self._watchers) + len(self._unattached)

    # ------------------------------------------------------------------ the queue
    def kick(self) -> None:
        """Have the scheduler look at the queue (a bot was added, or a slot came free)."""
        self._wake.set()

    async def _schedule(self) -> None:
        """Launch queued bots while slots are free, one launch at a time (so nothing starts twice)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.accepting and self._queue and self.running_count < self._settings.max_concurrent:
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
            backend=record.backend, password=_secret(record.password), max_duration_s=record.max_duration_s)
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
        # Tracked before it is stored: a store that fails now must not leave a running bot uncounted.
        self._records[bot_id] = record = self._records[bot_id].but(ref=ref, password=None)
        log.info("serve.launched", bot=bot_id, ref=ref, running=len(self._watchers) + 1)
        self._watch(record)
        await self._persist(bot_id)
        if record.stop_requested:
            await self._stop_unit(bot_id, ref)

    async def _persist(self, bot_id: str) -> None:
        try:
            await self._store.save(self._records[bot_id])
        except Exception:  # the next change of this bot writes the whole record again
            log.exception("serve.store_error", bot=bot_id)

    def _watch(self, record: BotRecord) -> None:
        self._segments.setdefault(record.id, deque(maxlen=MAX_SEGMENTS))
        self._watchers[record.id] = asyncio.create_task(self._watching(record), name=f"serve.watch.{record.id}")

    async def _watching(self, record: BotRecord) -> None:
        assert record.ref is not None
        files = BotFiles(self.out_dir(record.id))
        waiter = asyncio.create_task(self._launcher.wait(record.ref), name=f"serve.wait.{record.id}")
        offset = 0
        try:
            while True:
                try:
                    offset, _ = await self._observe(record.id, files, offset)
                    if waiter.done():
                        try:
                            exited = waiter.result()
                        except Exception as exc:
                            exited = Exited(None, f"the launcher lost the bot ({type(exc).__name__})")
                        # Once more after the end: the last segments and the bot's final word
                        offset, status = await self._observe(record.id, files, offset)
                        await self._finish(record.id, exited, status or {})
                        return
                    await asyncio.wait({waiter}, timeout=self._poll_s)
                except Exception:  # a store or file failure: the bot is still watched, and tried again
                    log.exception("serve.watch_error", bot=record.id)
                    await asyncio.sleep(self._poll_s)
        finally:
            waiter.cancel()
            with contextlib.suppress(BaseException):
                await waiter
            self._watchers.pop(record.id, None)
            self.kick()

    async def _observe(self, bot_id: str, files: BotFiles, offset: int) -> tuple[int, dict[str, Any] | None]:
        """Take in the bot's status and new segments; the next offset in live.jsonl, and the status read."""
        status, segments, new_offset = await asyncio.to_thread(_poll, files, offset)
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
        kept = self._segments.setdefault(bot_id, deque(maxlen=MAX_SEGMENTS))
        for segment in segments:
            kept.append(segment)
            self._publish(bot_id, Event("segment", segment=segment))
        self._seen[bot_id] = self._seen.get(bot_id, 0) + len(segments)
        return new_offset, status

    async def _finish(self, bot_id: str, exited: Exited, status: dict[str, Any], *, lost: bool = False) -> None:
        record = self._records[bot_id]
        code = exited.exit_code if exited.exit_code is not None else status.get("exit_code")
        code = code if isinstance(code, int) else None
        end_reason = status.get("end_reason") if isinstance(status.get("end_reason"), str) else None
        if end_reason is None:  # meeting.json, written at the end, says it too
            meeting = await asyncio.to_thread(BotFiles(self.out_dir(bot_id)).json_file, "meeting.json")
            if isinstance(meeting, dict) and isinstance(meeting.get("end_reason"), str):
                end_reason = meeting["end_reason"]
        participants = status.get("participants")
        extra: dict[str, Any] = {"exit_code": code, "end_reason": end_reason}
        if isinstance(participants, int):
            extra["participants"] = participants
        detail: str | None
        if lost:
            final, detail = BotStatus.FAILED, LOST
        elif record.stop_requested and end_reason in (None, "stopped"):  # else it ended on its own first
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
        self._seen.pop(bot_id, None)
        self._stop_failed.discard(bot_id)
        if record.webhook:
            report = await asyncio.to_thread(BotFiles(self.out_dir(bot_id)).json_file, "report.json")
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
        task = asyncio.create_task(self._deliver_hooks(bot_id, queue), name=f"serve.hook.{bot_id}")
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)

    def _hook(self, bot_id: str, kind: str, record: BotRecord, **extra: Any) -> None:
        queue = self._hooks.get(bot_id)
        if queue is not None:
            data = bot_json(record, self._settings.public_url) | extra
            # Unique per event: a bot that returns to a status (lobby, in_call, lobby) is not a duplicate.
            event_id = f"{bot_id}/{self._epoch}/{next(self._hook_seq)}/{kind}/{data['status']}"
            queue.put_nowait((event_id, {"type": kind, "data": data}))

    def _end_hook(self, bot_id: str) -> None:
        queue = self._hooks.pop(bot_id, None)
        if queue is not None:
            queue.put_nowait(None)

    async def _deliver_hooks(self, bot_id: str, queue: asyncio.Queue[tuple[str, dict[str, Any]] | None]) -> None:
        """POST this bot's events in order; one that cannot be delivered is logged and dropped."""
        assert self._sender is not None
        while (item := await queue.get()) is not None:
            event_id, event = item
            url = self._records[bot_id].webhook
            if not url:
                continue
            msg_id = webhook_id(event_id, url)
            body = json.dumps({"type": event["type"], "timestamp": utc_now(), "data": event["data"]},
                              ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            try:
                await self._sender.send(msg_id, body, url=url)
            except DeliveryError as exc:
                log.warning("serve.webhook_failed", bot=bot_id, kind=event["type"],
                            target=public_target(url, path=False), error=str(exc))
            except Exception:  # one broken delivery must not silence the bot's later events
                log.exception("serve.webhook_error", bot=bot_id, kind=event["type"],
                              target=public_target(url, path=False))

    def _own(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _secret(value: str | None) -> SecretStr | None:
    return SecretStr(value) if value is not None else None


def _poll(files: BotFiles, offset: int) -> tuple[dict[str, Any] | None, list[dict[str, Any]], int]:
    """One poll of a running bot's files (on a worker thread): its status, new segments, the next offset."""
    segments, offset = files.live_since(offset)
    return files.status(), segments, offset


def _last_segments(files: BotFiles) -> tuple[list[dict[str, Any]], int]:
    """The last ``MAX_SEGMENTS`` segments of an ended bot, and how many it wrote (on a worker thread)."""
    kept: deque[dict[str, Any]] = deque(maxlen=MAX_SEGMENTS)
    seen, offset = 0, 0
    while True:
        segments, after = files.live_since(offset)
        kept.extend(segments)
        seen += len(segments)
        if after == offset:
            return list(kept), seen
        offset = after
