/*
 * Fake Jitsi Meet page for tests. It exposes the surface a bot relies on (window.config, window.JitsiMeetJS,
 * window.APP.conference and its JitsiConference `_room`) with the real event strings, and sends real WebRTC
 * audio: every participant's source goes through an in-page RTCPeerConnection pair (pcA -> pcB) and the
 * track received on pcB is what the fake JitsiRemoteTrack wraps. Driven by tests/doubles/fake_room.py over
 * the /control WebSocket. Not Jitsi code: written from the documented names only.
 */
(function () {
  "use strict";

  // Test seam: remember every AudioContext other scripts create, so a test can stall them (stall_audio),
  // as a crashed audio thread or a stuck page would.
  const foreignContexts = [];
  const NativeAudioContext = window.AudioContext;
  window.AudioContext = class extends NativeAudioContext {
    constructor(...args) {
      super(...args);
      foreignContexts.push(this);
    }
  };

  const CONF = {
    CONFERENCE_JOINED: "conference.joined", CONFERENCE_LEFT: "conference.left",
    CONFERENCE_FAILED: "conference.failed", CONFERENCE_ERROR: "conference.error",
    USER_JOINED: "conference.userJoined", USER_LEFT: "conference.userLeft",
    DISPLAY_NAME_CHANGED: "conference.displayNameChanged", DOMINANT_SPEAKER_CHANGED: "conference.dominantSpeaker",
    TRACK_ADDED: "conference.trackAdded", TRACK_REMOVED: "conference.trackRemoved",
    TRACK_MUTE_CHANGED: "conference.trackMuteChanged", KICKED: "conference.kicked",
    USER_ROLE_CHANGED: "conference.roleChanged",
  };
  const ERR = {
    PASSWORD_REQUIRED: "conference.passwordRequired", MEMBERS_ONLY_ERROR: "conference.connectionError.membersOnly",
    CONFERENCE_ACCESS_DENIED: "conference.connectionError.accessDenied",
    AUTHENTICATION_REQUIRED: "conference.authenticationRequired",
    CONFERENCE_DESTROYED: "conference.destroyed", CONFERENCE_MAX_USERS: "conference.max_users",
  };

  // ---------------------------------------------------------------- options: ?query (test) and #hash (bot)
  const query = new URLSearchParams(location.search);
  const flag = (k, dflt) => (query.has(k) ? ["1", "true"].includes(query.get(k)) : dflt);
  const opts = {
    prejoin: flag("prejoin", false), lobby: query.get("lobby") || "off", password: query.get("password"),
    // waiting_for_host: "1" = jicofo's authentication flow, "lobby" = mod_muc_wait_for_host's lobby
    waitingForHost: query.get("waiting_for_host") === "lobby" ? "lobby" : flag("waiting_for_host", false),
    p2p: flag("p2p", false),
    audioElements: flag("audio_elements", true), worklet: flag("worklet", true),
  };
  if (!opts.worklet) {
    // A browser without AudioWorklet: the bot must fall back to ScriptProcessor.
    Object.defineProperty(BaseAudioContext.prototype, "audioWorklet", { get: () => undefined });
  }
  const roomName = decodeURIComponent(location.pathname.replace(/^\/+/, "")) || "testroom";

  /** Like Jitsi's parseURLParams: `#k=v&...`, each value URL-decoded then strict JSON; bad values dropped. */
  function parseHash(hash) {
    const out = {};
    for (const part of hash.replace(/^#/, "").split("&")) {
      const param = part.split("=");
      const key = param[0];
      if (!key || param.length < 2) continue;
      try {
        const decoded = decodeURIComponent(param[1]);
        out[key] = decoded === "" || decoded === "undefined" ? undefined : JSON.parse(decoded);
      } catch (e) {
        console.warn(`fake room: ignoring hash parameter ${key}: ${e}`);
      }
    }
    return out;
  }
  function setPath(obj, path, value) {
    const keys = path.split(".");
    let o = obj;
    for (const k of keys.slice(0, -1)) {
      if (typeof o[k] !== "object" || o[k] === null) o[k] = {};
      o = o[k];
    }
    o[keys[keys.length - 1]] = value;
  }

  const hash = parseHash(location.hash);
  const config = {
    hosts: { domain: "meet.fake", muc: "conference.meet.fake" }, p2p: { enabled: true },
    prejoinConfig: { enabled: true }, lobby: {}, flags: { ssrcRewritingEnabled: true },
  };
  for (const [k, v] of Object.entries(hash)) {
    if (k.startsWith("config.") && v !== undefined) setPath(config, k.slice(7), v);
  }
  let displayName = typeof hash["userInfo.displayName"] === "string" ? hash["userInfo.displayName"] : "";

  // ---------------------------------------------------------------- control socket
  const outbox = [];
  let ws = null;
  function send(obj) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
    else outbox.push(obj);
  }
  const event = (name, fields = {}) => send({ event: name, ...fields });

  // ---------------------------------------------------------------- small helpers
  class Emitter {
    constructor() { this._listeners = new Map(); }
    on(name, fn) {
      if (!this._listeners.has(name)) this._listeners.set(name, []);
      this._listeners.get(name).push(fn);
      return this;
    }
    off(name, fn) {
      const list = this._listeners.get(name) || [];
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
      return this;
    }
    emit(name, ...args) {
      for (const fn of [...(this._listeners.get(name) || [])]) {
        try { fn(...args); } catch (e) { console.error(`fake room: listener for ${name} threw`, e); }
      }
    }
  }
  const $ = (sel) => document.querySelector(sel);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const randomId = () => Math.random().toString(16).slice(2, 10);
  function showScreen(html) { $("#screen").innerHTML = html; }
  function notice(text) { showScreen(""); $("#notice").textContent = text; }

  // ---------------------------------------------------------------- model
  /** Remote participant (JitsiParticipant surface). */
  class FakeParticipant {
    constructor(spec) {
      this._spec = spec; this._id = spec.pid; this._displayName = spec.name;
      this._tracks = []; // audio (JitsiRemoteTrack over a sender slot)
      this._videoTracks = []; // video: the real client adds one per participant even with the camera off
      this._statsId = `stats-${spec.pid}`; this._live = false;
      this._source = null; this._gain = null; this._sourceReady = null;
    }
    getId() { return this._id; }
    getDisplayName() { return this._displayName; }
    getRole() { return "participant"; }
    isModerator() { return false; }
    isHidden() { return !!this._spec.hidden; }
    isHiddenFromRecorder() { return false; }
    getProperty(name) { return name === "features_jigasi" && this._spec.jigasi ? true : undefined; }
    getTracks() { return [...this._tracks, ...this._videoTracks]; }
    getTracksByMediaType(type) { return this.getTracks().filter((t) => t.getType() === type); }
    isAudioMuted() { return !this._tracks.some((t) => t.isAudioTrack() && !t.isMuted()); }
    isVideoMuted() { return true; }
    getStatsID() { return this._statsId; }
    getJid() { return `${roomName}@${config.hosts.muc}/${this._id}`; }
    getConnectionStatus() { return "active"; }
  }

  /** JitsiRemoteTrack surface over one sender slot (a pcA/pcB pair). */
  class FakeRemoteTrack {
    constructor(ownerId, slot, isP2P) { this._ownerId = ownerId; this._slot = slot; this.isP2P = isP2P; }
    getParticipantId() { return this._ownerId; }
    getTrack() { return this._slot.track; }
    getOriginalStream() { return this._slot.stream; }
    getSourceName() { return `${this._ownerId}-a0`; }
    getType() { return "audio"; }
    isAudioTrack() { return true; }
    isVideoTrack() { return false; }
    isLocal() { return false; }
    isMuted() { return false; }
    getStreamId() { return this._slot.stream.id; }
    getTrackId() { return this._slot.track.id; }
    getSSRC() { return this._slot.ssrc; }
    on() {} off() {} addEventListener() {} removeEventListener() {}
  }

  /** The camera-off video track the real client adds for every remote participant (P2P: "<id>-v0"). */
  class FakeVideoTrack {
    constructor(ownerId, isP2P) {
      this._ownerId = ownerId; this.isP2P = isP2P;
      const canvas = document.createElement("canvas");
      this._stream = canvas.captureStream(0);
    }
    getParticipantId() { return this._ownerId; }
    getTrack() { return this._stream.getVideoTracks()[0]; }
    getOriginalStream() { return this._stream; }
    getSourceName() { return `${this._ownerId}-v0`; }
    getType() { return "video"; }
    isAudioTrack() { return false; }
    isVideoTrack() { return true; }
    isLocal() { return false; }
    isMuted() { return true; }
    getStreamId() { return this._stream.id; }
    getTrackId() { return this.getTrack().id; }
    on() {} off() {} addEventListener() {} removeEventListener() {}
  }

  const participants = new Map(); // pid -> FakeParticipant, in join order (includes ones recorded before join)
  const myId = randomId();
  const st = {
    joined: false, finished: false, knocked: false, lobbyDecision: null, hostPresent: false,
    waiting: null, passwordTries: [], dominant: null, previousSpeakers: [],
    // A page joined with config.p2p.enabled=false (Jibri's override) never talks peer to peer.
    p2pActive: opts.p2p && !(config.p2p && config.p2p.enabled === false),
  };
  let stats = { bitrate: { download: 0, upload: 0, audio: { download: 0, upload: 0 } }, packetLoss: { total: 0 } };

  const room = new Emitter(); // MUC (`_room.room`)
  room.members = {};
  room.addListener = room.on; room.removeListener = room.off;

  const emitter = new Emitter();
  const conference = {
    room,
    isJoined: () => st.joined,
    myUserId: () => myId,
    getName: () => roomName,
    getParticipants: () => [...participants.values()].filter((p) => p._live),
    getParticipantCount: () => conference.getParticipants().length + 1,
    getParticipantById: (id) => { const p = participants.get(id); return p && p._live ? p : undefined; },
    on: (name, fn) => emitter.on(name, fn),
    off: (name, fn) => emitter.off(name, fn),
    addEventListener: (name, fn) => emitter.on(name, fn),
    removeEventListener: (name, fn) => emitter.off(name, fn),
    isP2PActive: () => st.p2pActive,
    leave: async () => { st.finished = true; leaveConference(); event("bot_left"); },
  };
  const fire = (name, ...args) => emitter.emit(name, ...args);

  window.config = config;
  window.JitsiMeetJS = {
    version: "fake", events: { conference: CONF }, errors: { conference: ERR },
    util: {},
  };
  window.APP = {
    conference: {
      _room: conference,
      isJoined: () => st.joined,
      getMyUserId: () => myId,
      get membersCount() { return conference.getParticipants().length + 1; }, // hidden ones too, plus me
      listMembers: () => conference.getParticipants(),
      getParticipantById: (id) => conference.getParticipantById(id),
      getStats: () => stats,
      getConnectionState: () => (st.joined ? "connected" : null),
      hangup: async () => { await conference.leave(); notice("You have left the meeting"); },
      leaveRoom: () => conference.leave(),
    },
    store: {}, API: {},
  };

  // ---------------------------------------------------------------- media
  let audioCtx = null;
  const wavCache = new Map();
  function ctx() {
    if (!audioCtx) audioCtx = new NativeAudioContext();
    if (audioCtx.state === "suspended") audioCtx.resume().catch(() => {});
    return audioCtx;
  }
  async function loadWav(name) {
    if (!wavCache.has(name)) {
      wavCache.set(name, (async () => {
        const resp = await fetch(`/media/${encodeURIComponent(name)}`);
        if (!resp.ok) throw new Error(`GET /media/${name}: HTTP ${resp.status}`);
        return ctx().decodeAudioData(await resp.arrayBuffer());
      })());
    }
    return wavCache.get(name);
  }
  function ensureSource(p) {
    if (!p._sourceReady) p._sourceReady = makeSource(p);
    return p._sourceReady;
  }
  async function makeSource(p) {
    const c = ctx();
    const gain = c.createGain();
    gain.gain.value = p._spec.gain ?? 0.3;
    let src = null;
    if (p._spec.wav) {
      src = c.createBufferSource();
      src.buffer = await loadWav(p._spec.wav);
      src.loop = p._spec.loop !== false; // not looping: plays once, then the slot carries silence
    } else if (p._spec.tone_hz) {
      src = c.createOscillator();
      src.frequency.value = p._spec.tone_hz;
    }
    if (src) { src.connect(gain); src.start(); }
    // A silent but always-running input keeps frames (and RTP packets) flowing after a WAV ends.
    const carrier = c.createConstantSource();
    carrier.offset.value = 0;
    carrier.connect(gain);
    carrier.start();
    p._source = src; p._carrier = carrier; p._gain = gain;
  }
  function stopSource(p) {
    for (const node of [p._source, p._carrier]) {
      try { if (node) node.stop(); } catch (e) { /* already stopped */ }
    }
    if (p._gain) p._gain.disconnect();
    p._source = null; p._carrier = null; p._gain = null; p._sourceReady = null;
  }

  /** A sender slot: MediaStreamAudioDestinationNode -> pcA ==> pcB, whose received track is the remote one. */
  async function createSlot() {
    const dest = ctx().createMediaStreamDestination();
    const pcA = new RTCPeerConnection({ iceServers: [] });
    const pcB = new RTCPeerConnection({ iceServers: [] });
    pcA.onicecandidate = (e) => { if (e.candidate) pcB.addIceCandidate(e.candidate).catch(() => {}); };
    pcB.onicecandidate = (e) => { if (e.candidate) pcA.addIceCandidate(e.candidate).catch(() => {}); };
    const received = new Promise((resolve) => {
      pcB.ontrack = (e) => resolve({ track: e.track, stream: e.streams[0] || new MediaStream([e.track]) });
    });
    pcA.addTrack(dest.stream.getAudioTracks()[0], dest.stream);
    const offer = await pcA.createOffer();
    await pcA.setLocalDescription(offer);
    await pcB.setRemoteDescription(offer);
    const answer = await pcB.createAnswer();
    await pcB.setLocalDescription(answer);
    await pcA.setRemoteDescription(answer);
    const got = await Promise.race([received, sleep(10000).then(() => null)]);
    if (!got) throw new Error("in-page peer connection produced no remote track");
    const ssrcMatch = /a=ssrc:(\d+)/.exec(offer.sdp);
    const ssrc = ssrcMatch ? +ssrcMatch[1] : 0;
    const slot = { dest, pcA, pcB, track: got.track, stream: got.stream, ssrc, lastBytes: 0 };
    setTimeout(() => {
      const ice = pcB.iceConnectionState;
      if (!["connected", "completed", "closed"].includes(ice) && pcB.signalingState !== "closed") {
        console.warn(`fake room: in-page ICE is ${ice}; is --allow-loopback-in-peer-connection set?`);
      }
    }, 5000);
    return slot;
  }
  function closeSlot(slot) {
    slot.pcA.close(); slot.pcB.close();
    slot.dest.stream.getTracks().forEach((t) => t.stop());
  }
  function renderAudio(track) {
    if (!opts.audioElements) return;
    const el = document.createElement("audio");
    el.id = `remoteAudio_${track.getStreamId()}`;
    el.autoplay = true;
    el.srcObject = track.getOriginalStream();
    $("#audio-container").appendChild(el);
    el.play().catch(() => {});
  }
  function unrenderAudio(track) {
    const el = document.getElementById(`remoteAudio_${track.getStreamId()}`);
    if (el) { el.srcObject = null; el.remove(); }
  }
  function trackAdded(track) { renderAudio(track); fire(CONF.TRACK_ADDED, track); }
  function trackRemoved(track) { unrenderAudio(track); fire(CONF.TRACK_REMOVED, track); }
  async function addTrack(p) {
    const slot = await createSlot();
    if (!p._live || !p._gain || !participants.has(p.getId())) { closeSlot(slot); return; } // gone meanwhile
    p._gain.connect(slot.dest);
    const track = new FakeRemoteTrack(p.getId(), slot, st.p2pActive);
    p._tracks.push(track);
    trackAdded(track);
    if (!p._videoTracks.length) {
      const video = new FakeVideoTrack(p.getId(), st.p2pActive);
      p._videoTracks.push(video);
      fire(CONF.TRACK_ADDED, video);
    }
  }
  function removeVideo(p, { silent = false } = {}) {
    for (const t of p._videoTracks) {
      if (!silent) fire(CONF.TRACK_REMOVED, t);
      t.getTrack().stop();
    }
    p._videoTracks = [];
  }

  async function pollStats() {
    let bytes = 0;
    for (const p of participants.values()) {
      for (const t of p._tracks) {
        const report = await t._slot.pcB.getStats();
        let total = 0;
        report.forEach((s) => { if (s.type === "inbound-rtp") total += s.bytesReceived || 0; });
        bytes += Math.max(0, total - t._slot.lastBytes);
        t._slot.lastBytes = total;
      }
    }
    const kbps = Math.round((bytes * 8) / 1000);
    stats = {
      bitrate: { download: kbps, upload: 0, audio: { download: kbps, upload: 0 } }, packetLoss: { total: 0 },
    };
  }
  setInterval(() => { if (st.joined) pollStats().catch(() => {}); }, 1000);

  // ---------------------------------------------------------------- roster
  function renderRoster() {
    $("#participants").innerHTML = "";
    for (const p of conference.getParticipants()) {
      const li = document.createElement("li");
      li.textContent = `${p.getDisplayName()} (${p.getId()})`;
      if (p.isHidden()) li.className = "hidden";
      $("#participants").appendChild(li);
    }
  }
  /** The bot sees participant p: USER_JOINED (announce), then (with audio) TRACK_ADDED once the slot is up. */
  function announce(p) {
    if (p._live || !participants.has(p.getId())) return;
    p._live = true;
    const jid = p.getJid();
    room.members[jid] = {
      role: "participant", displayName: p.getDisplayName(), statsID: p.getStatsID(), isHiddenDomain: p.isHidden(),
    };
    room.emit("xmpp.muc_member_joined", jid, p.getDisplayName(), "participant", p.isHidden(), p.getStatsID());
    fire(CONF.USER_JOINED, p.getId(), p);
    renderRoster();
  }
  async function goLive(p) {
    if (!participants.has(p.getId())) return;
    await ensureSource(p);
    if (!participants.has(p.getId()) || !st.joined) return;
    announce(p);
    if (p._spec.audio !== false && participants.has(p.getId()) && !p._tracks.length) await addTrack(p);
  }
  function dropMedia(p) {
    stopSource(p);
    for (const t of p._tracks) { unrenderAudio(t); closeSlot(t._slot); }
    p._tracks = [];
    removeVideo(p, { silent: true });
  }

  // ---------------------------------------------------------------- joining flow
  async function join() {
    if (st.finished || st.joined) return;
    showScreen("");
    st.joined = true;
    // The real client reports the people already in the room (USER_JOINED) before CONFERENCE_JOINED,
    // and their tracks after it, once the media session is up.
    for (const p of [...participants.values()]) announce(p);
    fire(CONF.CONFERENCE_JOINED);
    event("bot_joined", { display_name: displayName });
    for (const p of [...participants.values()]) {
      try { await goLive(p); } catch (e) { console.error(`fake room: participant ${p.getId()}: ${e}`); }
    }
  }
  function leaveConference() {
    if (!st.joined) return;
    st.joined = false; st.finished = true;
    for (const p of participants.values()) { dropMedia(p); p._live = false; }
    renderRoster();
    fire(CONF.CONFERENCE_LEFT);
  }
  function afterPrejoin() {
    if (st.finished) return;
    if (opts.waitingForHost && !st.hostPresent) return waitForHost();
    afterHost();
  }
  function afterHost() {
    if (st.finished) return;
    if (opts.password !== null && !passwordOverride()) return askPassword();
    afterPassword();
  }
  function afterPassword() {
    if (st.finished) return;
    if (opts.lobby !== "off") return enterLobby();
    join();
  }

  function showPrejoin() {
    showScreen(`<div id="prejoin"><h2>Join meeting</h2>
      <input id="premeeting-name-input" placeholder="Enter your name">
      <div data-testid="prejoin.joinMeeting" role="button" tabindex="0">Join meeting</div></div>`);
    $("#premeeting-name-input").value = displayName;
    $('[data-testid="prejoin.joinMeeting"]').addEventListener("click", () => {
      displayName = $("#premeeting-name-input").value;
      showScreen("");
      afterPrejoin();
    });
  }

  const lobbyJid = () => `${roomName}@lobby.${config.hosts.domain}`;
  const WAIT_FOR_OWNER = `<div role="dialog" aria-label="Waiting for a moderator…"><h2>Waiting for a moderator…</h2>
      <p>The conference has not yet started because no moderators have yet arrived.</p>
      <button aria-label="Wait for moderator">Wait for moderator</button>
      <button id="modal-dialog-ok-button" aria-label="Log-in">Log-in</button></div>`;
  function waitForHost() {
    st.waiting = true;
    if (opts.waitingForHost === "lobby") {
      // mod_muc_wait_for_host: guests wait in the lobby (membersOnly with waitingForHost=true); the app
      // knocks, shows the lobby's spinner and, over it, the WaitForOwnerDialog (recorded from the real client).
      fire(CONF.CONFERENCE_FAILED, ERR.MEMBERS_ONLY_ERROR, lobbyJid(), true);
      st.knocked = true;
      event("knocked", { display_name: displayName });
      showScreen(`<div class="premeeting-screen lobby-screen"><h2>Asking to join meeting…</h2>
        <div class="spinner"></div><p>You'll join the meeting as soon as someone accepts your request</p></div>
        ${WAIT_FOR_OWNER}`);
      return;
    }
    // Jicofo's authentication flow: the room is refused until a moderator logs in (authenticationRequired),
    // and the app shows the same WaitForOwnerDialog.
    fire(CONF.CONFERENCE_FAILED, ERR.AUTHENTICATION_REQUIRED);
    showScreen(WAIT_FOR_OWNER);
  }

  function passwordOverride() {
    if (!config.useHostPageLocalStorage) return false;
    let content = hash["appData.localStorageContent"];
    if (typeof content === "string") { try { content = JSON.parse(content); } catch (e) { content = null; } }
    return !!content && content.xmpp_conference_password_override === opts.password;
  }
  function askPassword() {
    fire(CONF.CONFERENCE_FAILED, ERR.PASSWORD_REQUIRED);
    if ($('input[name="lockKey"]')) return;
    showScreen(`<div role="dialog" id="password-dialog"><h2>Password required</h2>
      <input name="lockKey" type="password" autofocus>
      <button id="modal-dialog-ok-button" type="button">OK</button></div>`);
    const submit = () => {
      const input = $('input[name="lockKey"]');
      const tried = input.value;
      st.passwordTries.push(tried);
      event("password_tried", { password: tried });
      if (tried === opts.password) { showScreen(""); afterPassword(); } else { input.value = ""; askPassword(); }
    };
    $("#modal-dialog-ok-button").addEventListener("click", submit);
    $('input[name="lockKey"]').addEventListener("keydown", (e) => { if (e.key === "Enter") submit(); });
  }

  function enterLobby() {
    fire(CONF.CONFERENCE_FAILED, ERR.MEMBERS_ONLY_ERROR, lobbyJid(), false); // (lobby room, waitingForHost)
    showScreen(`<div id="lobby-screen"><h2>You are in the lobby</h2>
      <input id="lobby-name-field" placeholder="Enter your name">
      <div data-testid="lobby.knockButton" role="button" tabindex="0">Ask to join</div></div>`);
    $("#lobby-name-field").value = displayName;
    $('[data-testid="lobby.knockButton"]').addEventListener("click", knock);
    if (config.lobby && config.lobby.autoKnock === true) setTimeout(knock, 0);
  }
  function knock() {
    if (st.knocked || st.finished) return;
    const input = $("#lobby-name-field");
    if (input && input.value) displayName = input.value;
    st.knocked = true;
    event("knocked", { display_name: displayName });
    showScreen('<div id="lobby-screen"><h2>Asking to join…</h2></div>');
    const decision = { admit: "admit", deny: "deny", manual: st.lobbyDecision }[opts.lobby];
    if (decision) decide(decision);
  }
  function decide(decision) {
    if (decision === "admit") {
      setTimeout(join, 500);
    } else {
      st.finished = true;
      fire(CONF.CONFERENCE_FAILED, ERR.CONFERENCE_ACCESS_DENIED);
      notice("Your request to join was rejected");
    }
  }

  // ---------------------------------------------------------------- commands from the test
  const need = (pid) => {
    const p = participants.get(pid);
    if (!p) throw new Error(`unknown participant ${pid}`);
    return p;
  };
  const needJoined = (cmd) => { if (!st.joined) throw new Error(`${cmd}: the bot is not in the conference`); };
  async function addParticipant(spec) {
    if (participants.has(spec.pid)) throw new Error(`participant ${spec.pid} already exists`);
    const p = new FakeParticipant(spec);
    participants.set(spec.pid, p);
    if (!st.joined) return;
    try {
      await goLive(p);
    } catch (e) {
      participants.delete(spec.pid);
      stopSource(p);
      throw e;
    }
  }

  const commands = {
    async sync({ participants: specs }) {
      for (const spec of specs) if (!participants.has(spec.pid)) await addParticipant(spec);
    },
    add_participant: addParticipant,
    rename({ pid, name }) {
      const p = need(pid);
      p._displayName = name;
      if (p._live) {
        if (room.members[p.getJid()]) room.members[p.getJid()].displayName = name;
        room.emit("xmpp.display_name_changed", p.getJid(), name);
        fire(CONF.DISPLAY_NAME_CHANGED, pid, name);
        renderRoster();
      }
    },
    remove_participant({ pid }) {
      const p = need(pid);
      stopSource(p);
      for (const t of p._tracks) { trackRemoved(t); closeSlot(t._slot); }
      p._tracks = [];
      removeVideo(p);
      participants.delete(pid);
      if (p._live) {
        p._live = false;
        delete room.members[p.getJid()];
        room.emit("xmpp.muc_member_left", p.getJid());
        fire(CONF.USER_LEFT, pid, p, undefined);
        renderRoster();
      }
    },
    set_dominant_speaker({ pid }) {
      need(pid);
      if (st.dominant && st.dominant !== pid) {
        const rest = st.previousSpeakers.filter((x) => x !== st.dominant && x !== pid);
        st.previousSpeakers = [st.dominant, ...rest].slice(0, 4);
      }
      st.dominant = pid;
      if (!st.joined) return;
      // Over the bridge: (id, previous speakers, silence). In a P2P call the real client detects the
      // speaker itself from audio levels and names only them (recorded: tests/jitsi_stack/recordings).
      if (st.p2pActive) fire(CONF.DOMINANT_SPEAKER_CHANGED, pid, undefined, undefined);
      else fire(CONF.DOMINANT_SPEAKER_CHANGED, pid, [...st.previousSpeakers], false);
    },
    kick_bot({ reason }) {
      needJoined("kick_bot");
      const actor = conference.getParticipants().find((p) => !p.isHidden())
        || { getId: () => "moderator", getDisplayName: () => "Moderator" };
      fire(CONF.KICKED, actor, reason, false);
      event("kicked", { reason });
      // As the real client: the room is gone for the bot, everyone else "leaves"; no CONFERENCE_LEFT.
      st.joined = false; st.finished = true;
      for (const p of conference.getParticipants()) {
        dropMedia(p);
        p._live = false;
        fire(CONF.USER_LEFT, p.getId(), p, undefined);
      }
      renderRoster();
      notice("You have been kicked");
    },
    end_conference() {
      const wasJoined = st.joined;
      st.joined = false; st.finished = true;
      for (const p of participants.values()) { dropMedia(p); p._live = false; }
      renderRoster();
      fire(CONF.CONFERENCE_FAILED, ERR.CONFERENCE_DESTROYED, "The meeting has been terminated");
      notice(wasJoined ? "The meeting has been ended" : "The meeting was ended before you could join");
    },
    admit_bot() { st.lobbyDecision = "admit"; if (st.knocked && opts.lobby === "manual") decide("admit"); },
    deny_bot() { st.lobbyDecision = "deny"; if (st.knocked && opts.lobby === "manual") decide("deny"); },
    host_arrives() {
      st.hostPresent = true;
      if (st.waiting) { st.waiting = false; showScreen(""); afterHost(); }
    },
    async switch_p2p_to_bridge() {
      needJoined("switch_p2p_to_bridge");
      st.p2pActive = false;
      const owners = [...participants.values()].filter((p) => p._tracks.length);
      for (const p of owners) {
        for (const t of p._tracks) { trackRemoved(t); p._gain.disconnect(t._slot.dest); closeSlot(t._slot); }
        p._tracks = [];
        removeVideo(p);
      }
      for (const p of owners) if (participants.has(p.getId())) await addTrack(p);
    },
    async rewrite_ssrc({ from, to }) {
      needJoined("rewrite_ssrc");
      const src = need(from), dst = need(to);
      const track = src._tracks[0];
      if (!track) throw new Error(`participant ${from} has no audio track`);
      if (dst._tracks.length) throw new Error(`participant ${to} already has an audio track`);
      await ensureSource(dst);
      trackRemoved(track);
      src._gain.disconnect(track._slot.dest);
      src._tracks = src._tracks.filter((t) => t !== track);
      dst._gain.connect(track._slot.dest);
      track._ownerId = to;
      dst._tracks.push(track);
      trackAdded(track);
    },
    reload_page() { setTimeout(() => location.reload(), 50); },
    async stall_audio() {
      await Promise.all(foreignContexts.map((c) => c.suspend()));
      return foreignContexts.length;
    },
    state() {
      return {
        joined: st.joined, participants: [...participants.keys()], password_tries: [...st.passwordTries],
        knocked: st.knocked, display_name: displayName,
      };
    },
  };

  let commandChain = Promise.resolve();
  async function runCommand(msg) {
    try {
      const handler = commands[msg.cmd];
      if (!handler) throw new Error(`unknown command ${msg.cmd}`);
      const result = await handler(msg.args || {});
      send({ id: msg.id, ok: true, result: result === undefined ? null : result });
    } catch (e) {
      send({ id: msg.id, ok: false, error: String((e && e.message) || e) });
    }
  }
  function connectControl() {
    ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/control`);
    ws.onopen = () => {
      event("page_loaded", { room: roomName, url: location.href });
      while (outbox.length && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(outbox.shift()));
    };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      commandChain = commandChain.then(() => runCommand(msg));
    };
    ws.onclose = () => console.warn("fake room: control socket closed");
  }

  connectControl();
  if (opts.prejoin) showPrejoin(); else setTimeout(afterPrejoin, 300);
})();
