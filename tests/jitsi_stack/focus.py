"""A stand-in for jicofo: the conference focus, minus the videobridge.

What it does, as jicofo does:
- answers lib-jitsi-meet's conference request
  (``<iq type='set' to='focus.<domain>'><conference xmlns='http://jitsi.org/protocol/focus' room=…/></iq>``)
  with ``ready='true'`` once it is in the room, so the room is always created by the focus, never by a guest
  (what ``mod_muc_wait_for_host`` relies on);
- sits in the room as the occupant ``focus`` (its JID is reported as ``focusjid``, so clients hide it and
  treat its departure as the end of the conference);
- makes the first person in the room its owner (jicofo's auto-owner), unless an owner is already there;
- leaves when nobody else is left, so the room is destroyed as on a real deployment.

What it does not do: no Jingle, no videobridge. Two participants talk peer to peer; three get no audio.

Run inside the stack's network namespace by ``supervisor.py`` (same event loop as the web server).
"""

from __future__ import annotations

import asyncio
import logging

from slixmpp import ComponentXMPP, Iq, Presence
from slixmpp.xmlstream import ET, ElementBase, register_stanza_plugin
from slixmpp.xmlstream.handler import Callback, CoroutineCallback
from slixmpp.xmlstream.matcher import StanzaPath

FOCUS_NS = "http://jitsi.org/protocol/focus"
MUC_NS = "http://jabber.org/protocol/muc"
MUC_USER_NS = "http://jabber.org/protocol/muc#user"
MUC_ADMIN_NS = "http://jabber.org/protocol/muc#admin"
NICK = "focus"
log = logging.getLogger("focus")


class ConferenceRequest(ElementBase):
    """``<conference xmlns='http://jitsi.org/protocol/focus'/>``."""

    name = "conference"
    namespace = FOCUS_NS
    plugin_attrib = "focus_conference"
    interfaces = {"room", "ready", "focusjid", "machine-uid", "session-id", "token"}


class Room:
    """What the focus knows about one room: who is in it and with which affiliation."""

    def __init__(self) -> None:
        self.joined = asyncio.Event()
        self.occupants: dict[str, tuple[str, str]] = {}  # nick -> (real bare jid, affiliation)
        self.granting: str | None = None  # an owner grant sent and not yet seen in a presence


class Focus(ComponentXMPP):  # type: ignore[misc]
    """The focus component ``focus.<domain>``; its occupant JID is ``focus.<domain>/focus``."""

    def __init__(self, domain: str, secret: str, port: int) -> None:
        super().__init__(f"focus.{domain}", secret, "127.0.0.1", port)
        self.domain = domain
        self.full_jid = f"focus.{domain}/{NICK}"
        self.rooms: dict[str, Room] = {}
        register_stanza_plugin(Iq, ConferenceRequest)
        self.register_handler(CoroutineCallback("focus-conference", StanzaPath("iq@type=set/focus_conference"),
                                                self._on_conference))
        self.register_handler(Callback("focus-muc-presence", StanzaPath("presence"), self._on_presence))
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")

    async def _on_conference(self, iq: Iq) -> None:
        room_jid = str(iq["focus_conference"]["room"])
        room = self.rooms.get(room_jid)
        if room is None:
            room = self.rooms[room_jid] = Room()
            presence = self.make_presence(pto=f"{room_jid}/{NICK}", pfrom=self.full_jid)
            presence.append(ET.Element(f"{{{MUC_NS}}}x"))
            presence.send()
        try:
            await asyncio.wait_for(room.joined.wait(), 10)
        except TimeoutError:
            log.error("could not join %s", room_jid)
            self.rooms.pop(room_jid, None)
            iq.reply(clear=True).error().send()
            return
        log.info("conference request for %s", room_jid)
        reply = iq.reply(clear=True)
        reply["focus_conference"]["room"] = room_jid
        reply["focus_conference"]["ready"] = "true"
        reply["focus_conference"]["focusjid"] = f"focus.{self.domain}"
        reply.send()

    def _on_presence(self, presence: Presence) -> None:
        room_jid, nick = presence["from"].bare, presence["from"].resource
        room = self.rooms.get(room_jid)
        if room is None or not nick:
            return
        item = presence.xml.find(f"{{{MUC_USER_NS}}}x/{{{MUC_USER_NS}}}item")
        if nick == NICK:
            if presence["type"] == "unavailable":
                self.rooms.pop(room_jid, None)
            else:
                room.joined.set()
            return
        if presence["type"] == "unavailable":
            room.occupants.pop(nick, None)
            if room.granting not in {jid for jid, _ in room.occupants.values()}:
                room.granting = None
            if not room.occupants:  # everyone left: end the conference, as jicofo does
                log.info("leaving %s", room_jid)
                self.make_presence(pto=f"{room_jid}/{NICK}", pfrom=self.full_jid, ptype="unavailable").send()
            return
        real = (item.get("jid") or "").split("/")[0] if item is not None else ""
        affiliation = item.get("affiliation", "none") if item is not None else "none"
        room.occupants[nick] = (real, affiliation)
        if any(a == "owner" for _, a in room.occupants.values()):
            room.granting = None
        elif real and room.granting not in {jid for jid, _ in room.occupants.values()}:
            room.granting = real
            self._grant_owner(room_jid, real)

    def _grant_owner(self, room_jid: str, real_jid: str) -> None:
        """jicofo's auto-owner: the first person in a room without an owner becomes its owner."""
        iq = self.make_iq_set(ito=room_jid, ifrom=self.full_jid)
        query = ET.SubElement(iq.xml, f"{{{MUC_ADMIN_NS}}}query")
        ET.SubElement(query, f"{{{MUC_ADMIN_NS}}}item", {"affiliation": "owner", "jid": real_jid})
        iq.send()
