"""Putting a finished meeting's deliveries in the outbox, and sending what is pending.

Every delivery is written to ``<meeting>/outbox/`` before anything is sent, so a dead SMTP server or
webhook receiver loses nothing: `jitsi-bot deliver DIR` sends what is still pending later. Item ids are
deterministic (meeting + destination), and delivered ids are recorded, so nothing is sent twice. An item refused
for good (a configuration error, a 4xx) is marked permanently failed and left alone until
`jitsi-bot deliver --retry-failed DIR`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import structlog

from bot.config import Settings
from bot.delivery.email import Attachment, build_message, send_message
from bot.delivery.errors import DeliveryError
from bot.delivery.outbox import Outbox, OutboxItem
from bot.delivery.webhook import WebhookSender, public_target, webhook_body, webhook_id
from bot.report.model import Report
from bot.report.render import render_email, render_html_page, render_markdown

log = structlog.get_logger(__name__)

ATTACHMENTS = (("transcript.txt", "text/plain"), ("transcript.vtt", "text/vtt"), ("report.json", "application/json"))


def outbox_for(meeting_dir: Path) -> Outbox:
    """The outbox of a meeting's artifact folder."""
    return Outbox(meeting_dir / "outbox")


def write_summaries(report: Report, meeting_dir: Path) -> None:
    """summary.md and summary.html beside report.json."""
    (meeting_dir / "summary.md").write_text(render_markdown(report), encoding="utf-8")
    (meeting_dir / "summary.html").write_text(render_html_page(report), encoding="utf-8")


def _attachments(meeting_dir: Path, cap: int) -> tuple[list[Attachment], list[str]]:
    chosen: list[Attachment] = []
    left_out: list[str] = []
    total = 0
    for name, mimetype in ATTACHMENTS:
        path = meeting_dir / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        if total + len(data) > cap:
            left_out.append(name)
            continue
        total += len(data)
        chosen.append(Attachment(name, data, mimetype))
    return chosen, left_out


def enqueue(report: Report, meeting_dir: Path, settings: Settings, added: list[str] | None = None) -> Outbox:
    """Write the meeting's email and webhook deliveries (as configured) into its outbox.

    ``added``: recipients added during the meeting (``/notes email``); each gets a message of their own, so
    nobody learns the configured recipients' addresses.
    """
    outbox = outbox_for(meeting_dir)
    email = settings.email
    groups = ([email.to] if email.to else []) + [[a] for a in added or [] if email.to]
    for to in groups:
        try:
            _enqueue_email(report, meeting_dir, settings, to, outbox)
        except (ValueError, TypeError) as exc:  # an address the message cannot carry: the others still go
            log.error("email.not_queued", recipients=len(to), error=str(exc)[:200])
    hook = settings.webhook
    if hook.url:
        request = json.dumps({"url": hook.url}).encode()
        outbox.put(webhook_id(report.meeting.id, hook.url), "webhook", public_target(hook.url, path=False),
                   {"body.json": webhook_body(report), "request.json": request})
    return outbox


def _enqueue_email(report: Report, meeting_dir: Path, settings: Settings, to: list[str], outbox: Outbox) -> None:
    email = settings.email
    attachments, left_out = _attachments(meeting_dir, email.max_attachment_bytes)
    rendered = render_email(report, subject_template=email.subject, attachments=[a.filename for a in attachments])
    key = f"{report.meeting.id}\n{','.join(sorted(to))}"
    message = build_message(subject=rendered.subject, text=rendered.text, html=rendered.html,
                            sender=email.sender, to=to, attachments=attachments, message_key=key)
    data = message.as_bytes()  # raises for addresses the message cannot carry, before anything is written
    if left_out:
        log.warning("email.attachments_left_out", files=left_out, cap_bytes=email.max_attachment_bytes)
    item_id = "email-" + hashlib.sha256(key.encode()).hexdigest()[:16]
    envelope = json.dumps({"from": email.sender, "to": to}).encode()
    outbox.put(item_id, "email", f"{len(to)} recipient(s)", {"message.eml": data, "envelope.json": envelope})


def _damaged(exc: Exception) -> DeliveryError:
    """A payload file of an item that cannot be read or parsed: resending the same files cannot help."""
    return DeliveryError(f"unreadable outbox item: {type(exc).__name__}: {str(exc)[:200]}", retryable=False)


