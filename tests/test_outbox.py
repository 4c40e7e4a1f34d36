"""The durable outbox: atomic puts, pending listing, failure bookkeeping and idempotent delivery records."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bot.delivery.outbox import DELIVERED, META, Outbox, OutboxItem

T0 = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)


class Clock:
    """Each call returns the next second after T0."""

    def __init__(self) -> None:
        self.ticks: Iterator[int] = iter(range(10_000))

    def __call__(self) -> datetime:
        return T0 + timedelta(seconds=next(self.ticks))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "out" / "meeting-1" / "outbox"


@pytest.fixture
def outbox(root: Path) -> Outbox:
    return Outbox(root, clock=Clock())


def _records(root: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in (root / DELIVERED).read_text(encoding="utf-8").splitlines()]


def test_root_is_created_lazily(root: Path, outbox: Outbox) -> None:
    assert not root.exists()
    assert outbox.pending() == []
    assert not outbox.was_delivered("webhook-0123456789abcdef")
    assert not root.exists()
    outbox.put("webhook-0123456789abcdef", "webhook", "https://example.com/hook", {"body.json": b"{}"})
    assert root.is_dir()


def test_put_pending_and_read(root: Path, outbox: Outbox) -> None:
    web = outbox.put("webhook-0123456789abcdef", "webhook", "https://example.com/hook", {"body.json": b'{"a":1}'})
    mail = outbox.put("email-fedcba9876543210", "email", "a@example.com, b@example.com",
                      {"message.eml": b"Subject: hi\r\n\r\nbody", "notes.md": b"# notes"})
    assert web is not None and mail is not None
    assert web.path == root / "webhook-0123456789abcdef"
    assert (web.attempts, web.last_error, web.last_attempt_at) == (0, None, None)
    assert web.created_at == T0.isoformat(timespec="microseconds")

    pending = outbox.pending()
    assert [it.id for it in pending] == ["webhook-0123456789abcdef", "email-fedcba9876543210"]  # by created_at
    assert pending == [web, mail]
    assert outbox.read(pending[1], "message.eml") == b"Subject: hi\r\n\r\nbody"
    assert outbox.names(pending[1]) == ["message.eml", "notes.md"]
    meta = json.loads((root / "email-fedcba9876543210" / META).read_text(encoding="utf-8"))
    assert meta == {
        "id": "email-fedcba9876543210",
        "kind": "email",
        "target": "a@example.com, b@example.com",
        "created_at": mail.created_at,
        "attempts": 0,
        "last_error": None,
        "last_attempt_at": None,
        "permanent": False,
    }
    with pytest.raises(ValueError):
        outbox.read(web, "../../etc/passwd")
    with pytest.raises(FileNotFoundError):
        outbox.read(web, "missing.txt")


def test_put_of_a_pending_id_returns_the_existing_item_unchanged(outbox: Outbox) -> None:
    first = outbox.put("webhook-0123456789abcdef", "webhook", "https://example.com/hook", {"body.json": b"one"})
    assert first is not None
    outbox.failed(first, "HTTP 503")
    again = outbox.put("webhook-0123456789abcdef", "webhook", "https://example.com/hook", {"body.json": b"two"})
    assert again == first
    assert again is not None and again.attempts == 1
    assert outbox.read(again, "body.json") == b"one"
    assert len(outbox.pending()) == 1


def test_failed_records_attempts_and_a_trimmed_error(root: Path, outbox: Outbox) -> None:
    item = outbox.put("webhook-0123456789abcdef", "webhook", "https://example.com/hook", {"body.json": b"{}"})
    assert item is not None
    outbox.failed(item, "HTTP 502: bad gateway")
    outbox.failed(item, "E" * 2000)
    assert item.attempts == 2
    assert item.last_error == "E" * 500
    assert item.last_attempt_at is not None and item.last_attempt_at > item.created_at

    reloaded = Outbox(root).pending()  # persisted: a new process sees the same state
    assert reloaded == [item]
    assert not list(item.path.glob(".*"))  # no temp file left beside meta.json


def test_delivered_records_removes_and_makes_put_idempotent(root: Path, outbox: Outbox) -> None:
    a = outbox.put("webhook-0123456789abcdef", "webhook", "https://example.com/hook", {"body.json": b"{}"})
    b = outbox.put("email-fedcba9876543210", "email", "a@example.com", {"message.eml": b"x"})
    assert a is not None and b is not None
    outbox.delivered(a, "HTTP 200")
    assert not a.path.exists()
    assert outbox.was_delivered(a.id) and not outbox.was_delivered(b.id)
    assert [it.id for it in outbox.pending()] == [b.id]
    assert outbox.put(a.id, "webhook", "https://example.com/hook", {"body.json": b"{}"}) is None
    assert not a.path.exists()

    outbox.delivered(b, "250 OK")
    records = _records(root)  # delivered.jsonl accumulates
    assert [(r["id"], r["kind"], r["target"], r["detail"]) for r in records] == [
        (a.id, "webhook", "https://example.com/hook", "HTTP 200"),
        (b.id, "email", "a@example.com", "250 OK"),
    ]
    assert all(datetime.fromisoformat(r["delivered_at"]).tzinfo is not None for r in records)
    assert outbox.pending() == []
    assert sorted(p.name for p in root.iterdir()) == [DELIVERED]


def test_a_corrupt_meta_json_is_logged_and_skipped(root: Path, outbox: Outbox) -> None:
    good = outbox.put("webhook-0123456789abcdef", "webhook", "https://example.com/hook", {"body.json": b"{}"})
    bad = outbox.put("email-fedcba9876543210", "email", "a@example.com", {"message.eml": b"x"})
    assert good is not None and bad is not None
    (bad.path / META).write_text("{not json", encoding="utf-8")
    (root / "email-no-meta").mkdir()
    wrong = outbox.put("email-1111111111111111", "email", "c@example.com", {"message.eml": b"x"})
    assert wrong is not None
    (wrong.path / META).write_text(json.dumps({"id": "x", "kind": "email"}), encoding="utf-8")
    with capture_logs() as logs:
        assert outbox.pending() == [good]
    corrupt = sorted(e["item_id"] for e in logs if e["event"] == "outbox.corrupt_meta")
    assert corrupt == ["email-1111111111111111", "email-fedcba9876543210", "email-no-meta"]

    # Putting the same id again replaces the unreadable item with a fresh one.
    fresh = outbox.put("email-fedcba9876543210", "email", "a@example.com", {"message.eml": b"y"})
    assert fresh is not None and outbox.read(fresh, "message.eml") == b"y"
    assert fresh in outbox.pending()


def test_temp_folders_and_stray_files_are_ignored(root: Path, outbox: Outbox) -> None:
    item = outbox.put("webhook-0123456789abcdef", "webhook", "https://example.com/hook", {"body.json": b"{}"})
    assert item is not None
    tmp = root / ".tmp-email-fedcba9876543210-1234abcd"  # a put interrupted before its rename
    tmp.mkdir()
    (tmp / META).write_text(json.dumps({**item.meta(), "id": tmp.name}), encoding="utf-8")
    (root / "notes.txt").write_text("not an item", encoding="utf-8")
    assert outbox.pending() == [item]


def test_a_failed_rename_leaves_no_pending_item_and_no_temp_folder(
    root: Path, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_rename(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", broken_rename)
    with pytest.raises(OSError):
        outbox.put("webhook-0123456789abcdef", "webhook", "https://example.com/hook", {"body.json": b"{}"})
    monkeypatch.undo()
    assert outbox.pending() == []
    assert list(root.iterdir()) == []


def test_a_folder_left_by_a_crash_after_the_delivery_record_is_cleaned_up(root: Path, outbox: Outbox) -> None:
    item = outbox.put("webhook-0123456789abcdef", "webhook", "https://example.com/hook", {"body.json": b"{}"})
    assert item is not None
    record = {"id": item.id, "kind": "webhook", "target": item.target, "delivered_at": "x", "detail": ""}
    (root / DELIVERED).write_text(json.dumps(record) + "\n", encoding="utf-8")  # recorded, folder not yet removed
    with capture_logs() as logs:
        assert outbox.pending() == []
    assert not item.path.exists()
    assert [e["event"] for e in logs] == ["outbox.leftover_removed"]


def test_a_torn_last_line_in_delivered_jsonl_is_tolerated(root: Path, outbox: Outbox) -> None:
    a = outbox.put("webhook-0123456789abcdef", "webhook", "https://example.com/hook", {"body.json": b"{}"})
    b = outbox.put("email-fedcba9876543210", "email", "a@example.com", {"message.eml": b"x"})
    assert a is not None and b is not None
    outbox.delivered(a)
    with open(root / DELIVERED, "ab") as f:
        f.write(b'{"id": "email-tor')  # a crash in the middle of an append
    with capture_logs() as logs:
        assert outbox.was_delivered(a.id)
    assert [e["event"] for e in logs] == ["outbox.corrupt_delivered_line"]
    outbox.delivered(b)
    assert outbox.was_delivered(b.id)
    lines = (root / DELIVERED).read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1])["id"] == b.id


@pytest.mark.parametrize("bad", ["", "../escape", "a/b", ".hidden", "meta.json", DELIVERED, "x" * 200])
def test_unsafe_ids_and_file_names_are_refused(outbox: Outbox, bad: str) -> None:
    with pytest.raises(ValueError):
        outbox.put(bad, "webhook", "https://example.com/hook", {"body.json": b"{}"})
    with pytest.raises(ValueError):
        outbox.put("webhook-0123456789abcdef", "webhook", "https://example.com/hook", {bad: b"{}"})
    assert outbox.pending() == []


def test_outbox_item_fields() -> None:
    item = OutboxItem("webhook-1", "webhook", "https://example.com/hook", "2024-05-06T10:00:00+00:00", path=Path("x"))
    assert (item.attempts, item.last_error, item.last_attempt_at) == (0, None, None)
    assert "path" not in item.meta()


def test_a_permanent_failure_leaves_pending_until_retried(root: Path, outbox: Outbox) -> None:
    a = outbox.put("webhook-0123456789abcdef", "webhook", "https://example.com/hook", {"body.json": b"{}"})
    b = outbox.put("email-fedcba9876543210", "email", "a@example.com", {"message.eml": b"x"})
    assert a is not None and b is not None
    outbox.failed(a, "HTTP 410: gone", permanent=True)
    outbox.failed(b, "HTTP 503")
    assert a.permanent and not b.permanent
    fresh = Outbox(root)  # persisted: a new process sees the same states
    assert fresh.pending() == [b] and fresh.permanently_failed() == [a] and fresh.items() == [a, b]
    assert json.loads((a.path / META).read_text(encoding="utf-8"))["permanent"] is True
    assert outbox.put(a.id, "webhook", "https://example.com/hook", {"body.json": b"{}"}) == a  # still failed

    outbox.retry(a)
    assert not a.permanent and (a.attempts, a.last_error) == (1, "HTTP 410: gone")
    assert fresh.pending() == [a, b] and fresh.permanently_failed() == []
    assert not list(a.path.glob(".*"))  # no temp file left beside meta.json


def test_an_old_meta_json_without_the_state_is_pending_and_a_bad_state_is_corrupt(root: Path, outbox: Outbox) -> None:
    old = outbox.put("webhook-0123456789abcdef", "webhook", "https://example.com/hook", {"body.json": b"{}"})
    bad = outbox.put("email-fedcba9876543210", "email", "a@example.com", {"message.eml": b"x"})
    assert old is not None and bad is not None
    meta = old.meta()
    del meta["permanent"]
    (old.path / META).write_text(json.dumps(meta), encoding="utf-8")
    (bad.path / META).write_text(json.dumps({**bad.meta(), "permanent": "yes"}), encoding="utf-8")
    with capture_logs() as logs:
        assert outbox.items() == [old] and not old.permanent
    assert [e["item_id"] for e in logs if e["event"] == "outbox.corrupt_meta"] == [bad.id]
    assert outbox.pending() == [old] and outbox.permanently_failed() == []
