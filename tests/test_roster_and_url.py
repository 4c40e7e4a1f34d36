import json
from urllib.parse import unquote, urlsplit

import pytest

from bot.bridge.protocol import RosterEntry
from bot.meeting.jitsi import JoinError, JoinFailure, meeting_url
from bot.outcome import new_meeting_id, room_name, safe_url
from bot.roster import Roster


def test_meeting_url_adds_json_hash_overrides() -> None:
    url = meeting_url("https://meet.example.org/Team%20Sync?jwt=abc#config.foo=1", 'Note "taker"')
    parts = urlsplit(url)
    assert parts.query == "jwt=abc"
    pairs = dict(p.split("=", 1) for p in parts.fragment.split("&"))
    assert pairs["config.foo"] == "1"                      # the caller's own overrides are kept
    assert json.loads(unquote(pairs["userInfo.displayName"])) == 'Note "taker"'
    assert json.loads(unquote(pairs["config.prejoinConfig.enabled"])) is False
    assert "config.startSilent" not in pairs               # would stop all incoming audio


@pytest.mark.parametrize("bad", ["", "meet.example.org/Room", "ftp://x/Room", "https:///Room", "https://host/",
                                 "javascript:alert(1)"])
def test_bad_urls_are_refused(bad: str) -> None:
    with pytest.raises(JoinError) as err:
        meeting_url(bad, "Bot")
    assert err.value.reason is JoinFailure.BAD_URL


def test_ids_and_safe_urls() -> None:
    assert room_name("https://x.org/Team%20Sync/") == "Team-Sync"
    assert new_meeting_id("https://x.org/../../etc").startswith("etc-")
    assert safe_url("https://x.org/Room?jwt=SECRET#config.a=1") == "https://x.org/Room"


def _e(pid: str, name: str = "", hidden: bool = False, bot: bool = False) -> RosterEntry:
    return RosterEntry(id=pid, name=name or pid, hidden=hidden, bot=bot)


def test_roster_counts_people_not_bots() -> None:
    roster = Roster(ignore_names=[r"(?i)notetaker"])
    roster.update([_e("rec", hidden=True), _e("sip", bot=True), _e("nt", "Other Notetaker")], 1.0)
    assert roster.humans_present() == 0 and roster.first_human_at is None
    roster.update([_e("rec", hidden=True), _e("a", "Ann")], 2.0)
    assert roster.humans_present() == 1 and roster.first_human_at == 2.0
    assert roster.people["nt"].left_s == 2.0


def test_roster_renames_and_rejoins() -> None:
    roster = Roster()
    roster.update([_e("a", "Ann")], 0.0)
    roster.update([_e("a", "Annie")], 1.0)
    assert roster.renames == [("a", "Annie")] and roster.people["a"].name == "Annie"
    roster.update([], 2.0)
    assert roster.humans_present() == 0 and roster.people["a"].left_s == 2.0
    roster.update([_e("a", "Annie")], 3.0)                  # the same id back (a breakout-room move): one presence
    assert roster.humans_present() == 1 and roster.people["a"].joined_s == 0.0
    assert roster.people["a"].left_s is None


def test_dial_in_people_count_and_their_flag_may_come_late() -> None:
    roster = Roster()
    roster.update([RosterEntry(id="p", name="+1 555 0100")], 1.0)
    roster.update([RosterEntry(id="p", name="+1 555 0100", phone=True)], 1.5)  # features_jigasi, a moment later
    assert roster.humans_present() == 1 and roster.people["p"].phone
    roster.update([RosterEntry(id="p", name="+1 555 0100", phone=True),
                   RosterEntry(id="t", name="Transcriber", hidden=True)], 2.0)
    assert roster.humans_present() == 1 and not roster.people["t"].counts


def test_a_participant_hidden_later_stops_counting() -> None:
    roster = Roster()
    roster.update([RosterEntry(id="x", name="X")], 0.0)
    roster.update([RosterEntry(id="x", name="X", hidden=True)], 1.0)
    assert roster.humans_present() == 0


def test_hash_overrides_are_only_keys_the_app_accepts() -> None:
    fragment = urlsplit(meeting_url("https://meet.example.org/Room", "Bot", p2p=False)).fragment
    keys = {p.split("=", 1)[0] for p in fragment.split("&")}
    # jitsi-meet's configWhitelist drops anything else without a word
    assert not keys & {"config.prejoinPageEnabled", "config.startLowBandwidthMode", "config.startSilent"}
    assert {"config.prejoinConfig.enabled", "config.p2p.enabled", "config.lobby.autoKnock",
            "userInfo.displayName"} <= keys


def test_p2p_is_left_to_the_deployment_unless_disabled() -> None:
    def fragment(url: str) -> dict[str, str]:
        return dict(p.split("=", 1) for p in urlsplit(url).fragment.split("&"))

    assert "config.p2p.enabled" not in fragment(meeting_url("https://meet.example.org/Room", "Bot"))
    off = fragment(meeting_url("https://meet.example.org/Room", "Bot", p2p=False))
    assert json.loads(unquote(off["config.p2p.enabled"])) is False


def test_roster_keeps_every_name() -> None:
    roster = Roster()
    roster.update([_e("a", "Ann")], 0.0)
    roster.update([_e("a", "Annie")], 1.0)
    roster.update([_e("a", "Ann")], 2.0)
    assert roster.people["a"].names == ["Ann", "Annie", "Ann"]
