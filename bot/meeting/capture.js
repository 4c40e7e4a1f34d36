// Injected by the notetaker bot with Playwright's add_init_script, before any page script runs, and again
// after every reload. It taps every remote audio track of the Jitsi conference and streams 16 kHz int16
// mono frames plus roster/conference events to the bot's loopback bridge. Wire format: bot/bridge/protocol.py.
// bot/meeting/capture.py fills in the configuration: {"url": ..., "chunkMs": ...}; nothing is left on window.
(() => {
  "use strict";
  const CFG = __NOTETAKER_CONFIG__;
  if (window.top !== window) return; // Jitsi's own iframes (e.g. etherpad) are not the conference
  const RATE = 16000;
  const CHUNK = Math.round((RATE * CFG.chunkMs) / 1000);
  const EVT = {
    JOINED: "conference.joined", LEFT: "conference.left", FAILED: "conference.failed",
    USER_JOINED: "conference.userJoined", USER_LEFT: "conference.userLeft",
    NAME: "conference.displayNameChanged", DOMINANT: "conference.dominantSpeaker",
    TRACK_ADDED: "conference.trackAdded", TRACK_REMOVED: "conference.trackRemoved",
    KICKED: "conference.kicked", PROPERTY: "conference.participant_property_changed",
    ROLE: "conference.roleChanged", MESSAGE: "conference.messageReceived",
    PRIVATE_MESSAGE: "conference.privateMessageReceived",
  };
  const STATS_MS = 2000;
  const clip = (v, n = 500) => String(v == null ? "" : v).slice(0, n); // keeps messages small (the bridge clips too)
  const NativeWebSocket = window.WebSocket;
  const NativeAudio = window.Audio;

  // ---- bridge socket: reconnects, re-announces live tracks, never throws into the page ----
  let ws = null;
  let retryMs = 250;
  const pendingText = [];
  // Bindings (track index -> {msg, taps, frames, from, ended}) the bridge must hear about after a reconnect: every
  // live one, and an ended one while audio of it waits. Audio made while the socket is down waits here: 10 s per
  // binding, 60 s over all of them at most (the oldest goes first; the bridge counts what went as missing, by
  // sequence number). A binding keeps its own announcement: its taps may belong to another binding by then.
  const bindings = new Map();
  const BACKLOG_FRAMES = Math.ceil(10000 / CFG.chunkMs);
  const TOTAL_FRAMES = 6 * BACKLOG_FRAMES;
  let heldFrames = 0;
  const isOpen = () => !!ws && ws.readyState === 1;
  // Sent afresh on every (re)connect anyway: never queued while the socket is down.
  const STATE_TYPES = new Set(["roster", "track_stats"]);
  function send(obj) {
    if (isOpen()) ws.send(JSON.stringify(obj));
    else if (!STATE_TYPES.has(obj.type) && pendingText.length < 200) pendingText.push(JSON.stringify(obj));
  }
  function trackMessage(taps) {
    return { type: "track", track: taps.index, track_id: clip(taps.id, 250), participant_id: clip(taps.owner, 250),
             display_name: clip(taps.name), source_name: clip(taps.sourceName, 250), p2p: taps.p2p };
  }
  function hold(b, seq, data) {
    if (b.from === undefined) b.from = seq;
    b.frames.push(data);
    heldFrames++;
    if (b.frames.length > BACKLOG_FRAMES) { b.frames.shift(); heldFrames--; }
    for (const other of bindings.values()) { // over the total: the oldest binding's oldest audio goes
      if (heldFrames <= TOTAL_FRAMES) break;
      while (other.frames.length && heldFrames > TOTAL_FRAMES) { other.frames.shift(); heldFrames--; }
    }
  }
  function resendBindings(sock) {
    // A new connection starts a new index space on the bridge: announce the bindings again, from the first frame
    // not sent (frames dropped from a full backlog count as missing), then the audio held; a binding that ended
    // meanwhile is ended again.
    for (const [index, b] of [...bindings]) {
      const live = b.taps.index === index && b.taps.active;
      const next = b.from !== undefined ? b.from : live ? b.taps.seq : 0;
      sock.send(JSON.stringify({ ...b.msg, seq: next }));
      for (const data of b.frames) sock.send(data);
      heldFrames -= b.frames.length;
      b.frames = [];
      b.from = undefined;
      if (b.ended) {
        sock.send(JSON.stringify({ type: "track_ended", track: index }));
        bindings.delete(index);
      }
    }
  }
  function connect() {
    let sock;
    try {
      sock = new NativeWebSocket(CFG.url);
    } catch (e) {
      setTimeout(connect, retryMs);
      return;
    }
    sock.binaryType = "arraybuffer";
    sock.onopen = () => {
      ws = sock;
      retryMs = 250;
      sock.send(JSON.stringify({ type: "hello", version: 1, sample_rate: RATE,
                                 worklet: !!(window.AudioWorkletNode && !workletFailed) }));
      resendBindings(sock);
      while (pendingText.length) sock.send(pendingText.shift());
      sendRoster();
    };
    sock.onclose = () => {
      if (ws === sock) ws = null;
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 4000);
    };
    sock.onerror = () => {};
  }
  function report(err) {
    try { send({ type: "page_error", message: String((err && err.stack) || err).slice(0, 1900) }); } catch (_) {}
  }

  // ---- RTCPeerConnection hook: keep every remote audio stream flowing (Chromium delivers zeros to Web Audio
  // unless the stream also feeds a media element) and remember streams by track id ----
  const streamByTrackId = new Map();
  const peerConnections = new Set(); // for getStats(): is RTP arriving on each track?
  const NativePC = window.RTCPeerConnection;
  if (NativePC) {
    const Hooked = function (...args) {
      const pc = new NativePC(...args);
      peerConnections.add(pc);
      pc.addEventListener("track", (ev) => {
        if (ev.track.kind !== "audio") return;
        const stream = (ev.streams && ev.streams[0]) || new MediaStream([ev.track]);
        streamByTrackId.set(ev.track.id, stream);
      });
      return pc;
    };
    Hooked.prototype = NativePC.prototype;
    Object.setPrototypeOf(Hooked, NativePC);
    window.RTCPeerConnection = Hooked;
  }

  // ---- audio graph: one 16 kHz context, one worklet node per remote audio track ----
  const WORKLET = `
    class NotetakerTap extends AudioWorkletProcessor {
      constructor(options) {
        super();
        this.size = options.processorOptions.chunk;
        this.buf = new Int16Array(this.size);
        this.n = 0;
        this.start = 0;
        this.stopped = false;
        this.port.onmessage = (e) => { if (e.data === "stop") this.stopped = true; };
      }
      process(inputs) {
        if (this.stopped) return false;
        const input = inputs[0];
        if (!input || input.length === 0) return true;
        const frames = input[0].length;
        for (let i = 0; i < frames; i++) {
          let v = 0;
          for (let c = 0; c < input.length; c++) v += input[c][i];
          v /= input.length;
          if (this.n === 0) this.start = currentTime + i / sampleRate;
          this.buf[this.n++] = v >= 1 ? 32767 : v <= -1 ? -32768 : Math.round(v * 32767);
          if (this.n === this.size) {
            const out = this.buf;
            this.port.postMessage({ t: this.start, pcm: out.buffer }, [out.buffer]);
            this.buf = new Int16Array(this.size);
            this.n = 0;
          }
        }
        return true;
      }
    }
    registerProcessor("notetaker-tap", NotetakerTap);`;
  let ctx = null;
  let ready = null;
  let workletFailed = false;
  let clockOffsetMs = 0; // epoch ms = clockOffsetMs + context seconds * 1000
  function syncClock() {
    // Keep one mapping per context unless the clocks truly drift apart: re-mapping on every check would
    // move timestamps by a render quantum and look like lost audio to the bridge.
    const offset = performance.timeOrigin + performance.now() - ctx.currentTime * 1000;
    if (!clockOffsetMs || Math.abs(offset - clockOffsetMs) > 50) clockOffsetMs = offset;
  }
  function audioContext() {
    if (ready) return ready;
    ctx = new AudioContext({ sampleRate: RATE });
    ready = (async () => {
      if (ctx.state !== "running") { try { await ctx.resume(); } catch (_) {} }
      try {
        const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
        await ctx.audioWorklet.addModule(url);
      } catch (e) {
        workletFailed = true; // ScriptProcessor fallback below
        report("audio worklet unavailable, using ScriptProcessor: " + e);
      }
      syncClock();
      setInterval(syncClock, 10000);
      send({ type: "hello", version: 1, sample_rate: ctx.sampleRate, worklet: !workletFailed });
      return ctx;
    })();
    return ready;
  }

  const tapsByTrack = new Map(); // MediaStreamTrack id -> taps
  let nextIndex = 0;
  function onChunk(taps, ctxSeconds, pcm) {
    const seq = taps.seq++;
    if (!taps.active) return;
    const frame = new Uint8Array(16 + pcm.byteLength);
    const head = new DataView(frame.buffer);
    head.setUint8(0, 1);
    head.setUint8(1, 0);
    head.setUint16(2, taps.index, true);
    head.setUint32(4, seq >>> 0, true);
    head.setFloat64(8, clockOffsetMs + ctxSeconds * 1000, true);
    frame.set(new Uint8Array(pcm), 16);
    if (isOpen()) { ws.send(frame.buffer); return; }
    const b = bindings.get(taps.index);
    if (b) hold(b, seq, frame.buffer);
  }
  async function buildTaps(taps) {
    const c = await audioContext();
    // The muted element is what makes Chromium deliver the remote samples to Web Audio (measured).
    taps.element = new NativeAudio();
    taps.element.muted = true;
    taps.element.srcObject = taps.stream;
    taps.element.play().catch(() => {});
    taps.source = c.createMediaStreamSource(taps.stream);
    if (!workletFailed) {
      taps.node = new AudioWorkletNode(c, "notetaker-tap", {
        numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1, channelCountMode: "explicit",
        processorOptions: { chunk: CHUNK },
      });
      taps.node.port.onmessage = (e) => onChunk(taps, e.data.t, e.data.pcm);
    } else {
      // Fallback only: runs on the main thread, so page stalls become gaps.
      taps.node = c.createScriptProcessor(1024, 1, 1);
      let acc = new Int16Array(CHUNK), n = 0, start = 0;
      taps.node.onaudioprocess = (e) => {
        const data = e.inputBuffer.getChannelData(0);
        for (let i = 0; i < data.length; i++) {
          if (n === 0) start = e.playbackTime + i / RATE;
          const v = data[i];
          acc[n++] = v >= 1 ? 32767 : v <= -1 ? -32768 : Math.round(v * 32767);
          if (n === CHUNK) { onChunk(taps, start, acc.buffer); acc = new Int16Array(CHUNK); n = 0; }
        }
      };
    }
    taps.mute = c.createGain();
    taps.mute.gain.value = 0;
    taps.source.connect(taps.node).connect(taps.mute).connect(c.destination);
  }
  function teardown(taps) {
    tapsByTrack.delete(taps.id);
    try {
      if (taps.node && taps.node.port) taps.node.port.postMessage("stop");
      if (taps.source) taps.source.disconnect();
      if (taps.node) taps.node.disconnect();
      if (taps.element) taps.element.srcObject = null;
    } catch (e) { report(e); }
  }
  function announce(taps) {
    taps.index = nextIndex++ & 0xffff;
    taps.seq = 0;
    const msg = trackMessage(taps);
    bindings.set(taps.index, { msg, taps, frames: [], from: undefined, ended: false });
    if (isOpen()) ws.send(JSON.stringify({ ...msg, seq: 0 })); // else: resendBindings() on reconnect
  }
  function isRemoteAudio(track) {
    try {
      if (!track || (track.isLocal && track.isLocal())) return false;
      const type = track.getType ? track.getType() : track.type;
      // lib-jitsi-meet's own test for a translated (virtual) audio source, e.g. "<endpoint>-a0.en": not a voice.
      const sourceName = (track.getSourceName && track.getSourceName()) || "";
      return type === "audio" && !sourceName.includes(".");
    } catch (_) { return false; }
  }
  function notRecorded(person) {
    // Recorders and transcribers (hidden domain) and people who asked to be hidden from recorders.
    return !!(person.isHidden() || (person.isHiddenFromRecorder && person.isHiddenFromRecorder()));
  }
  const waitingForOwner = new Map(); // MediaStreamTrack id -> JitsiRemoteTrack whose owner is not known yet
  function onTrackAdded(room, track) {
    if (!isRemoteAudio(track)) return;
    const mst = track.getTrack();
    if (!mst || mst.readyState === "ended") return;
    let taps = tapsByTrack.get(mst.id);
    const owner = track.getParticipantId();
    const person = owner && room.getParticipantById ? room.getParticipantById(owner) : null;
    waitingForOwner.delete(mst.id);
    if (!person) {
      // The track can come before its owner's userJoined (or belong to nobody for now): bind it once the
      // owner is known, so that a hidden participant's audio is never recorded.
      if (taps && taps.active) end(taps);
      if (owner) waitingForOwner.set(mst.id, track);
      return;
    }
    if (notRecorded(person)) {
      if (taps && taps.active) end(taps);
      return;
    }
    const fields = { owner, name: person.getDisplayName() || "", jtrack: track,
                     sourceName: (track.getSourceName && track.getSourceName()) || "", p2p: !!track.isP2P };
    if (taps && taps.active && taps.owner === owner) return; // already bound to this owner
    if (taps && taps.active) end(taps); // same MediaStreamTrack, new owner without a removal: new binding
    if (!taps) {
      const stream = streamByTrackId.get(mst.id)
        || (track.getOriginalStream && track.getOriginalStream()) || new MediaStream([mst]);
      taps = { id: mst.id, stream, active: false, index: -1, seq: 0 };
      tapsByTrack.set(mst.id, taps);
      buildTaps(taps).catch(report);
      mst.addEventListener("ended", () => { end(taps); teardown(taps); });
    }
    clearTimeout(taps.idleTimer);
    Object.assign(taps, fields, { room });
    taps.active = true;
    announce(taps);
    markBinding(taps);
  }
  function end(taps) {
    if (!taps.active) return;
    taps.active = false;
    const b = bindings.get(taps.index);
    if (isOpen() || !b || !b.frames.length) {
      bindings.delete(taps.index);
      if (isOpen()) ws.send(JSON.stringify({ type: "track_ended", track: taps.index }));
      return; // else the bridge ended every track of the old connection already
    }
    b.ended = true; // its waiting audio goes first, then the end
  }
  function onTrackRemoved(track) {
    if (!isRemoteAudio(track)) return;
    const mst = track.getTrack();
    if (mst) waitingForOwner.delete(mst.id);
    const taps = mst && tapsByTrack.get(mst.id);
    if (!taps) return;
    end(taps);
    // SSRC rewriting re-adds the same track with a new owner right away; otherwise let it go.
    taps.idleTimer = setTimeout(() => { if (!taps.active) teardown(taps); }, 15000);
  }

  // ---- RTP counters: a slot can stay bound and live yet receive nothing (SSRC rewriting races) ----
  async function packetsByTrack() {
    const packets = new Map(); // MediaStreamTrack id -> packets received
    for (const pc of [...peerConnections]) {
      if (pc.signalingState === "closed") { peerConnections.delete(pc); continue; }
      let stats;
      try { stats = await pc.getStats(); } catch (_) { continue; }
      stats.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "audio" && s.trackIdentifier) {
          packets.set(s.trackIdentifier, (packets.get(s.trackIdentifier) || 0) + (s.packetsReceived || 0));
        }
      });
    }
    return packets;
  }
  function markBinding(taps) {
    // The receiver's count when this binding began (a rewritten slot has the old owner's packets): what the
    // owner sent is what comes after. Chromium makes the inbound-rtp entry at the first packet: none is 0.
    const index = taps.index;
    taps.bindPackets = undefined;
    packetsByTrack().then((packets) => {
      if (taps.index === index) taps.bindPackets = packets.get(taps.id) || 0;
    }).catch(report);
  }
  async function pollStats() {
    if (!isOpen()) return;
    const packets = await packetsByTrack();
    const tracks = [];
    for (const taps of tapsByTrack.values()) {
      if (!taps.active || taps.bindPackets === undefined) continue;
      let muted = false;
      try { muted = !!(taps.jtrack && taps.jtrack.isMuted && taps.jtrack.isMuted()); } catch (_) {}
      const received = Math.max(0, (packets.get(taps.id) || 0) - taps.bindPackets);
      tracks.push({ track: taps.index, packets: received, muted });
    }
    send({ type: "track_stats", tracks });
  }

  // ---- roster and conference state ----
  let room = null;
  function sendRoster() {
    // A conference not (yet) joined has nobody in it: its roster would say everyone left.
    if (!room || !room.getParticipants || !(room.isJoined && room.isJoined())) return;
    try {
      const participants = room.getParticipants().map((p) => ({
        id: clip(p.getId(), 250),
        name: clip(p.getDisplayName()),
        hidden: notRecorded(p),
        bot: false,
        // Dial-in users come through jigasi (features_jigasi, set a moment after they join): people.
        phone: !p.isHidden() && !!(p.getProperty && String(p.getProperty("features_jigasi")) === "true"),
        moderator: !!(p.getRole && p.getRole() === "moderator"),
      }));
      send({ type: "roster", participants, elsewhere: inBreakoutRooms(room) });
    } catch (e) { report(e); }
  }
  function inBreakoutRooms(r) {
    // People the main room's breakout rooms hold (the bot may stay in the emptied main room).
    try {
      const rooms = r.getBreakoutRooms && r.getBreakoutRooms();
      if (!rooms || rooms.isBreakoutRoom() || !rooms.getRooms) return 0;
      return Object.values(rooms.getRooms() || {})
        .filter((b) => !b.isMainRoom)
        .reduce((n, b) => n + Object.keys(b.participants || {}).length, 0);
    } catch (_) { return 0; }
  }
  function describe(r) {
    const out = { room: "", title: "", breakout: false, visitor: false };
    try { out.room = clip(r.getName()); } catch (_) {}
    try { out.breakout = !!(r.getBreakoutRooms && r.getBreakoutRooms() && r.getBreakoutRooms().isBreakoutRoom()); }
    catch (_) {}
    // Prosody sets a breakout room's subject to its name; lib-jitsi-meet has no isVisitor(): the app's store.
    try { if (out.breakout && r.room && typeof r.room.subject === "string") out.title = clip(r.room.subject); }
    catch (_) {}
    try { out.visitor = !!APP.store.getState()["features/visitors"].iAmVisitor; } catch (_) {}
    return out;
  }
  function onOwnerKnown(r) {
    // Tracks that arrived before their owner's userJoined, or before features/hidden flags were known.
    for (const track of [...waitingForOwner.values()]) onTrackAdded(r, track);
  }
  function attach(r) {
    room = r;
    const on = (name, fn) => r.on(name, (...args) => {
      if (room !== r) return; // a conference the app has left (breakout move, visitor retry)
      try { fn(...args); } catch (e) { report(e); }
    });
    const joined = () => { send({ type: "conference", state: "joined", ...describe(r) }); sendRoster(); addExisting(r); };
    on(EVT.JOINED, joined);
    on(EVT.LEFT, () => send({ type: "conference", state: "left", ...describe(r) }));
    on(EVT.FAILED, (error, _lobbyJid, waitingForHost) => send({
      type: "conference", state: "failed", error: String(error), waiting_for_host: waitingForHost === true,
      ...describe(r) }));
    on(EVT.KICKED, (actor, reason) => send({ type: "conference", state: "kicked", error: String(reason || "") }));
    on(EVT.USER_JOINED, () => { sendRoster(); onOwnerKnown(r); });
    on(EVT.USER_LEFT, sendRoster);
    on(EVT.NAME, sendRoster);
    on(EVT.PROPERTY, sendRoster);
    on(EVT.ROLE, sendRoster);
    on(EVT.DOMINANT, (id) => send({ type: "dominant_speaker", participant_id: String(id) }));
    on(EVT.TRACK_ADDED, (track) => onTrackAdded(r, track));
    on(EVT.TRACK_REMOVED, onTrackRemoved);
    const chat = (priv) => (id, text, ts) => {
      // ts is set on the room's history, replayed on every join: old commands are not commands now.
      if (ts || typeof text !== "string" || String(id) === String(r.myUserId && r.myUserId())) return;
      const p = r.getParticipantById && r.getParticipantById(id);
      send({ type: "chat", participant_id: clip(id, 250), name: clip(p && p.getDisplayName()),
             text: text.slice(0, 4000), moderator: !!(p && p.getRole && p.getRole() === "moderator"),
             private: priv });
    };
    on(EVT.MESSAGE, chat(false));
    on(EVT.PRIVATE_MESSAGE, chat(true));
    // A new conference object: the bindings of the old one are over (its tracks may never report removal).
    for (const taps of tapsByTrack.values()) if (taps.active && taps.room && taps.room !== r) end(taps);
    waitingForOwner.clear();
    if (r.isJoined && r.isJoined()) joined();
    sendRoster();
  }
  function remoteTracks(r) {
    // participant.getTracks() can go stale after an owner change; the peer connection knows what is live.
    try {
      const pc = r.getActivePeerConnection && r.getActivePeerConnection();
      if (pc && pc.getRemoteTracks) return pc.getRemoteTracks();
    } catch (e) { report(e); }
    return r.getParticipants().flatMap((p) => p.getTracks());
  }
  function addExisting(r) {
    for (const t of remoteTracks(r)) onTrackAdded(r, t);
  }
  // APP.conference._room appears once the app has loaded, and is replaced when the app rejoins.
  setInterval(() => {
    try {
      const r = window.APP && window.APP.conference && window.APP.conference._room;
      if (r && r !== room && r.on) attach(r);
    } catch (e) { report(e); }
  }, 200);
  setInterval(sendRoster, 5000);
  setInterval(() => { pollStats().catch(report); }, STATS_MS);
  connect();
})();
