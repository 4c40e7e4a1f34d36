"""The bot, unchanged, against the real jitsi-meet web app (tests/jitsi_stack): a person and the bot, peer to peer.

Each test opens its own room on the session's deployment. The "human" is a second Chromium speaking a WAV
file through Chromium's fake microphone; it joins first where it must be the room's moderator (the
first person in owns the room, as with jicofo). What needs three or more people, a videobridge, SSRC
rewriting, loudest-N forwarding or breakout rooms stays with the fake room (bot/demo).
"""

from __future__ import annotations

import asyncio
import email
import json
import os
import subprocess
import sys
from email import policy
from pathlib import Path

import numpy as np
import pytest

from bot.demo.speech import RATE, speak, wer, words, write_wav
from bot.meeting.browser import LAUNCH_ARGS
from tests.jitsi_stack.botproc import BotProcess
from tests.jitsi_stack.human import ARGS, Human
from tests.jitsi_stack.stack import ROOT, JitsiStack, prosody_plugins

pytestmark = [pytest.mark.jitsi, pytest.mark.timeout(300)]
needs_jitsi_modules = pytest.mark.skipif(
    prosody_plugins() is None,
    reason="jitsi's Prosody modules are not here (set JITSI_PROSODY_PLUGINS; ../shared/jitsi-meet/prosody-plugins)")

VOICE = os.environ.get("JITSI_TEST_VOICE", "en-us+m3")
# Two passages of continuous speech (one utterance each, as the live path cuts them), about 90 words.
PART_A = ("Good morning everyone, thanks for joining the launch review. The budget is almost final, but the "
          "marketing costs went up again this month. I will send the updated numbers to the finance team by "
          "Thursday, and then we can decide on the final plan together.")
PART_B = ("Bob, can you book the venue for the launch party? We also need to confirm the press release with "
          "the legal team before Friday. Let's meet again next week to check the progress.")
LEAD_S, PAUSE_S, TAIL_S = 2.0, 5.0, 1.5


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.float32)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float, float]:
    """The human's microphone: silence, part A, a pause (to mute in), part B; with the times parts end."""
    a, b = speak(PART_A, VOICE), speak(PART_B, VOICE)
    audio = np.concatenate([silence(LEAD_S), a, silence(PAUSE_S), b, silence(TAIL_S)])
    a_end = LEAD_S + len(a) / RATE
    path = write_wav(tmp_path_factory.mktemp("speech") / "alice.wav", audio)
    return path, a_end, a_end + PAUSE_S + len(b) / RATE


async def _bot_in_call(human: Human, bot: BotProcess, name: str = "Minutes Bot") -> str:
    """Wait until the human sees the bot and the peer-to-peer call is up; returns the bot's id."""
    bot_id = await human.wait_for_other(name, timeout_s=60)
    assert bot_id is not None
    await bot.wait_state("in_call")
    async with asyncio.timeout(30):
        while not await human.p2p_active():
            await asyncio.sleep(0.25)
    return bot_id


def _says(text: str, passage: str) -> bool:
    """Whether a transcript segment is that passage (recognition errors allowed)."""
    return wer(words(passage), words(text)) <= 0.3


def _replay_wer(wav: Path, out: Path, reference: list[str]) -> float:
    """WER of `jitsi-bot replay` on the very WAV the human spoke."""
    subprocess.run([sys.executable, "-m", "bot", "replay", str(wav), "--names", "Alice", "--out", str(out)],
                   cwd=ROOT, check=True, capture_output=True, timeout=240)
    report = json.loads((out / "report.json").read_text())
    return wer(reference, [w for seg in report["transcript"] for w in words(seg["text"])])


