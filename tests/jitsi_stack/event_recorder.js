// Test-only init script: records the conference events a bot's page sees (tests/jitsi_stack/events.py).
(() => {
  const EVENTS = __EVENTS__;
  const log = [];
  Object.defineProperty(window, "__conferenceEvents", { value: log });
  const describe = (v, depth) => {
    if (v === null || v === undefined || typeof v !== "object") return v === undefined ? null : v;
    if (depth > 1) return "<object>";
    if (Array.isArray(v)) return v.map((x) => describe(x, depth + 1));
    try {
      if (typeof v.getTrack === "function" && typeof v.getType === "function") {
        return { track: { type: v.getType(), owner: v.getParticipantId ? v.getParticipantId() : null,
                          local: v.isLocal ? v.isLocal() : null, p2p: !!v.isP2P,
                          source: v.getSourceName ? v.getSourceName() || null : null,
                          kind: v.getTrack() ? v.getTrack().kind : null } };
      }
      if (typeof v.getId === "function" && typeof v.getDisplayName === "function") {
        return { participant: { id: v.getId(), name: v.getDisplayName() || "",
                                hidden: !!(v.isHidden && v.isHidden()),
                                jigasi: !!(v.getProperty && String(v.getProperty("features_jigasi")) === "true") } };
      }
    } catch (e) { return "<error " + e + ">"; }
    return "<object>";
  };
  let room = null;
  setInterval(() => {
    const r = window.APP && APP.conference && APP.conference._room;
    if (!r || r === room || !r.on) return;
    room = r;
    for (const name of EVENTS) {
      r.on(name, (...args) => log.push({ event: name, args: args.map((a) => describe(a, 0)),
                                         me: APP.conference.getMyUserId ? APP.conference.getMyUserId() : null }));
    }
  }, 20);
})();
