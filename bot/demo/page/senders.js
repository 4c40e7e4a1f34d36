/*
 * The fake room's remote senders (FakeJitsiRoom(remote_senders=True)): the participants' sources (a tone or a
 * WAV, a silent carrier, a gain) and the sending half of every audio slot (a MediaStreamAudioDestinationNode
 * and pcA) run in this page, in a browser of their own, so the bot's browser does only what a real meeting
 * asks of it: receive (pcB). Driven by the room page over /senders (relayed by bot/demo/room.py): requests
 * {rpc?, op, args}, answered {rpc, ok, result?, error?} when they carry an rpc id, run one at a time in order.
 */
(function () {
  "use strict";

  const audio = window.FakeRoomSources(() => new AudioContext());
  const ctx = audio.ctx;
  const sources = new Map(); // source id -> {src, carrier, gain}
  const slots = new Map(); // slot id -> {dest, pcA, silent}

  const gathered = window.FakeRoomSources.gathered;
  const needSlot = (id) => {
    const slot = slots.get(id);
    if (!slot) throw new Error(`unknown slot ${id}`);
    return slot;
  };
  function stopSource(id) {
    const s = sources.get(id);
    if (!s) return;
    audio.stop(s);
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
      const source = await audio.make(spec);
      stopSource(id);
      sources.set(id, source);
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
