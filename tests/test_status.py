"""bot.status: the files a running join keeps for jitsi-bot serve, and their reader."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bot.status import LIVE_FILE, STATUS_FILE, BotFiles, StatusWriter


def test_status_is_rewritten_only_on_change_and_read_back(tmp_path: Path) -> None:
    writer = StatusWriter(tmp_path, "Room-1")
    files = BotFiles(tmp_path)
    assert files.status() is None
    writer.update(state="joining")
    first = files.status()
    assert first is not None
    assert (first["meeting_id"], first["pid"], first["state"]) == ("Room-1", os.getpid(), "joining")
    assert first["exit_code"] is None and first["updated_at"]
    mtime = (tmp_path / STATUS_FILE).stat().st_mtime_ns
    writer.update(state="joining")
    assert (tmp_path / STATUS_FILE).stat().st_mtime_ns == mtime
    writer.update(state="done", end_reason="room_empty", exit_code=0)
    last = files.status()
    assert last is not None and last["updated_at"] >= first["updated_at"]
    assert {**last, "updated_at": None} == {**first, "state": "done", "end_reason": "room_empty", "exit_code": 0,
                                            "updated_at": None}
    assert not list(tmp_path.glob(".*.tmp"))


def test_live_lines_are_read_whole_and_from_where_the_reader_left(tmp_path: Path) -> None:
    writer = StatusWriter(tmp_path, "m")
    files = BotFiles(tmp_path)
    assert files.live_since(0) == ([], 0)
    writer.segment(start_s=1.234, end_s=2.5, participant_id="a1", name="Zoë <b>", text="hello there")
    segs, offset = files.live_since(0)
    assert segs == [{"start_s": 1.23, "end_s": 2.5, "participant_id": "a1", "name": "Zoë <b>", "text": "hello there"}]
    # A line still being written is left for the next read
    with (tmp_path / LIVE_FILE).open("a", encoding="utf-8") as f:
        f.write('{"start_s": 3, "end_s": 4, "name": "B", "te')
    assert files.live_since(offset) == ([], offset)
    with (tmp_path / LIVE_FILE).open("a", encoding="utf-8") as f:
        f.write('xt": "second"}\n')
    segs, end = files.live_since(offset)
    assert [s["text"] for s in segs] == ["second"] and end == (tmp_path / LIVE_FILE).stat().st_size


def test_an_unwritable_folder_never_raises(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    writer = StatusWriter(gone, "m")
    writer.update(state="in_call")
    writer.segment(start_s=0, end_s=1, participant_id="p", name="n", text="t")
    assert writer.error is not None
    (tmp_path / STATUS_FILE).write_text("{not json")
    assert BotFiles(tmp_path).status() is None
    (tmp_path / STATUS_FILE).write_text(json.dumps([1, 2]))
    assert BotFiles(tmp_path).status() is None