async def test_records_a_person_through_the_real_client_and_emails_the_notes(
    jitsi_stack: JitsiStack, humans, bots, speech: tuple[Path, float, float], tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    wav, a_end, _ = speech
    alice: Human = humans("Alice", wav=wav)
    await alice.join(jitsi_stack.url("launch-review"))
    # The deployment's own defaults, which the bot must get past: a prejoin screen and a required name.
    assert await alice.eval("() => [config.prejoinConfig.enabled, config.requireDisplayName]") == [True, True]

    bot = await bots(jitsi_stack, jitsi_stack.url("launch-review"), tmp_path / "bot", email=True)
    await _bot_in_call(alice, bot)
    # The person sees the bot under the name it was configured with.
    assert "Minutes Bot" in await alice.eval("() => document.body.innerText")

    await alice.start_speaking()  # the WAV plays from here: lead silence, part A, pause, part B
    await asyncio.sleep(a_end + 1.0)
    await alice.mute(True)  # in the pause
    await asyncio.sleep(2.0)
    await alice.mute(False)
    await asyncio.sleep(PAUSE_S - 3.0 + len(speak(PART_B, VOICE)) / RATE + TAIL_S)
    await alice.leave()

    code = await bot.wait(120)
    assert code == 0, bot.stderr[-3000:]
    meeting, report = bot.meeting(), bot.report()
    assert meeting["end_reason"] == "room_empty"
    capture = meeting["capture"]
    # Muting is silence, not lost audio: every sample the capture clock covered arrived.
    assert capture["samples"] >= 0.995 * capture["expected_samples"] > 0, capture
    assert capture["gaps"] == 0 and capture["lost_ms"] <= 0.005 * capture["expected_samples"] / 16, capture

    assert [p["name"] for p in report["participants"]] == ["Alice"]
    assert {seg["name"] for seg in report["transcript"]} == {"Alice"}
    reference = words(PART_A) + words(PART_B)
    live = wer(reference, [w for seg in report["transcript"] for w in words(seg["text"])])
    replayed = _replay_wer(wav, tmp_path / "replay", reference)
    print(f"WER live {live:.3f}, replay {replayed:.3f}, voice {VOICE}")
    assert live <= replayed + 0.05, (live, replayed, [seg["text"] for seg in report["transcript"]])

    mails = sorted(jitsi_stack.mail_dir.glob("*.eml"))
    sent = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in mails]
    ours = [m for m in sent if "launch-review" in str(m["Subject"])]
    assert ours, [str(m["Subject"]) for m in sent]
    body = ours[-1].get_body(("plain",))
    assert body is not None and "Alice" in body.get_content()


