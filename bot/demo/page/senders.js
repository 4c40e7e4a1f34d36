/*
 * The fake room's remote senders (FakeJitsiRoom(remote_senders=True)): the participants' sources (a tone or a
 * WAV, a silent carrier, a gain) and the sending half of every audio slot (a MediaStreamAudioDestinationNode
 * and pcA) run in this page, in a browser of their own, so the bot's browser does only what a real meeting
 * asks of it: receive (pcB). Driven by the room page over /senders (relayed by bot/demo/room.py): requests
 * {rpc?, op, args}, answered {rpc, ok, result?, error?} when they carry an rpc id, run one at a time in order.
 */
(function () {
  "use strict";

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  let audioCtx = null;
  const wavCache = new Map();
  const sources = new Map(); // source id -> {src, carrier, gain}
  const slots = new Map(); // slot id -> {dest, pcA, silent}

  function ctx() {
    if (!audioCtx) audioCtx = new AudioContext();
    if (audioCtx.state === "suspended") audioCtx.resume().catch(() => {});
    return audioCtx;
  }
  function loadWav(name) {
    if (!wavCache.has(name)) {
      wavCache.set(name, (async () => {
        const resp = await fetch(`/media/${encodeURIComponent(name)}`);
        if (!resp.ok) throw new Error(`GET /media/${name}: HTTP ${resp.status}`);
        return ctx().decodeAudioData(await resp.arrayBuffer());
      })());
    }
    return wavCache.get(name);
  }
  /** Wait until ICE gathering is complete: the description then carries every (loopback) candidate. */
  async function gathered(pc) {
    if (pc.iceGatheringState === "complete") return;
    await Promise.race([
      new Promise((resolve) => pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") resolve();
      })),
      sleep(5000),
    ]);
  }
  const needSlot = (id) => {
    const slot = slots.get(id);
    if (!slot) throw new Error(`unknown slot ${id}`);
    return slot;
  };
  function stopSource(id) {
    const s = sources.get(id);
    if (!s) return;
    for (const node of [s.src, s.carrier]) {
      try { if (node) node.stop(); } catch (e) { /* already stopped */ }
    }
    s.gain.disconnect();
    sources.delete(id);
  }
  function closeSlot(id) {
    const slot = slots.get(id);
    if (!slot) return;
    slot.pcA.close();
    slot.dest.stream.getTracks().forEach((t) => t.stop());
    slots.delete(id);
  }

  const ops = {
    hello() { return { sources: sources.size, slots: slots.size }; },
    /** The bot's page was replaced (a reload): what the previous one made goes. */
    reset() {
      for (const id of [...slots.keys()]) closeSlot(id);
      for (const id of [...sources.keys()]) stopSource(id);
    },
    async source({ id, spec }) {
      const c = ctx();
      const gain = c.createGain();
      gain.gain.value = spec.gain ?? 0.3;
      let src = null;
      if (spec.wav) {
        src = c.createBufferSource();
        src.buffer = await loadWav(spec.wav);
        src.loop = spec.loop !== false; // not looping: plays once, then the slot carries silence
      } else if (spec.tone_hz) {
        src = c.createOscillator();
        src.frequency.value = spec.tone_hz;
      }
      if (src) { src.connect(gain); src.start(); }
      // A silent but always-running input keeps frames (and RTP packets) flowing after a WAV ends.
      const carrier = c.createConstantSource();
      carrier.offset.value = 0;
      carrier.connect(gain);
      carrier.start();
      stopSource(id);
      sources.set(id, { src, carrier, gain });
    },
    stop_source({ id }) { stopSource(id); },
    /** A new slot's sending half; returns its offer, with every candidate. */
    async slot({ id }) {
      const dest = ctx().createMediaStreamDestination();
      const pcA = new RTCPeerConnection({ iceServers: [] });
      pcA.addTrack(dest.stream.getAudioTracks()[0], dest.stream);
      slots.set(id, { dest, pcA, silent: false });
      await pcA.setLocalDescription(await pcA.createOffer());
      await gathered(pcA);
      return { sdp: pcA.localDescription.sdp };
    },
    async answer({ id, sdp }) {
      await needSlot(id).pcA.setRemoteDescription({ type: "answer", sdp });
    },
    connect({ id, slot }) {
      const s = sources.get(id);
      if (!s) throw new Error(`unknown source ${id}`);
      s.gain.connect(needSlot(slot).dest);
    },
    disconnect({ id, slot }) {
      const s = sources.get(id);
      const target = slots.get(slot);
      try { if (s && target) s.gain.disconnect(target.dest); } catch (e) { /* not connected */ }
    },
    /** Stop (silent) or resume the slot's RTP: the sender sends nothing while its track is null. */
    async silent({ id, silent }) {
      const slot = slots.get(id);
      if (!slot || slot.silent === silent || slot.pcA.signalingState === "closed") return;
      slot.silent = silent;
      await slot.pcA.getSenders()[0].replaceTrack(silent ? null : slot.dest.stream.getAudioTracks()[0]);
    },
    close({ id }) { closeSlot(id); },
  };

  window.__senders = () => ({ sources: sources.size, slots: slots.size }); // for tests
  let chain = Promise.resolve();
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/senders`);
  async function run(msg) {
    try {
      const handler = ops[msg.op];
      if (!handler) throw new Error(`unknown sender operation ${msg.op}`);
      const result = await handler(msg.args || {});
      if (msg.rpc !== undefined) ws.send(JSON.stringify({ rpc: msg.rpc, ok: true, result: result ?? null }));
    } catch (e) {
      const error = String((e && e.message) || e);
      if (msg.rpc !== undefined) ws.send(JSON.stringify({ rpc: msg.rpc, ok: false, error }));
      else console.warn(`fake room senders: ${msg.op}: ${error}`);
    }
  }
  ws.onopen = () => { document.getElementById("status").textContent = "connected"; };
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    chain = chain.then(() => run(msg));
  };
  ws.onclose = () => { document.getElementById("status").textContent = "disconnected"; };
})();
