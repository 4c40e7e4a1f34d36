/*
 * The fake room's participant audio, one implementation for both pages that make it: the room page (senders in
 * the bot's own page) and the sender page (remote senders). `FakeRoomSources(newContext)` returns
 * {ctx, make, stop}: `make(spec)` builds a source ({src, carrier, gain}) from a participant spec (a tone or a
 * WAV from /media/, a gain), `stop(source)` ends it, `ctx()` is the one AudioContext (made by `newContext`).
 * `FakeRoomSources.gathered(pc)`: both ends of a remote slot wait for complete ICE gathering with it.
 */
window.FakeRoomSources = function (newContext) {
  "use strict";

  let audioCtx = null;
  const wavCache = new Map();
  function ctx() {
    if (!audioCtx) audioCtx = newContext();
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
  async function make(spec) {
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
    return { src, carrier, gain };
  }
  function stop(source) {
    for (const node of [source.src, source.carrier]) {
      try { if (node) node.stop(); } catch (e) { /* already stopped */ }
    }
    if (source.gain) source.gain.disconnect();
  }
  return { ctx, make, stop };
};

/** Wait until ICE gathering is complete: the description then carries every (loopback) candidate. */
window.FakeRoomSources.gathered = async function (pc) {
  "use strict";

  if (pc.iceGatheringState === "complete") return;
  await Promise.race([
    new Promise((resolve) => pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    })),
    new Promise((resolve) => setTimeout(resolve, 5000)),
  ]);
};
