/*
 * Fake Jitsi Meet page for tests. It exposes the surface a bot relies on (window.config, window.JitsiMeetJS,
 * window.APP.conference and its JitsiConference `_room`) with the real event strings, and sends real WebRTC
 * audio: every participant's source goes through an in-page RTCPeerConnection pair (pcA -> pcB) and the
 * track received on pcB is what the fake JitsiRemoteTrack wraps. Driven by bot/demo/room.py over
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
    USER_ROLE_CHANGED: "conference.roleChanged", MESSAGE_RECEIVED: "conference.messageReceived",
    PRIVATE_MESSAGE_RECEIVED: "conference.privateMessageReceived",
    PARTICIPANT_PROPERTY_CHANGED: "conference.participant_property_changed",
  };
  const ERR = {
    PASSWORD_REQUIRED: "conference.passwordRequired", MEMBERS_ONLY_ERROR: "conference.connectionError.membersOnly",
    CONFERENCE_ACCESS_DENIED: "conference.connectionError.accessDenied",
    AUTHENTICATION_REQUIRED: "conference.authenticationRequired",
    CONFERENCE_DESTROYED: "conference.destroyed", CONFERENCE_MAX_USERS: "conference.max_users",
    ICE_FAILED: "conference.iceFailed", FOCUS_LEFT: "conference.focusLeft",
  };

  // jitsi-meet's configWhitelist as built into jitsi-meet 566b3ba2d (app.bundle.min.js, not embedded in an
  // iframe). The app applies `#config.*` overrides only along these paths (lodash pick: "p2p.enabled" keeps
  // config.p2p.enabled and drops config.p2p.useStunTurn; "lobby" keeps all of config.lobby). Not listed, so
  // ignored: prejoinPageEnabled, startLowBandwidthMode.
  const CONFIG_WHITELIST = [
    "_desktopSharingSourceDevice", "_peerConnStatusOutOfLastNTimeout", "_peerConnStatusRtcMuteTimeout",
    "analytics.disabled", "analytics.rtcstatsEnabled", "analytics.watchRTCEnabled", "audioLevelsInterval",
    "audioQuality", "autoKnockLobby", "apiLogLevels", "avgRtpStatsN", "backgroundAlpha", "brandingRoomAlias",
    "breakoutRooms", "bridgeChannel", "buttonsWithNotifyClick", "callDisplayName", "callFlowsEnabled", "callHandle",
    "callUUID", "cameraFacingMode", "conferenceInfo", "channelLastN", "connectionIndicators", "constraints",
    "deeplinking.disabled", "deeplinking.desktop.enabled", "defaultLocalDisplayName", "defaultRemoteDisplayName",
    "desktopSharingFrameRate", "desktopSharingSources", "disable1On1Mode", "disableAEC", "disableAGC", "disableAP",
    "disableAddingBackgroundImages", "disableAudioLevels", "disableBeforeUnloadHandlers",
    "disableCameraTintForeground", "disableChatSmileys", "disableDeepLinking", "disabledNotifications",
    "disabledSounds", "disableFilmstripAutohiding", "disableInitialGUM", "disableInviteFunctions",
    "disableIncomingMessageSound", "disableJoinLeaveSounds", "disableLocalVideoFlip", "disableModeratorIndicator",
    "disableNS", "disablePolls", "disableProfile", "disableReactions", "disableReactionsInChat",
    "disableReactionsModeration", "disableRecordAudioNotification", "disableRemoteControl", "disableRemoteMute",
    "disableResponsiveTiles", "disableRtx", "disableSelfDemote", "disableSelfView", "disableSelfViewSettings",
    "disableShortcuts", "disableShowMoreStats", "disableRemoveRaisedHandOnFocus", "disableSpeakerStatsSearch",
    "speakerStatsOrder", "disableSimulcast", "disableThirdPartyRequests", "disableTileView",
    "disableTileEnlargement", "disableVirtualBackground", "displayJids", "doNotStoreRoom", "doNotFlipLocalVideo",
    "dropbox.appKey", "e2eeLabels", "e2ee", "e2eping", "enableCalendarIntegration", "enableDisplayNameInStats",
    "enableEmailInStats", "enableEncodedTransformSupport", "enableInsecureRoomNameWarning", "enableLobbyChat",
    "enableOpusRed", "enableRemb", "enableSaveLogs", "enableTalkWhileMuted", "enableNoAudioDetection",
    "enableNoisyMicDetection", "enableTcc", "faceLandmarks", "feedbackPercentage", "fileSharing.enabled",
    "filmstrip", "flags", "forceTurnRelay", "gatherStats", "giphy", "googleApiApplicationClientID",
    "gravatar.disabled", "hiddenPremeetingButtons", "hideConferenceSubject", "hideDisplayName",
    "hideDominantSpeakerBadge", "hideRecordingLabel", "hideParticipantsStats", "hideConferenceTimer",
    "hideAddRoomButton", "hideEmailInSettings", "hideLobbyButton", "iAmRecorder", "iAmSipGateway", "iAmSpot",
    "ignoreStartMuted", "inviteAppName", "liveStreaming.enabled", "liveStreamingEnabled", "lobby", "localRecording",
    "localSubject", "logging", "mainToolbarButtons", "maxFullResolutionParticipants", "mouseMoveCallbackInterval",
    "notifications", "notificationTimeouts", "notifyOnConferenceDestruction", "openSharedDocumentOnJoin",
    "opusMaxAverageBitrate", "p2p.backToP2PDelay", "p2p.codecPreferenceOrder", "p2p.enabled",
    "p2p.iceTransportPolicy", "p2p.mobileCodecPreferenceOrder", "p2p.mobileScreenshareCodec",
    "participantMenuButtonsWithNotifyClick", "participantsPane", "pcStatsInterval", "preferBosh", "preferVisitor",
    "prejoinConfig.enabled", "prejoinConfig.hideDisplayName", "prejoinConfig.hideExtraJoinButtons", "raisedHands",
    "recordingService", "requireDisplayName", "remoteVideoMenu", "roomPasswordNumberOfDigits", "readOnlyName",
    "recordings.recordAudioAndVideo", "recordings.showPrejoinWarning", "recordings.showRecordingLink",
    "recordings.suggestRecording", "replaceParticipant", "resolution", "screenshotCapture", "securityUi",
    "speakerStats", "startAudioMuted", "startAudioOnly", "startLastN", "startScreenSharing", "startSilent",
    "startVideoMuted", "startWithAudioMuted", "startWithVideoMuted", "stereo", "subject", "testing",
    "toolbarButtons", "toolbarConfig", "tileView", "transcribingEnabled", "transcription",
    "useHostPageLocalStorage", "useTurnUdp", "videoQuality", "visitors.enableMediaOnPromote",
    "watchRTCConfigParams.allowBrowserLogCollection", "watchRTCConfigParams.collectionInterval",
    "watchRTCConfigParams.console", "watchRTCConfigParams.debug", "watchRTCConfigParams.keys",
    "watchRTCConfigParams.logGetStats", "watchRTCConfigParams.rtcApiKey", "watchRTCConfigParams.rtcPeerId",
    "watchRTCConfigParams.rtcRoomId", "watchRTCConfigParams.rtcTags", "watchRTCConfigParams.rtcToken",
    "webrtcIceTcpDisable", "webrtcIceUdpDisable", "whiteboard.enabled",
  ];
  // The app's wait-for-owner loop retries joining this often while no host is there (authentication
  // feature's waitForOwner: 5000 ms).
  const HOST_RETRY_MS = 5000;

  // ---------------------------------------------------------------- options: ?query (test) and #hash (bot)
  const query = new URLSearchParams(location.search);
  const flag = (k, dflt) => (query.has(k) ? ["1", "true"].includes(query.get(k)) : dflt);
  const opts = {
    lobby: query.get("lobby") || "off", password: query.get("password"),
    // waiting_for_host: "1" = jicofo's authentication flow, "lobby" = mod_muc_wait_for_host's lobby
    waitingForHost: query.get("waiting_for_host") === "lobby" ? "lobby" : flag("waiting_for_host", false),
    p2p: flag("p2p", false),
    audioElements: flag("audio_elements", true), worklet: flag("worklet", true),
    // A deployment that ignores these hash keys (its own config whitelist, or a proxy that drops them).
    ignoredHashKeys: (query.get("ignored_hash_keys") || "").split(",").filter(Boolean),
    // The room is at its occupant limit: "visitor" (visitors supported: the app retries as one) or "refuse".
    full: ["visitor", "refuse"].includes(query.get("full")) ? query.get("full") : null,
    // The participants' audio is produced in the sender page, in another browser (bot/demo/senders.py).
    remoteSenders: flag("remote_senders", false),
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
      if (key.split(".").some((k) => ["__proto__", "constructor", "prototype"].includes(k))) continue;
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
  function getPath(obj, path) {
    let o = obj;
    for (const k of path.split(".")) {
      if (o === null || typeof o !== "object" || !(k in o)) return { found: false };
      o = o[k];
    }
    return { found: true, value: o };
  }
  /** Deep merge; arrays and other values replace (lodash mergeWith as the app uses it). */
  function merge(target, source) {
    for (const [k, v] of Object.entries(source)) {
      const both = [v, target[k]].every((x) => x && typeof x === "object" && !Array.isArray(x));
      if (both) merge(target[k], v);
      else if (v !== undefined) target[k] = v;
    }
  }
  /** Like jitsi-meet's setConfigFromURLParams: nest the `config.*` keys, keep whitelisted paths, merge. */
  function applyConfigOverrides(target, params) {
    const json = {};
    for (const [key, value] of Object.entries(params)) {
      if (key.startsWith("config.")) setPath(json, key.slice(7), value);
    }
    const picked = {};
    for (const path of CONFIG_WHITELIST) {
      const got = getPath(json, path);
      if (got.found) setPath(picked, path, got.value);
    }
    for (const key of Object.keys(json)) {
      if (!(key in picked)) console.warn(`fake room: config.${key} is not in the config whitelist: ignored`);
    }
    merge(target, picked);
    if ("config.prejoinConfig.enabled" in params && target.prejoinConfig.enabled === false) {
      target.disableInitialGUM = true; // as the app: a URL that skips the prejoin screen starts without media
    }
  }

  const hash = parseHash(location.hash);
  for (const key of opts.ignoredHashKeys) delete hash[key];
  const config = {
    hosts: { domain: "meet.fake", muc: "conference.meet.fake" }, p2p: { enabled: true },
    prejoinConfig: { enabled: true }, lobby: {}, flags: { ssrcRewritingEnabled: true },
  };
  applyConfigOverrides(config, hash);
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
  const uuid = () => (crypto.randomUUID ? crypto.randomUUID() : `${randomId()}-${randomId()}`);
  function showScreen(html) { $("#screen").innerHTML = html; }
  function notice(text) { showScreen(""); $("#notice").textContent = text; }

  // ---------------------------------------------------------------- model
  /** Remote participant (JitsiParticipant surface); a new object per conference, as the library makes. */
  class FakeParticipant {
    constructor(spec) {
      this._spec = spec; this._id = spec.pid; this._displayName = spec.name;
      this._tracks = []; // audio (JitsiRemoteTrack over a sender slot)
      this._stale = []; // slots handed to someone else: the library's per-participant list still has them
      this._videoTracks = []; // video: the real client adds one per participant even with the camera off
      this._statsId = `stats-${spec.pid}`; this._live = false; this._properties = new Map();
      this._source = null; this._gain = null; this._sourceReady = null;
    }
    getId() { return this._id; }
    getDisplayName() { return this._displayName; }
    getRole() { return this._spec.moderator ? "moderator" : "participant"; }
    isModerator() { return !!this._spec.moderator; }
    isHidden() { return !!this._spec.hidden; }
    isHiddenFromRecorder() { return !!this._spec.hidden_from_recorder; }
    getProperty(name) { return this._properties.get(name); }
    getTracks() { return [...this._stale, ...this._tracks, ...this._videoTracks]; }
    getTracksByMediaType(type) { return this.getTracks().filter((t) => t.getType() === type); }
    isAudioMuted() { return !this._tracks.some((t) => t.isAudioTrack() && !t.isMuted()); }
    isVideoMuted() { return true; }
    getStatsID() { return this._statsId; }
    getJid() { return `${cur()._mucJid}/${this._id}`; }
    getConnectionStatus() { return "active"; }
  }
  function setProperty(p, name, value) {
    const old = p._properties.get(name);
    if (old === value) return;
    p._properties.set(name, value);
    fire(CONF.PARTICIPANT_PROPERTY_CHANGED, p, name, old, value);
  }

  /** JitsiRemoteTrack surface over one sender slot (a pcA/pcB pair); its owner may change (SSRC rewriting). */
  class FakeRemoteTrack {
    constructor(ownerId, slot, isP2P) {
      this._ownerId = ownerId; this._sourceName = `${ownerId}-a0`; this._slot = slot; this.isP2P = isP2P;
    }
    getParticipantId() { return this._ownerId; }
    getTrack() { return this._slot.track; }
    getOriginalStream() { return this._slot.stream; }
    getSourceName() { return this._sourceName; }
    getType() { return "audio"; }
    isAudioTrack() { return true; }
    isVideoTrack() { return false; }
    isLocal() { return false; }
    isMuted() { return false; }
    getStreamId() { return this._slot.stream.id; }
    getTrackId() { return this._slot.track.id; }
    getSSRC() { return this._slot.ssrc; }
    _setOwner(ownerId) { this._ownerId = ownerId; this._sourceName = ownerId === null ? null : `${ownerId}-a0`; }
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

  // Everyone the test added, in every room (pid -> FakeParticipant, in join order). A participant is in the
  // bot's conference when its spec.room is the bot's room ("main" or a breakout room's name) and `_live`.
  const participants = new Map();
  const st = {
    joined: false, finished: false, knocked: false, lobbyDecision: null, hostPresent: false,
    waiting: null, retryTimer: null, passwordTries: [], dominant: null, previousSpeakers: [],
    // A page joined with config.p2p.enabled=false (Jibri's override) never talks peer to peer.
    p2pActive: opts.p2p && !(config.p2p && config.p2p.enabled === false),
    room: "main", visitor: false,
    freeSlots: [], // ownerless audio tracks (SSRC rewriting): TRACK_REMOVED fired, owner null, still live
    breakoutIds: new Map(), // breakout room name -> its conference name (a uuid)
  };
  const inMyRoom = (p) => (p._spec.room || "main") === st.room;
  const isCurrent = (p) => participants.get(p.getId()) === p;
  let stats = { bitrate: { download: 0, upload: 0, audio: { download: 0, upload: 0 } }, packetLoss: { total: 0 } };

  /**
   * A JitsiConference. The app replaces APP.conference._room with a new one when it moves to a breakout
   * room or back, and when it reconnects (as a visitor); an old one is left and dropped: it fires nothing more.
   */
  function makeConference({ name = roomName, breakout = false, role = "participant", userId = randomId(),
                            subject = "" } = {}) {
    const emitter = new Emitter();
    const muc = new Emitter(); // `_room.room`, the ChatRoom
    muc.members = {}; muc.role = role;
    muc.subject = subject; // Prosody sets a breakout room's subject to the room's name
    muc.addListener = muc.on; muc.removeListener = muc.off;
    const breakoutRooms = {
      isBreakoutRoom: () => breakout,
      getMainRoomJid: () => (breakout ? `${roomName}@${config.hosts.muc}` : undefined),
      // The rooms and who is in them, as the breakout-rooms component announces them to the main room.
      getRooms: () => {
        const rooms = { main: { id: "main", jid: `${roomName}@${config.hosts.muc}`, name: roomName,
                                isMainRoom: true, participants: {} } };
        for (const q of participants.values()) {
          const where = q._spec.room || "main";
          if (!st.breakoutIds.has(where)) st.breakoutIds.set(where, uuid());
          const id = where === "main" ? "main" : st.breakoutIds.get(where);
          rooms[id] = rooms[id] || { id, jid: `${id}@breakout.${config.hosts.domain}`, name: where,
                                     isMainRoom: false, participants: {} };
          rooms[id].participants[`${rooms[id].jid}/${q.getId()}`] = { displayName: q.getDisplayName() };
        }
        return rooms;
      },
    };
    const c = {
      _emitter: emitter, _joined: false,
      _mucJid: `${name}@${breakout ? `breakout.${config.hosts.domain}` : config.hosts.muc}`,
      room: muc,
      isJoined: () => c._joined,
      myUserId: () => userId,
      getName: () => name,
      getRole: () => role,
      isModerator: () => false,
      getBreakoutRooms: () => breakoutRooms,
      getParticipants: () => (c === cur() ? [...participants.values()].filter((p) => p._live) : []),
      getParticipantCount: () => c.getParticipants().length + 1,
      getParticipantById: (id) => c.getParticipants().find((p) => p.getId() === id),
      on: (event, fn) => emitter.on(event, fn),
      off: (event, fn) => emitter.off(event, fn),
      addEventListener: (event, fn) => emitter.on(event, fn),
      removeEventListener: (event, fn) => emitter.off(event, fn),
      isP2PActive: () => c === cur() && st.p2pActive,
      // The peer connection in use knows which remote tracks are live and whose they are now.
      getActivePeerConnection: () => (c !== cur() || !c._joined ? null : {
        getRemoteTracks: (endpointId, mediaType) => [...participants.values()]
          .filter((p) => p._live)
          .flatMap((p) => [...p._tracks, ...p._videoTracks])
          .filter((t) => (!endpointId || t.getParticipantId() === endpointId)
            && (!mediaType || t.getType() === mediaType)),
      }),
      // Group chat: the MUC reflects the sender's own message back to it, as the real room does.
      sendPrivateTextMessage: (to, text) => {
        if (c !== cur() || !c._joined) return;
        event("chat_sent", { text: String(text), to: String(to) }); // not reflected: the app shows its own copy
      },
      sendTextMessage: (text) => {
        if (c !== cur() || !c._joined) return;
        const msg = String(text);
        event("chat_sent", { text: msg });
        setTimeout(() => { if (c === cur()) fire(CONF.MESSAGE_RECEIVED, userId, msg, undefined, displayName, false,
                                                   randomId()); }, 50);
      },
      leave: async () => {
        if (c !== cur()) return;
        st.finished = true;
        stopWaiting();
        leaveConference();
        event("bot_left");
      },
    };
    return c;
  }
  const cur = () => window.APP.conference._room;
  const fire = (name, ...args) => cur()._emitter.emit(name, ...args);

  window.config = config;
  window.JitsiMeetJS = {
    version: "fake", events: { conference: CONF }, errors: { conference: ERR },
    util: {},
  };
  window.APP = {
    conference: {
      _room: makeConference(),
      isJoined: () => cur().isJoined(),
      getMyUserId: () => cur().myUserId(),
      get membersCount() { return cur().getParticipants().length + 1; }, // hidden ones too, plus me
      listMembers: () => cur().getParticipants(),
      getParticipantById: (id) => cur().getParticipantById(id),
      getStats: () => stats,
      getConnectionState: () => (st.joined ? "connected" : null),
      hangup: async () => { await cur().leave(); notice("You have left the meeting"); },
      leaveRoom: () => cur().leave(),
    },
    // The app's redux store: only the visitors feature, where the real app keeps "I am a visitor".
    store: { getState: () => ({ "features/visitors": { iAmVisitor: st.visitor } }) }, API: {},
  };

  // ---------------------------------------------------------------- media
  // Where the participants' audio is produced. Local (the default): sources and sending peer connections in
  // this page. Remote (?remote_senders=1): in the sender page (senders.js), in another browser, over /senders
  // relayed by the room server; this page keeps only the receiving side, pcB, as in a real meeting. Either
  // way a slot is {track, stream, ssrc, pcB, lastBytes, silent} plus what its implementation needs.
  /** Today's in-page media: a MediaStreamAudioDestinationNode -> pcA ==> pcB per slot. */
  function localMedia() {
    // NativeAudioContext: the stall_audio seam only reaches contexts other scripts (the bot's) create.
    const audio = window.FakeRoomSources(() => new NativeAudioContext());
    const ctx = audio.ctx;
    return {
      async makeSource(p) {
        const s = await audio.make(p._spec);
        p._source = s.src; p._carrier = s.carrier; p._gain = s.gain;
      },
      stopSource(p) {
        audio.stop({ src: p._source, carrier: p._carrier, gain: p._gain });
        p._source = null; p._carrier = null; p._gain = null;
      },
      hasSource: (p) => !!p._gain,
      async createSlot() {
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
        return { dest, pcA, pcB, ...got, ssrc: ssrcOf(offer.sdp), lastBytes: 0, silent: false };
      },
      closeSlot(slot) {
        slot.pcA.close(); slot.pcB.close();
        slot.dest.stream.getTracks().forEach((t) => t.stop());
      },
      async setSlotSilent(slot, silent) {
        if (slot.silent === silent || slot.pcA.signalingState === "closed") return;
        slot.silent = silent;
        await slot.pcA.getSenders()[0].replaceTrack(silent ? null : slot.dest.stream.getAudioTracks()[0]);
      },
      connect(p, slot) { p._gain.connect(slot.dest); },
      disconnect(p, slot) {
        try { if (p._gain) p._gain.disconnect(slot.dest); } catch (e) { /* not connected */ }
      },
    };
  }

  /** The sender page's media, by RPC over the control socket (the room server relays it to /senders). */
  function remoteMedia() {
    const pending = new Map(); // rpc id -> {resolve, reject}
    let nextId = 1;
    let nextSource = 1;
    let nextSlot = 1;
    const page = randomId(); // ids unique across reloads: the sender page never mixes two pages' objects
    /** Send an operation; `reply`: wait for its answer (an error becomes an exception). */
    function call(op, args, { reply = true } = {}) {
      const msg = { op, args };
      if (!reply) { send({ to_senders: msg }); return Promise.resolve(null); }
      msg.rpc = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(msg.rpc, { resolve, reject });
        send({ to_senders: msg });
      });
    }
    const ready = call("hello", {}).catch((e) => { throw new Error(`remote senders: ${e.message}`); });
    ready.catch((e) => console.warn(`fake room: ${e.message}`));
    return {
      /** An answer from the sender page (relayed by the server). */
      onReply(msg) {
        const entry = pending.get(msg.rpc);
        if (!entry) return;
        pending.delete(msg.rpc);
        if (msg.ok) entry.resolve(msg.result); else entry.reject(new Error(msg.error || "sender page failed"));
      },
      async makeSource(p) {
        await ready;
        const id = `${page}:${p.getId()}#${nextSource++}`;
        p._remoteSource = id;
        const spec = { tone_hz: p._spec.tone_hz, wav: p._spec.wav, loop: p._spec.loop, gain: p._spec.gain };
        await call("source", { id, spec });
        if (p._remoteSource !== id) call("stop_source", { id }, { reply: false }); // stopped meanwhile
        else p._hasRemoteSource = true;
      },
      stopSource(p) {
        if (p._remoteSource) call("stop_source", { id: p._remoteSource }, { reply: false });
        p._remoteSource = null; p._hasRemoteSource = false;
      },
      hasSource: (p) => !!p._hasRemoteSource,
      async createSlot() {
        await ready;
        const id = `${page}:${nextSlot++}`;
        const { sdp } = await call("slot", { id });
        const pcB = new RTCPeerConnection({ iceServers: [] });
        const received = new Promise((resolve) => {
          pcB.ontrack = (e) => resolve({ track: e.track, stream: e.streams[0] || new MediaStream([e.track]) });
        });
        const slot = { id, pcB, closed: false, lastBytes: 0, silent: false, ssrc: ssrcOf(sdp) };
        try {
          await pcB.setRemoteDescription({ type: "offer", sdp });
          await pcB.setLocalDescription(await pcB.createAnswer());
          await gathered(pcB);
          await call("answer", { id, sdp: pcB.localDescription.sdp });
          const got = await Promise.race([received, sleep(10000).then(() => null)]);
          if (!got) throw new Error("the sender page's peer connection produced no remote track");
          return Object.assign(slot, got);
        } catch (e) {
          this.closeSlot(slot);
          throw e;
        }
      },
      closeSlot(slot) {
        slot.closed = true;
        slot.pcB.close();
        call("close", { id: slot.id }, { reply: false });
      },
      async setSlotSilent(slot, silent) {
        if (slot.silent === silent || slot.closed) return;
        slot.silent = silent;
        await call("silent", { id: slot.id, silent });
      },
      connect(p, slot) { call("connect", { id: p._remoteSource, slot: slot.id }, { reply: false }); },
      disconnect(p, slot) {
        if (p._remoteSource) call("disconnect", { id: p._remoteSource, slot: slot.id }, { reply: false });
      },
    };
  }
  const ssrcOf = (sdp) => { const m = /a=ssrc:(\d+)/.exec(sdp); return m ? +m[1] : 0; };
  const gathered = window.FakeRoomSources.gathered;
  const media = opts.remoteSenders ? remoteMedia() : localMedia();

  function ensureSource(p) {
    if (!p._sourceReady) p._sourceReady = media.makeSource(p);
    return p._sourceReady;
  }
  function stopSource(p) {
    media.stopSource(p);
    p._sourceReady = null;
  }

  /** A sender slot (pcA ==> pcB); the track received on pcB is the remote one. */
  async function createSlot() {
    const slot = await media.createSlot();
    setTimeout(() => {
      const ice = slot.pcB.iceConnectionState;
      if (!["connected", "completed", "closed"].includes(ice) && slot.pcB.signalingState !== "closed") {
        console.warn(`fake room: ICE is ${ice}; is --allow-loopback-in-peer-connection set?`);
      }
    }, 5000);
    return slot;
  }
  const closeSlot = (slot) => media.closeSlot(slot);
  /** Stop (silent) or resume the slot's RTP: the sender sends nothing while its track is null. */
  const setSlotSilent = (slot, silent) => media.setSlotSilent(slot, silent);
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
  /** A new slot for p and its TRACK_ADDED (then the camera-off video track's); `early`: p is not yet live. */
  async function addTrack(p, { early = false } = {}) {
    const slot = await createSlot();
    if (!isCurrent(p) || !media.hasSource(p) || !st.joined || !(early || p._live)) { closeSlot(slot); return; } // gone
    media.connect(p, slot);
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
  /**
   * The slot leaves p and goes to `to` (SSRC rewriting): TRACK_REMOVED, new owner, TRACK_ADDED on the same
   * JitsiRemoteTrack and MediaStreamTrack. `to` null: the slot is left ownerless (getParticipantId() null,
   * as the library does when a bridge source goes away), still live, its RTP stopped.
   */
  async function moveSlot(track, to, { silent = false } = {}) {
    if (to !== null) await ensureSource(to);
    const from = track.getParticipantId() === null ? null : participants.get(track.getParticipantId());
    if (from) {
      trackRemoved(track);
      media.disconnect(from, track._slot);
      from._tracks = from._tracks.filter((t) => t !== track);
      if (!from._stale.includes(track)) from._stale.push(track);
    } else {
      st.freeSlots = st.freeSlots.filter((t) => t !== track);
    }
    if (to === null) {
      track._setOwner(null);
      st.freeSlots.push(track);
      await setSlotSilent(track._slot, true);
      return;
    }
    media.connect(to, track._slot);
    track._setOwner(to.getId());
    to._stale = to._stale.filter((t) => t !== track);
    to._tracks.push(track);
    // silent: the bridge forwards the rewritten SSRC before renegotiation; the receiver drops it all.
    await setSlotSilent(track._slot, silent);
    trackAdded(track);
  }
  function closeFreeSlots() {
    for (const t of st.freeSlots) closeSlot(t._slot);
    st.freeSlots = [];
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
  // How long the library's answers take: the features query after USER_JOINED, presence after source
  // signalling, and the app's reconnects (breakout move, retry as a visitor).
  const FEATURES_MS = 500;
  const PRESENCE_AFTER_TRACK_MS = 300;
  const RECONNECT_MS = 1000;
  const MUC_JOIN_MS = 300; // a new JitsiConference joins its MUC this long after it is made

  function renderRoster() {
    $("#participants").innerHTML = "";
    for (const p of cur().getParticipants()) {
      const li = document.createElement("li");
      li.textContent = `${p.getDisplayName()} (${p.getId()})`;
      if (p.isHidden()) li.className = "hidden";
      $("#participants").appendChild(li);
    }
  }
  /** The bot sees participant p: USER_JOINED; the library then asks for its features (features_jigasi). */
  function announce(p) {
    if (p._live || !isCurrent(p)) return;
    p._live = true;
    const conf = cur();
    const jid = p.getJid();
    conf.room.members[jid] = {
      role: "participant", displayName: p.getDisplayName(), statsID: p.getStatsID(), isHiddenDomain: p.isHidden(),
    };
    conf.room.emit("xmpp.muc_member_joined", jid, p.getDisplayName(), "participant", p.isHidden(), p.getStatsID());
    fire(CONF.USER_JOINED, p.getId(), p);
    renderRoster();
    if (p._spec.jigasi) {
      setTimeout(() => {
        if (p._live && isCurrent(p) && cur() === conf) setProperty(p, "features_jigasi", true);
      }, FEATURES_MS);
    }
  }
  async function goLive(p, { trackFirst = false } = {}) {
    if (!isCurrent(p)) return;
    await ensureSource(p);
    if (!isCurrent(p) || !st.joined || !inMyRoom(p)) return;
    const audio = p._spec.audio !== false;
    if (trackFirst && audio) {
      // Source signalling before presence: TRACK_ADDED while getParticipantById() is still undefined.
      await addTrack(p, { early: true });
      await sleep(PRESENCE_AFTER_TRACK_MS);
      if (isCurrent(p) && st.joined) announce(p);
      return;
    }
    announce(p);
    if (audio && isCurrent(p) && !p._tracks.length) await addTrack(p);
  }
  /** The MUC reports p gone from conference `conf`: presence, then USER_LEFT. */
  function memberLeft(p, conf) {
    p._live = false;
    delete conf.room.members[p.getJid()];
    conf.room.emit("xmpp.muc_member_left", p.getJid());
    conf._emitter.emit(CONF.USER_LEFT, p.getId(), p, undefined);
  }
  function dropMedia(p) {
    stopSource(p);
    for (const t of p._tracks) { unrenderAudio(t); closeSlot(t._slot); }
    p._tracks = [];
    removeVideo(p, { silent: true });
  }
  /** Everyone's JitsiParticipant belonged to the conference just left: the next one has new objects. */
  function freshParticipants() {
    for (const [pid, p] of [...participants]) {
      dropMedia(p);
      participants.set(pid, new FakeParticipant(p._spec));
    }
  }
  function setJoined(joined) { st.joined = joined; cur()._joined = joined; }

  /**
   * The bot leaves its conference as the library's leave() does: the media sessions close (TRACK_REMOVED for
   * every remote track), the MUC reports every member gone (USER_LEFT), then CONFERENCE_LEFT.
   */
  function leaveConference() {
    if (!st.joined) return;
    const conf = cur();
    const members = conf.getParticipants();
    for (const p of members) {
      for (const t of p._tracks) { trackRemoved(t); closeSlot(t._slot); }
      p._tracks = [];
      removeVideo(p);
    }
    closeFreeSlots();
    for (const p of members) memberLeft(p, conf);
    setJoined(false);
    renderRoster();
    fire(CONF.CONFERENCE_LEFT);
    freshParticipants();
  }
  /** A conference failed for good (FOCUS_LEFT, ICE_FAILED): the app leaves it and reloads the page. */
  function failAndReload(error, reloadAfterMs) {
    fire(CONF.CONFERENCE_FAILED, error);
    st.finished = true;
    stopWaiting();
    leaveConference();
    // The app's PageReloadDialog counts down 10-30 s, then reloads (with the same URL).
    showScreen(`<div role="dialog"><h2>Unfortunately, something went wrong.</h2>
      <p>We're trying to fix this. Reconnecting in ${Math.ceil(reloadAfterMs / 1000)} sec…</p></div>`);
    setTimeout(() => location.reload(), reloadAfterMs);
  }
  /** A new media session (jicofo's re-invite, P2P -> bridge): every remote track is replaced by a new one. */
  async function replaceMediaSession() {
    st.p2pActive = false;
    const owners = cur().getParticipants().filter((p) => p._tracks.length);
    for (const p of owners) {
      for (const t of p._tracks) { trackRemoved(t); closeSlot(t._slot); }
      p._tracks = [];
      removeVideo(p);
    }
    closeFreeSlots();
    for (const p of owners) if (isCurrent(p)) await addTrack(p);
  }

  // ---------------------------------------------------------------- joining flow
  async function join() {
    if (st.finished || st.joined) return;
    showScreen("");
    setJoined(true);
    const members = [...participants.values()].filter(inMyRoom);
    // The real client reports the people already in the room (USER_JOINED) before CONFERENCE_JOINED,
    // and their tracks after it, once the media session is up.
    for (const p of members) announce(p);
    fire(CONF.CONFERENCE_JOINED);
    event("bot_joined", {
      display_name: displayName, conference: cur().getName(),
      breakout: cur().getBreakoutRooms().isBreakoutRoom(), visitor: st.visitor,
    });
    for (const p of members) {
      try { await goLive(p); } catch (e) { console.error(`fake room: participant ${p.getId()}: ${e}`); }
    }
  }
  function afterPrejoin() {
    if (st.finished) return;
    if (opts.waitingForHost && !st.hostPresent) return waitForHost();
    afterHost();
  }
  function afterHost() {
    if (st.finished) return;
    if (opts.full && !st.visitor) return roomFull();
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

  function roomFull() {
    const visitors = opts.full === "visitor";
    // The MUC refuses the occupant; the argument carries jicofo's "visitors-supported" property (a string).
    fire(CONF.CONFERENCE_FAILED, ERR.CONFERENCE_MAX_USERS, { visitorsSupported: visitors ? "true" : "false" });
    if (!visitors) {
      st.finished = true;
      notice("Maximum participants limit reached. The limit for maximum number of participants has been "
        + "reached. The conference is full. Please contact the meeting owner or try again later!");
      return;
    }
    // The app disconnects and connects again preferring to be a visitor: a new connection (a new id) and a new
    // JitsiConference whose MUC role is "visitor" (getRole()); a visitor's media comes only over the bridge.
    setTimeout(() => {
      if (st.finished) return;
      st.visitor = true;
      st.p2pActive = false;
      APP.conference._room = makeConference({ role: "visitor" });
      setTimeout(afterHost, MUC_JOIN_MS);
    }, RECONNECT_MS);
  }

  const lobbyJid = () => `${roomName}@lobby.${config.hosts.domain}`;
  const WAIT_FOR_OWNER = `<div role="dialog" aria-label="Waiting for a moderator…"><h2>Waiting for a moderator…</h2>
      <p>The conference has not yet started because no moderators have yet arrived.</p>
      <button aria-label="Wait for moderator">Wait for moderator</button>
      <button id="modal-dialog-ok-button" aria-label="Log-in">Log-in</button></div>`;
  function failForHost() {
    if (opts.waitingForHost === "lobby") fire(CONF.CONFERENCE_FAILED, ERR.MEMBERS_ONLY_ERROR, lobbyJid(), true);
    else fire(CONF.CONFERENCE_FAILED, ERR.AUTHENTICATION_REQUIRED);
  }
  function waitForHost() {
    st.waiting = true;
    failForHost();
    if (opts.waitingForHost === "lobby") {
      // mod_muc_wait_for_host: guests wait in the lobby (membersOnly with waitingForHost=true); the app
      // knocks, shows the lobby's spinner and, over it, the WaitForOwnerDialog (recorded from the real client).
      st.knocked = true;
      event("knocked", { display_name: displayName });
      showScreen(`<div class="premeeting-screen lobby-screen"><h2>Asking to join meeting…</h2>
        <div class="spinner"></div><p>You'll join the meeting as soon as someone accepts your request</p></div>
        ${WAIT_FOR_OWNER}`);
    } else {
      // Jicofo's authentication flow: the room is refused until a moderator logs in (authenticationRequired),
      // and the app shows the same WaitForOwnerDialog.
      showScreen(WAIT_FOR_OWNER);
    }
    st.retryTimer = setTimeout(retryForHost, HOST_RETRY_MS);
  }
  /** The app's wait-for-owner retry: join again; while there is no host, the same CONFERENCE_FAILED. */
  function retryForHost() {
    st.retryTimer = null;
    if (!st.waiting || st.finished) return;
    if (st.hostPresent) {
      st.waiting = false;
      showScreen("");
      afterHost();
      return;
    }
    failForHost();
    st.retryTimer = setTimeout(retryForHost, HOST_RETRY_MS);
  }
  function stopWaiting() {
    st.waiting = false;
    clearTimeout(st.retryTimer);
    st.retryTimer = null;
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
    // config.autoKnockLobby is the app's older name for lobby.autoKnock.
    const autoKnock = config.lobby && config.lobby.autoKnock !== undefined ? config.lobby.autoKnock
      : config.autoKnockLobby;
    if (autoKnock === true) setTimeout(knock, 0);
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
  const needLive = (pid) => {
    const p = need(pid);
    if (!p._live) throw new Error(`participant ${pid} is not in the bot's conference`);
    return p;
  };
  const needJoined = (cmd) => { if (!st.joined) throw new Error(`${cmd}: the bot is not in the conference`); };
  const firstAudio = (p) => {
    if (!p._tracks.length) throw new Error(`participant ${p.getId()} has no audio track`);
    return p._tracks[0];
  };
  async function addParticipant(spec) {
    if (participants.has(spec.pid)) throw new Error(`participant ${spec.pid} already exists`);
    spec.room = spec.room || st.room;
    const p = new FakeParticipant(spec);
    participants.set(spec.pid, p);
    if (st.joined && inMyRoom(p)) {
      try {
        await goLive(p, { trackFirst: !!spec.track_first });
      } catch (e) {
        participants.delete(spec.pid);
        stopSource(p);
        throw e;
      }
    }
    return { room: spec.room };
  }
  /** The bot moves to another conference of the same meeting, as the app's moveToRoom does on the web. */
  async function moveBot(room, conference) {
    const userId = cur().myUserId(); // the same XMPP connection: the same id
    leaveConference();
    st.room = room;
    st.p2pActive = false;
    APP.conference._room = makeConference({ ...conference, userId });
    await sleep(RECONNECT_MS);
    await join();
  }

  const commands = {
    send_chat({ pid, text, private: priv }) {
      needJoined("send_chat");
      const p = need(pid);
      if (!p._live) throw new Error(`participant ${pid} is not in the bot's conference`);
      if (priv) fire(CONF.PRIVATE_MESSAGE_RECEIVED, pid, text, undefined, randomId(), p.getDisplayName(), false);
      else fire(CONF.MESSAGE_RECEIVED, pid, text, undefined, p.getDisplayName(), false, randomId());
    },
    async sync({ participants: specs, host_present: hostPresent }) {
      if (hostPresent) st.hostPresent = true;
      for (const spec of specs) if (!participants.has(spec.pid)) await addParticipant(spec);
    },
    add_participant: addParticipant,
    rename({ pid, name }) {
      const p = need(pid);
      p._displayName = name;
      p._spec.name = name;
      if (p._live) {
        if (cur().room.members[p.getJid()]) cur().room.members[p.getJid()].displayName = name;
        cur().room.emit("xmpp.display_name_changed", p.getJid(), name);
        fire(CONF.DISPLAY_NAME_CHANGED, pid, name);
        renderRoster();
      }
    },
    async remove_participant({ pid }) {
      const p = need(pid);
      for (const t of [...p._tracks]) {
        if (st.p2pActive) {
          trackRemoved(t);
          closeSlot(t._slot);
        } else {
          // The library (SSRC rewriting) keeps the bridge's track for reuse: TRACK_REMOVED, then no owner.
          await moveSlot(t, null);
        }
      }
      p._tracks = [];
      removeVideo(p);
      stopSource(p);
      participants.delete(pid);
      if (p._live) {
        memberLeft(p, cur());
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
      const actor = cur().getParticipants().find((p) => !p.isHidden())
        || { getId: () => "moderator", getDisplayName: () => "Moderator" };
      fire(CONF.KICKED, actor, reason, false);
      event("kicked", { reason });
      // As the real client: the room is gone for the bot, everyone else "leaves"; no CONFERENCE_LEFT.
      st.finished = true;
      for (const p of cur().getParticipants()) {
        dropMedia(p);
        p._live = false;
        fire(CONF.USER_LEFT, p.getId(), p, undefined);
      }
      closeFreeSlots();
      setJoined(false);
      renderRoster();
      notice("You have been kicked");
    },
    end_conference() {
      const wasJoined = st.joined;
      st.finished = true;
      stopWaiting();
      for (const p of participants.values()) { dropMedia(p); p._live = false; }
      closeFreeSlots();
      setJoined(false);
      renderRoster();
      fire(CONF.CONFERENCE_FAILED, ERR.CONFERENCE_DESTROYED, "The meeting has been terminated");
      notice(wasJoined ? "The meeting has been ended" : "The meeting was ended before you could join");
    },
    admit_bot() { st.lobbyDecision = "admit"; if (st.knocked && opts.lobby === "manual") decide("admit"); },
    deny_bot() { st.lobbyDecision = "deny"; if (st.knocked && opts.lobby === "manual") decide("deny"); },
    host_arrives() { st.hostPresent = true; }, // the app's next wait-for-owner retry joins
    async switch_p2p_to_bridge() {
      needJoined("switch_p2p_to_bridge");
      await replaceMediaSession();
    },
    async rewrite_ssrc({ from, to, silent }) {
      needJoined("rewrite_ssrc");
      const track = firstAudio(need(from));
      const dst = need(to);
      if (dst._tracks.length) throw new Error(`participant ${to} already has an audio track`);
      await moveSlot(track, dst, { silent: !!silent });
    },
    async forward_loudest({ pids }) {
      needJoined("forward_loudest");
      const wanted = pids.map(needLive);
      const holders = cur().getParticipants().filter((p) => p._tracks.length);
      const donors = holders.filter((p) => !pids.includes(p.getId()));
      const lacking = wanted.filter((p) => !p._tracks.length);
      const movable = st.freeSlots.length + donors.length;
      if (lacking.length > movable) {
        throw new Error(`forward_loudest: ${lacking.length} participants need an audio slot, ${movable} can move`);
      }
      const moves = [];
      for (const p of lacking) {
        const track = st.freeSlots.length ? st.freeSlots[0] : firstAudio(donors.shift());
        moves.push([track.getParticipantId(), p.getId()]);
        await moveSlot(track, p);
      }
      return moves;
    },
    async release_slot({ pid }) {
      needJoined("release_slot");
      await moveSlot(firstAudio(need(pid)), null);
    },
    async silence_slot({ pid, silent }) {
      needJoined("silence_slot");
      await setSlotSilent(firstAudio(need(pid))._slot, silent);
    },
    async move_bot_to_breakout({ name, participants: pids }) {
      needJoined("move_bot_to_breakout");
      if (st.room !== "main") throw new Error("move_bot_to_breakout: the bot is not in the main room");
      pids.forEach(need);
      if (!st.breakoutIds.has(name)) st.breakoutIds.set(name, uuid());
      const id = st.breakoutIds.get(name);
      for (const pid of pids) participants.get(pid)._spec.room = name;
      // Breakout rooms live on their own MUC component; the conference's name is the room's id.
      await moveBot(name, { name: id, breakout: true, subject: name });
      return { conference: id };
    },
    async send_to_breakout({ participants: pids, name }) {
      // A moderator sends people to a breakout room; the bot stays: they leave the bot's conference.
      needJoined("send_to_breakout");
      for (const pid of pids) {
        const p = need(pid);
        for (const t of [...p._tracks]) await moveSlot(t, null);
        p._tracks = [];
        removeVideo(p);
        p._spec.room = name;
        if (p._live) memberLeft(p, cur());
      }
      renderRoster();
    },
    async return_from_breakout({ participants: pids }) {
      needJoined("return_from_breakout");
      for (const pid of pids) {
        const p = need(pid);
        p._spec.room = st.room;
        await goLive(p);
      }
    },
    async return_to_main_room() {
      needJoined("return_to_main_room");
      if (st.room === "main") throw new Error("return_to_main_room: the bot is in the main room");
      for (const p of participants.values()) p._spec.room = "main"; // the rooms were closed: all are back
      await moveBot("main", {});
    },
    async ice_failure({ recovery, reload_after_ms: reloadAfterMs }) {
      needJoined("ice_failure");
      // Reinvite: the client ends the bridge session (session-terminate) and jicofo invites it again; the
      // conference stays joined. Reload: ICE restarts are exhausted and the app reloads the page.
      if (recovery === "reload") failAndReload(ERR.ICE_FAILED, reloadAfterMs);
      else await replaceMediaSession();
    },
    focus_restart({ reload_after_ms: reloadAfterMs }) {
      needJoined("focus_restart");
      failAndReload(ERR.FOCUS_LEFT, reloadAfterMs); // jicofo left the MUC
    },
    reload_page() { setTimeout(() => location.reload(), 50); },
    async stall_audio() {
      await Promise.all(foreignContexts.map((c) => c.suspend()));
      return foreignContexts.length;
    },
    state() {
      return {
        joined: st.joined, participants: [...participants.keys()], password_tries: [...st.passwordTries],
        knocked: st.knocked, display_name: displayName, finished: st.finished, room: st.room,
        conference: cur().getName(), visitor: st.visitor,
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
      if (msg.from_senders) { if (media.onReply) media.onReply(msg.from_senders); return; }
      commandChain = commandChain.then(() => runCommand(msg));
    };
    ws.onclose = () => console.warn("fake room: control socket closed");
  }

  connectControl();
  // As the app: the prejoin screen unless config.prejoinConfig.enabled is false.
  if (config.prejoinConfig && config.prejoinConfig.enabled === false) setTimeout(afterPrejoin, 300);
  else showPrejoin();
})();
