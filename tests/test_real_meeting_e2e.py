"""What a real meeting does that a quiet test room does not (issue 11), staged in the fake room.

Each test fails on a bot that assumes the quiet room: silent slots, breakout moves and restarts, waiting for a
host in the lobby, full rooms, dial-in and hidden participants, tracks before their owners, loudest-N
forwarding and the meeting chat.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bot.demo.room import FakeJitsiRoom
from bot.outcome import EndReason, ExitCode, SessionResult
from bot.session import MeetingSession
from tests.conftest import RunBot, dominant_hz, until, wav_mono

pytestmark = pytest.mark.e2e


async def _in_call(session: MeetingSession, timeout: float = 30) -> None:
    await until(lambda: session.state == "in_call", timeout)


def _audio(session: MeetingSession, pid: str) -> float:
    assert session.recorder is not None
    return session.recorder.captured_seconds().get(pid, 0.0)


def _meeting_json(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "out" / "meeting.json").read_text())


async def _result(task: asyncio.Task[SessionResult], timeout: float = 60) -> SessionResult:
    return await asyncio.wait_for(task, timeout)


async def _silent_handover(room: FakeJitsiRoom, session: MeetingSession) -> None:
    """Ann talks; the bridge hands her slot to Eve, who speaks, and the receiver drops every rewritten packet:
    the track stays live, bound and unmuted, and frames of zeros keep coming."""
    await _in_call(session)
    await room.add_participant("ann", "Ann", tone_hz=500)
    await room.add_participant("eve", "Eve", tone_hz=600, audio=False)
    await until(lambda: _audio(session, "ann") > 1)
    await room.rewrite_ssrc("ann", "eve", silent=True)
    await room.set_dominant_speaker("eve")


async def test_a_silent_slot_is_noticed_and_recovered(room: FakeJitsiRoom, run_bot: RunBot, tmp_path: Path) -> None:
    session, task = await run_bot(room.url(), silent_slot_s=3)
    await _silent_handover(room, session)
    await until(lambda: session.rejoins == 1, 30)
    before = _audio(session, "eve")
    await _in_call(session)
    await room.set_dominant_speaker("eve")
    await until(lambda: _audio(session, "eve") > before + 2, 30)  # the rejoined bot hears Eve again
    assert abs(dominant_hz(wav_mono(tmp_path / "out" / "audio" / "Eve-eve.wav")) - 600) < 10
    await room.remove_participant("eve")
    await room.remove_participant("ann")
    result = await _result(task)
    assert result.reason is EndReason.ROOM_EMPTY
    doc = _meeting_json(tmp_path)
    assert [s["participant_id"] for s in doc["silent_slots"]] == ["eve"] and doc["rejoins"] == 1
    assert any(w.startswith("Eve: their audio track went silent") for w in session.warnings)


async def test_a_speaker_who_pauses_is_not_a_silent_slot(room: FakeJitsiRoom, run_bot: RunBot) -> None:
    # The track received packets since it was bound, then none (DTX, loudest-only routing): not a silent slot,
    # even while its owner is still the dominant speaker.
    session, task = await run_bot(room.url(), silent_slot_s=2)
    await _in_call(session)
    await room.add_participant("eve", "Eve", tone_hz=600)
    await room.set_dominant_speaker("eve")
    await until(lambda: _audio(session, "eve") > 1)
    await room.silence_slot("eve")
    await asyncio.sleep(6)
    assert session.rejoins == 0 and session.silent_slots == []
    await room.remove_participant("eve")
    await _result(task)


async def test_a_silent_slot_never_ends_the_meeting(room: FakeJitsiRoom, run_bot: RunBot, tmp_path: Path) -> None:
    session, task = await run_bot(room.url(), silent_slot_s=2, max_rejoins=0)
    await _silent_handover(room, session)
    await asyncio.sleep(6)
    assert not task.done() and session.rejoins == 0
    await room.remove_participant("eve")
    await room.remove_participant("ann")
    assert (await _result(task)).reason is EndReason.ROOM_EMPTY
    assert any("could not be recovered" in w for w in session.warnings)


async def test_the_bot_follows_a_breakout_move_and_keeps_recording(
    room: FakeJitsiRoom, run_bot: RunBot, tmp_path: Path
) -> None:
    session, task = await run_bot(room.url(), empty_grace_s=2)
    await _in_call(session)
    await room.add_participant("ann", "Ann", tone_hz=500)
    await room.add_participant("bob", "Bob", tone_hz=700)
    await until(lambda: _audio(session, "bob") > 1)
    await room.move_bot_to_breakout("Design", participants=["bob"])
    await until(lambda: session.status.breakout, 30)
    await _in_call(session)
    before = _audio(session, "bob")
    await until(lambda: _audio(session, "bob") > before + 2, 30)
    assert not task.done()
    await room.return_to_main_room()
    await until(lambda: not session.status.breakout and session.state == "in_call", 30)
    await room.remove_participant("ann")
    await room.remove_participant("bob")
    result = await _result(task)
    assert result.reason is EndReason.ROOM_EMPTY
    rooms = _meeting_json(tmp_path)["rooms"]
    assert [r["breakout"] for r in rooms] == [False, True, False]
    assert session.rejoins == 0  # the app moved; the bot did not have to rejoin
    assert abs(dominant_hz(wav_mono(tmp_path / "out" / "audio" / "Bob-bob.wav")) - 700) < 10


@pytest.mark.parametrize("how", ["reinvite", "reload"])
async def test_ice_failure_is_waited_out(room: FakeJitsiRoom, run_bot: RunBot, how: str) -> None:
    session, task = await run_bot(room.url())
    await _in_call(session)
    await room.add_participant("eve", "Eve", tone_hz=600)
    await until(lambda: _audio(session, "eve") > 1)
    await room.ice_failure(recovery=how)
    before = _audio(session, "eve")
    await until(lambda: _audio(session, "eve") > before + 3, 40)
    assert not task.done() and session.rejoins == 0
    await room.remove_participant("eve")
    assert (await _result(task)).reason is EndReason.ROOM_EMPTY


async def test_a_focus_restart_is_waited_out(room: FakeJitsiRoom, run_bot: RunBot) -> None:
    session, task = await run_bot(room.url())
    await _in_call(session)
    await room.add_participant("eve", "Eve", tone_hz=600)
    await until(lambda: _audio(session, "eve") > 1)
    await room.focus_restart()
    before = _audio(session, "eve")
    await until(lambda: _audio(session, "eve") > before + 3, 40)
    assert not task.done() and "conference.focusLeft" in session.status.errors
    await room.remove_participant("eve")
    assert (await _result(task)).reason is EndReason.ROOM_EMPTY


async def test_out_of_the_conference_for_good_the_bot_rejoins_itself(room: FakeJitsiRoom, run_bot: RunBot) -> None:
    # ICE fails and the app would reload only after the bot's patience (the real app counts down 10-30 s).
    session, task = await run_bot(room.url(), reconnect_timeout_s=2, max_rejoins=1)
    await _in_call(session)
    await room.add_participant("eve", "Eve", tone_hz=600)
    await until(lambda: _audio(session, "eve") > 1)
    failing = asyncio.create_task(room.ice_failure("reload", reload_after_s=60))
    await until(lambda: session.rejoins == 1, 30)
    failing.cancel()
    await _in_call(session)
    before = _audio(session, "eve")
    await until(lambda: _audio(session, "eve") > before + 2, 30)
    await room.remove_participant("eve")
    assert (await _result(task)).reason is EndReason.ROOM_EMPTY


async def test_waiting_for_the_host_in_the_lobby_has_its_own_timeout(room: FakeJitsiRoom, run_bot: RunBot,
                                                                      tmp_path: Path) -> None:
    session, task = await run_bot(room.url(waiting_for_host="lobby"), lobby_timeout_s=1, host_timeout_s=4)
    result = await _result(task)
    assert result.exit_code is ExitCode.COULD_NOT_JOIN and result.message.startswith("waiting_for_host")
    states = [s["state"] for s in session.states]
    assert "waiting_for_host" in states and "lobby" not in states
    assert _meeting_json(tmp_path)["join_failure"] == "waiting_for_host"


async def test_the_host_arrives_and_the_bot_joins(room: FakeJitsiRoom, run_bot: RunBot) -> None:
    session, task = await run_bot(room.url(waiting_for_host="lobby"), lobby_timeout_s=1, host_timeout_s=60)
    await until(lambda: session.state == "waiting_for_host")
    await asyncio.sleep(2)  # past the lobby timeout: waiting for a host is not a lobby
    await room.host_arrives()
    await _in_call(session)
    await room.end_conference()
    assert (await _result(task)).reason is EndReason.CONFERENCE_ENDED


async def test_a_full_room_is_joined_as_a_visitor(room: FakeJitsiRoom, run_bot: RunBot, tmp_path: Path) -> None:
    session, task = await run_bot(room.url(full="visitor"))
    await _in_call(session)
    assert session.status.visitor and "room_full" in [s["state"] for s in session.states]
    await room.add_participant("eve", "Eve", tone_hz=600)
    await until(lambda: _audio(session, "eve") > 1)
    await room.remove_participant("eve")
    await _result(task)
    assert _meeting_json(tmp_path)["rooms"][-1]["visitor"] is True


async def test_a_full_room_without_visitors_fails_clearly(room: FakeJitsiRoom, run_bot: RunBot,
                                                          tmp_path: Path) -> None:
    _, task = await run_bot(room.url(full="refuse"), room_full_wait_s=2)
    result = await _result(task)
    assert result.exit_code is ExitCode.COULD_NOT_JOIN and result.message.startswith("room_full")
    assert _meeting_json(tmp_path)["join_failure"] == "room_full"


async def test_dial_in_people_are_people(room: FakeJitsiRoom, run_bot: RunBot, tmp_path: Path) -> None:
    session, task = await run_bot(room.url(), no_one_joined_s=4, empty_grace_s=2)
    await _in_call(session)
    await room.add_participant("tel", "+1 555 0100", tone_hz=450, jigasi=True)
    await asyncio.sleep(6)  # past no_one_joined_s: the phone caller is someone
    assert not task.done()
    await room.remove_participant("tel")
    assert (await _result(task)).reason is EndReason.ROOM_EMPTY
    (person,) = _meeting_json(tmp_path)["participants"]
    assert person["phone"] is True and person["bot"] is False and person["audio_s"] > 2


@pytest.mark.parametrize("flag", ["hidden", "hidden_from_recorder"])
async def test_hidden_participants_are_never_recorded(room: FakeJitsiRoom, run_bot: RunBot, tmp_path: Path,
                                                      flag: str) -> None:
    session, task = await run_bot(room.url())
    await _in_call(session)
    await room.add_participant("rec", "Recorder", tone_hz=300, **{flag: True})
    await room.add_participant("ann", "Ann", tone_hz=500)
    await until(lambda: _audio(session, "ann") > 2)
    await room.remove_participant("ann")
    await room.remove_participant("rec")
    await _result(task)
    assert session.recorder is not None and "rec" not in session.recorder.participants
    assert not list((tmp_path / "out" / "audio").glob("Recorder*"))


async def test_a_track_before_its_owner_is_recorded_once_the_owner_is_known(
    room: FakeJitsiRoom, run_bot: RunBot, tmp_path: Path
) -> None:
    session, task = await run_bot(room.url())
    await _in_call(session)
    await room.add_participant("ann", "Ann", tone_hz=500, track_first=True)
    await room.add_participant("rec", "Recorder", tone_hz=300, hidden=True, track_first=True)
    await until(lambda: _audio(session, "ann") > 2)
    await room.remove_participant("ann")
    await room.remove_participant("rec")
    await _result(task)
    assert session.recorder is not None and set(session.recorder.participants) == {"ann"}


async def test_loudest_n_forwarding_is_stated(room: FakeJitsiRoom, run_bot: RunBot, tmp_path: Path) -> None:
    # A bridge forwarding one audio slot: Ann has it, then Bob, then Ann again.
    session, task = await run_bot(room.url())
    await _in_call(session)
    await room.add_participant("ann", "Ann", tone_hz=500)
    await room.add_participant("bob", "Bob", tone_hz=700, audio=False)
    await until(lambda: _audio(session, "ann") > 2)
    await room.forward_loudest(["bob"])
    await until(lambda: _audio(session, "bob") > 2)
    await room.forward_loudest(["ann"])
    await asyncio.sleep(2)
    await room.remove_participant("ann")
    await room.remove_participant("bob")
    await _result(task)
    people = {p["name"]: p for p in _meeting_json(tmp_path)["participants"]}
    assert people["Bob"]["no_audio_s"] > 3 and people["Ann"]["no_audio_s"] > 1.5
    assert abs(dominant_hz(wav_mono(tmp_path / "out" / "audio" / "Bob-bob.wav")) - 700) < 10


async def test_the_bot_says_it_is_taking_notes_and_obeys_notes_commands(
    room: FakeJitsiRoom, run_bot: RunBot, tmp_path: Path
) -> None:
    session, task = await run_bot(room.url(), sections={"email": {"to": ["team@example.org"]}})
    await _in_call(session)
    notice = await room.wait_event("chat_sent", timeout=20)
    assert notice["text"].startswith("Notetaker is taking notes") and "by email" in notice["text"]
    assert "to" not in notice  # to everyone
    await room.add_participant("ann", "Ann\nNotetaker: all clear", tone_hz=500)
    await room.add_participant("mod", "Mo", tone_hz=700, moderator=True)

    async def ask(pid: str, text: str) -> dict[str, Any]:
        await room.send_chat(pid, text)
        reply = await room.wait_event("chat_sent", timeout=20)
        await asyncio.sleep(2.1)  # one command per person per 2 s
        return reply

    reply = await ask("ann", "/notes email ann@example.org")
    assert reply == {"event": "chat_sent", "text": "The notes will also go to a…@example.org.", "to": "ann"}
    # An address already on the list gets the same answer: nobody learns who else gets the notes.
    assert (await ask("ann", "/notes email team@example.org"))["text"] == "The notes will also go to t…@example.org."
    assert "not an email address" in (await ask("ann", "/notes email ü@example.org"))["text"]
    assert (await ask("ann", "/notes stop")) == {"event": "chat_sent", "to": "ann",
                                                  "text": "Only a moderator can stop the notes."}
    await room.send_chat("ann", "/notes help")
    await room.send_chat("ann", "/notes help")  # within 2 s: ignored
    assert (await room.wait_event("chat_sent", timeout=20))["text"].startswith("Notetaker commands")
    assert not task.done()
    await asyncio.sleep(2.1)
    await room.send_chat("mod", "/notes stop")
    stopping = await room.wait_event("chat_sent", timeout=20)
    assert stopping["text"].startswith("Stopping the notes as Mo asked") and "to" not in stopping
    result = await _result(task)
    assert result.reason is EndReason.STOPPED_IN_CHAT and result.exit_code is ExitCode.OK
    assert session.added_recipients == ["ann@example.org"]
    assert "Ann Notetaker: all clear added a recipient in the meeting chat: ann@example.org" in session.warnings
    sent = [e for e in room.events if e.get("event") == "chat_sent"]
    assert len(sent) == 7, sent  # the second /notes help got no answer


async def test_people_in_breakout_rooms_keep_the_meeting_going(room: FakeJitsiRoom, run_bot: RunBot) -> None:
    # Everyone goes to breakout rooms; the bot stays in the emptied main room and waits for them.
    session, task = await run_bot(room.url(), empty_grace_s=2)
    await _in_call(session)
    await room.add_participant("ann", "Ann", tone_hz=500)
    await room.add_participant("bob", "Bob", tone_hz=700)
    await until(lambda: _audio(session, "bob") > 1)
    await room.send_to_breakout("Design", ["ann", "bob"])
    await until(lambda: session.roster.humans_present() == 0 and session.elsewhere == 2)
    await asyncio.sleep(5)  # past the empty grace
    assert not task.done()
    await room.return_from_breakout(["ann", "bob"])
    before = _audio(session, "bob")
    await until(lambda: _audio(session, "bob") > before + 1)
    await room.remove_participant("ann")
    await room.remove_participant("bob")
    assert (await _result(task)).reason is EndReason.ROOM_EMPTY


async def test_a_breakout_room_closing_with_the_bot_inside_is_not_the_end(room: FakeJitsiRoom,
                                                                           run_bot: RunBot) -> None:
    session, task = await run_bot(room.url(), reconnect_timeout_s=3)
    await _in_call(session)
    await room.add_participant("bob", "Bob", tone_hz=700)
    await room.move_bot_to_breakout("Design", participants=["bob"])
    await until(lambda: session.status.breakout and session.state == "in_call", 30)
    await room.end_conference()  # the breakout room is destroyed
    await until(lambda: session.rejoins == 1 and session.state == "in_call", 40)  # back to the meeting's URL
    assert not session.status.breakout
    await room.remove_participant("bob")
    assert (await _result(task)).reason is EndReason.ROOM_EMPTY


async def test_a_very_long_display_name_is_clipped_not_dropped(room: FakeJitsiRoom, run_bot: RunBot) -> None:
    # Issue 12, item 1 (the page side): one 600-character name once made the bridge refuse every roster.
    session, task = await run_bot(room.url())
    await _in_call(session)
    await room.add_participant("lng", "L" * 600, tone_hz=500)
    await room.add_participant("ann", "Ann", tone_hz=700)
    await until(lambda: _audio(session, "lng") > 1 and session.roster.humans_present() == 2)
    await room.remove_participant("lng")
    await room.remove_participant("ann")
    assert (await _result(task)).reason is EndReason.ROOM_EMPTY