async def _send(item: OutboxItem, outbox: Outbox, settings: Settings, sender: WebhookSender | None) -> str:
    """Send one item; returns the detail for ``delivered.jsonl``. Raises DeliveryError."""
    if item.kind == "email":
        try:
            envelope = json.loads(outbox.read(item, "envelope.json"))
            message, sender_addr, to = outbox.read(item, "message.eml"), envelope["from"], envelope["to"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise _damaged(exc) from None
        return (await send_message(message, sender_addr, to, settings.smtp))[:200]
    if item.kind == "webhook":
        if sender is None:
            raise DeliveryError("webhook.secret is not set: deliveries are signed", retryable=False)
        try:
            url, body = json.loads(outbox.read(item, "request.json"))["url"], outbox.read(item, "body.json")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise _damaged(exc) from None
        await sender.send(item.id, body, url=url)
        return ""
    raise DeliveryError(f"unknown outbox item kind {item.kind!r}", retryable=False)


def drop_superseded(outbox: Outbox, report: Report, settings: Settings) -> list[OutboxItem]:
    """Forget webhook deliveries that failed for good to a URL other than the configured one (it was fixed).

    Returns what was dropped. Emails are kept: recipients added in the meeting's chat are not in the
    configuration, so it cannot say which of them are no longer wanted.
    """
    current = webhook_id(report.meeting.id, settings.webhook.url) if settings.webhook.url else None
    stale = [i for i in outbox.permanently_failed() if i.kind == "webhook" and i.id != current]
    for item in stale:
        outbox.drop(item)
    return stale


async def deliver_pending(outbox: Outbox, settings: Settings, *, retry_failed: bool = False) -> list[OutboxItem]:
    """Try every pending item once (each with its own retries); returns every item still undelivered.

    An item that fails in a way retrying cannot fix (``DeliveryError.retryable`` False: a configuration error, a
    refusal, a damaged item) is marked permanently failed and not tried again by later passes.

    Args:
        outbox: the meeting's outbox.
        settings: the current SMTP and webhook settings.
        retry_failed: first put the permanently failed items back among the pending ones (after a
            configuration fix), so they are tried once more too.

    Returns:
        The undelivered items, oldest first: pending ones and permanently failed ones, told apart by
        ``item.permanent``.
    """
    if retry_failed:
        for item in outbox.permanently_failed():
            outbox.retry(item)
    sender: WebhookSender | None = None
    try:
        for item in outbox.pending():
            if item.kind == "webhook" and sender is None and settings.webhook.secret is not None:
                sender = WebhookSender(settings.webhook)
            try:
                detail = await _send(item, outbox, settings, sender)
            except DeliveryError as exc:
                outbox.failed(item, str(exc), permanent=not exc.retryable)
                log.warning("delivery.failed", kind=item.kind, item=item.id, retryable=exc.retryable,
                            error=str(exc))
                continue
            except (ValueError, KeyError, TypeError) as exc:  # payload the sender cannot use: the others still go
                outbox.failed(item, str(_damaged(exc)), permanent=True)
                log.error("delivery.bad_item", kind=item.kind, item=item.id, error=type(exc).__name__)
                continue
            try:
                outbox.delivered(item, detail)
            except OSError as exc:  # sent but not recorded: it stays pending and may be sent again (at-least-once)
                log.error("delivery.not_recorded", kind=item.kind, item=item.id, error=str(exc)[:200])
                continue
            log.info("delivery.delivered", kind=item.kind, item=item.id)
    finally:
        if sender is not None:
            await sender.aclose()
    return outbox.items()


async def deliver_report(report: Report, meeting_dir: Path, settings: Settings,
                         added: list[str] | None = None, *, send: bool = True) -> list[OutboxItem]:
    """At the end of a meeting: summaries on disk, deliveries in the outbox, then one sending pass.

    ``added``: recipients added in the meeting's chat, each sent a message of their own. Returns the items
    still undelivered, as ``deliver_pending`` does (``item.permanent`` marks those that need a configuration fix
    and ``jitsi-bot deliver --retry-failed``). ``send=False`` only writes the deliveries down (a bot out of
    time): they are all returned undelivered.
    """
    write_summaries(report, meeting_dir)
    if not (settings.email.to or settings.webhook.url):
        return []
    outbox = enqueue(report, meeting_dir, settings, added)
    return await deliver_pending(outbox, settings) if send else outbox.items()