async def test_password_locked_room_then_kicked_by_the_moderator(
    jitsi_stack: JitsiStack, humans, bots, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    url = jitsi_stack.url("locked-room")
    alice: Human = humans("Alice")
    await alice.join(url)
    await alice.lock("s3cret!")  # Alice was first: she owns the room, as the moderator who locks it

    none = await bots(jitsi_stack, url, tmp_path / "none")
    assert await none.wait() == 3, none.stderr[-3000:]
    assert none.meeting()["message"].startswith("password_required"), none.meeting()

    wrong = await bots(jitsi_stack, url, tmp_path / "wrong", env={"BOT_MEETING__PASSWORD": "Tr0ub4dor"})
    assert await wrong.wait() == 3, wrong.stderr[-3000:]
    assert wrong.meeting()["message"].startswith("password_wrong"), wrong.meeting()
    assert "Tr0ub4dor" not in wrong.stderr + wrong.stdout + (tmp_path / "wrong" / "meeting.json").read_text()

    right = await bots(jitsi_stack, url, tmp_path / "right", env={"BOT_MEETING__PASSWORD": "s3cret!"})
    bot_id = await _bot_in_call(alice, right)
    await alice.kick(bot_id)
    assert await right.wait() == 0, right.stderr[-3000:]
    assert right.meeting()["end_reason"] == "kicked"
    assert "password" in right.states()


@needs_jitsi_modules
async def test_lobby_denied_then_admitted(
    jitsi_stack: JitsiStack, humans, bots, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    url = jitsi_stack.url("lobby-room")
    alice: Human = humans("Alice")
    await alice.join(url)
    await alice.enable_lobby()

    async def knock_and_answer(out: Path, admit: bool) -> BotProcess:
        bot = await bots(jitsi_stack, url, out)
        async with asyncio.timeout(60):
            while not (knocking := await alice.knocking()):
                assert bot.proc.returncode is None, bot.stderr[-3000:]
                await asyncio.sleep(0.25)
        assert list(knocking.values()) == ["Minutes Bot"]
        await bot.wait_state("lobby")
        await alice.answer_knock(next(iter(knocking)), admit=admit)
        return bot

    denied = await knock_and_answer(tmp_path / "denied", admit=False)
    assert await denied.wait() == 3, denied.stderr[-3000:]
    assert denied.meeting()["message"].startswith("lobby_denied"), denied.meeting()

    admitted = await knock_and_answer(tmp_path / "admitted", admit=True)
    await _bot_in_call(alice, admitted)
    await alice.leave()
    assert await admitted.wait() == 0, admitted.stderr[-3000:]
    assert admitted.meeting()["end_reason"] == "room_empty"
    assert admitted.states()[:2] == ["joining", "lobby"] and "in_call" in admitted.states()


@needs_jitsi_modules
async def test_waits_for_the_host_then_joins(  # type: ignore[no-untyped-def]
    jitsi_stack: JitsiStack, humans, bots, tmp_path: Path
) -> None:
    # Guests may not start a meeting: they wait in the lobby until a logged-in host arrives.
    with JitsiStack(tmp_path / "stack", jitsi_stack.webroot, profile="wait_for_host") as stack:
        url = stack.url("hosted-room")
        # A short lobby timeout: waiting for a host is not a lobby and has a timeout of its own.
        bot = await bots(stack, url, tmp_path / "bot", env={"BOT_MEETING__LOBBY_TIMEOUT_S": "2",
                                                             "BOT_MEETING__HOST_TIMEOUT_S": "120"})
        await bot.wait_state("waiting_for_host", timeout_s=60)
        await asyncio.sleep(4)
        assert bot.proc.returncode is None, bot.stderr[-3000:]
        assert '"state": "lobby"' not in bot.stderr  # not a lobby: no lobby timeout ran
        host: Human = humans("Hannah", stack=stack, login=("hannah@meet.test", "any"))
        await host.join(url)
        await _bot_in_call(host, bot)
        await host.leave()
        assert await bot.wait() == 0, bot.stderr[-3000:]
    assert bot.meeting()["end_reason"] == "room_empty"
    assert [p["name"] for p in bot.meeting()["participants"]] == ["Hannah"]
    assert "waiting_for_host" in bot.states() and "lobby" not in bot.states()


async def test_rename_and_reload_are_one_person_in_the_report(
    jitsi_stack: JitsiStack, humans, bots, speech: tuple[Path, float, float], tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    wav, a_end, _ = speech
    url = jitsi_stack.url("reload-room")
    alice: Human = humans("Alice", wav=wav)
    await alice.join(url)
    bot = await bots(jitsi_stack, url, tmp_path / "bot")
    await _bot_in_call(alice, bot)
    first_id = await alice.eval("() => APP.conference.getMyUserId()")
    await alice.start_speaking()
    await asyncio.sleep(a_end + 0.5)

    await alice.reload()  # a new participant id; her microphone starts the WAV again when she unmutes
    second_id = await alice.eval("() => APP.conference.getMyUserId()")
    assert second_id != first_id
    async with asyncio.timeout(30):
        while not await alice.p2p_active():
            await asyncio.sleep(0.25)
    await alice.rename("Alice Liddell")
    await alice.start_speaking()
    await asyncio.sleep(a_end + 0.5)
    await alice.leave()

    assert await bot.wait(120) == 0, bot.stderr[-3000:]
    manifest = json.loads((bot.out / "audio" / "participants.json").read_text())
    files = {p["participant_id"]: p for p in manifest["participants"]}
    assert set(files) == {first_id, second_id}  # a file per id: nothing overwritten
    assert files[second_id]["names"] == ["Alice", "Alice Liddell"]
    assert all((bot.out / "audio" / p["file"]).stat().st_size > 44 for p in files.values())

    report = bot.report()
    assert [(p["id"], p["name"], p["other_ids"]) for p in report["participants"]] == [
        (first_id, "Alice Liddell", [second_id])]
    spoken = [seg for seg in report["transcript"] if _says(seg["text"], PART_A)]
    assert len(spoken) == 2 and {seg["name"] for seg in spoken} == {"Alice Liddell"}, report["transcript"]
    assert {seg["participant_id"] for seg in report["transcript"]} == {first_id}


async def test_public_https_origin_needs_local_network_access_and_the_bot_has_it(
    jitsi_stack: JitsiStack, humans, bots, speech: tuple[Path, float, float], tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    # The bot's page comes from https://meet.jitsi.test:8443 (self-signed), an address Chromium is told is
    # public: a public page may not open ws://127.0.0.1 (the bridge) without Local Network Access.
    wav, a_end, _ = speech
    public = [f"--host-resolver-rules=MAP {JitsiStack.TLS_HOST} {jitsi_stack.veth_addr}",
              f"--ip-address-space-overrides={jitsi_stack.veth_addr}:8443=public"]
    alice: Human = humans("Alice", wav=wav)
    await alice.join(jitsi_stack.url("public-room"))
    bot = await bots(jitsi_stack, jitsi_stack.url("public-room", tls=True), tmp_path / "bot", env={
        "BOT_BROWSER__EXTRA_ARGS": json.dumps(public), "BOT_BROWSER__IGNORE_HTTPS_ERRORS": "true"})
    await _bot_in_call(alice, bot)

    # The trap, shown with the bot's own browser flags: without the permission the same page is blocked.
    assert set(LAUNCH_ARGS) <= set(ARGS)
    page = await humans("Probe", extra_args=public).launch()
    await page.goto(jitsi_stack.url("probe-room", tls=True))
    loopback = "() => fetch('http://127.0.0.1:5280/http-bind', {mode: 'no-cors'}).then(() => 'open', e => String(e))"
    assert "Failed to fetch" in await page.evaluate(loopback)

    await alice.start_speaking()
    await asyncio.sleep(a_end + 0.5)
    await alice.leave()
    assert await bot.wait(120) == 0, bot.stderr[-3000:]
    meeting = bot.meeting()
    assert meeting["end_reason"] == "room_empty"
    assert meeting["bridge"]["refused_clients"] == 0 and meeting["capture"]["samples"] > 16000 * 5, meeting
    assert any(_says(seg["text"], PART_A) for seg in bot.report()["transcript"])


async def test_without_p2p_nothing_arrives_and_the_report_says_so(
    jitsi_stack: JitsiStack, humans, bots, speech: tuple[Path, float, float], tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    # meeting.p2p = false is Jibri's choice (everything through the videobridge); this deployment has none.
    wav, a_end, _ = speech
    alice: Human = humans("Alice", wav=wav)
    await alice.join(jitsi_stack.url("bridge-only-room"))
    bot = await bots(jitsi_stack, jitsi_stack.url("bridge-only-room"), tmp_path / "bot",
                     env={"BOT_MEETING__P2P": "false"})
    await alice.wait_for_other("Minutes Bot", timeout_s=60)
    await bot.wait_state("in_call")
    await alice.start_speaking()
    await asyncio.sleep(a_end)
    assert not await alice.p2p_active()
    await alice.leave()
    assert await bot.wait(120) == 0, bot.stderr[-3000:]
    meeting, report = bot.meeting(), bot.report()
    assert meeting["capture"]["samples"] == 0 and meeting["participants"][0]["audio_s"] == 0
    assert [p["name"] for p in report["participants"]] == ["Alice"]
    warning = next(w for w in report["warnings"] if w.startswith("Alice: present "))
    assert warning.endswith("s, no audio received")
    assert int(warning.split()[2]) >= int(a_end) - 1


async def test_says_it_is_taking_notes_and_obeys_the_moderator_in_the_chat(
    jitsi_stack: JitsiStack, humans, bots, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    url = jitsi_stack.url("chat-room")
    alice: Human = humans("Alice")
    await alice.join(url)  # first in: the moderator
    await alice.record_chat()
    bot = await bots(jitsi_stack, url, tmp_path / "bot", email=True)
    await _bot_in_call(alice, bot)
    notice = await alice.wait_for_chat("Minutes Bot is taking notes")
    assert "by email" in notice and "team@example.org" not in notice

    await alice.send_chat("/notes email alice@example.org")
    await alice.wait_for_chat("The notes will also go to a…@example.org.")  # privately, to Alice
    await asyncio.sleep(2.5)  # one command per person per 2 s
    await alice.send_chat("/notes stop")
    assert await bot.wait(120) == 0, bot.stderr[-3000:]
    assert bot.meeting()["end_reason"] == "stopped_in_chat"
    await alice.wait_for_chat("Stopping the notes as Alice asked")
    assert "Alice added a recipient in the meeting chat: alice@example.org" in bot.report()["warnings"]
    sent = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(jitsi_stack.mail_dir.glob("*.eml"))]
    recipients = sorted(str(m["To"]) for m in sent if "chat-room" in str(m["Subject"]))
    assert recipients == ["alice@example.org", "team@example.org"], recipients  # a message each
