"""The two pages of scripts/bench-opus: a sender (4 Opus tones) and a receiver that captures them one of several ways.

The receiver's "capture" mode is a minimal copy of bot/meeting/capture.js's path (muted <audio>, 16 kHz
AudioContext, the same worklet, 20 ms int16 frames posted from the main thread over a WebSocket); the "opus"
modes take each receiver's encoded frames with an encoded transform in a worker and post them with their RTP
timestamp. Wire format to the sink: byte 0 = 1 (PCM) or 2 (Opus), bytes 2-3 track index (LE), then
PCM: u32 sequence, f64 epoch ms, int16 samples; Opus: u32 RTP timestamp, the Opus payload.
"""

from __future__ import annotations

SENDER_HTML = r"""<!doctype html><meta charset="utf-8"><title>bench-opus sender</title><script>
const gathered = (pc) => new Promise((ok) => {
  if (pc.iceGatheringState === "complete") return ok();
  pc.addEventListener("icegatheringstatechange", () => { if (pc.iceGatheringState === "complete") ok(); });
});
window.pcs = [];
window.makeOffers = async (freqs) => {
  const ctx = new AudioContext({ sampleRate: 48000 });
  await ctx.resume();
  const offers = [];
  for (const f of freqs) {
    // A tone, amplitude-modulated at 3 Hz so that the encoder sees changing content.
    const osc = ctx.createOscillator(), lfo = ctx.createOscillator(), amp = ctx.createGain(), depth = ctx.createGain();
    osc.frequency.value = f; lfo.frequency.value = 3; depth.gain.value = 0.3; amp.gain.value = 0.5;
    lfo.connect(depth).connect(amp.gain);
    const dst = ctx.createMediaStreamDestination();
    osc.connect(amp).connect(dst); osc.start(); lfo.start();
    const pc = new RTCPeerConnection();
    pc.addTrack(dst.stream.getAudioTracks()[0], dst.stream);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    pcs.push(pc);
    offers.push(pc.localDescription.sdp);
  }
  return offers;
};
window.setAnswers = async (answers) => {
  for (let i = 0; i < answers.length; i++) await pcs[i].setRemoteDescription({ type: "answer", sdp: answers[i] });
};
window.packetsSent = async () => {
  const out = [];
  for (const pc of pcs) {
    let n = 0;
    (await pc.getStats()).forEach((s) => { if (s.type === "outbound-rtp" && s.kind === "audio") n += s.packetsSent; });
    out.push(n);
  }
  return out;
};
</script>"""

RECEIVER_HTML = r"""<!doctype html><meta charset="utf-8"><title>bench-opus receiver</title><script>
const SINK = "__SINK__";
const RATE = 16000, CHUNK = 320;
const WORKLET = `
  class NotetakerTap extends AudioWorkletProcessor {
    constructor(options) {
      super();
      this.size = options.processorOptions.chunk;
      this.buf = new Int16Array(this.size);
      this.n = 0;
      this.start = 0;
    }
    process(inputs) {
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
// The encoded-frames tap: one worker for every receiver, its own socket (the page's main thread never sees a frame).
const WORKER = `
  const ws = new WebSocket("${SINK}");
  ws.binaryType = "arraybuffer";
  const waiting = [];
  ws.onopen = () => { while (waiting.length) ws.send(waiting.shift()); };
  const send = (b) => { if (ws.readyState === 1) ws.send(b); else if (waiting.length < 2000) waiting.push(b); };
  function pump(readable, writable, idx, forward) {
    const tap = new TransformStream({ transform(frame, ctl) {
      const md = frame.getMetadata();
      const ts = md.rtpTimestamp !== undefined ? md.rtpTimestamp : frame.timestamp;
      const data = new Uint8Array(frame.data);
      const out = new Uint8Array(8 + data.length);
      const head = new DataView(out.buffer);
      head.setUint8(0, 2); head.setUint8(1, md.payloadType & 0xff);
      head.setUint16(2, idx, true); head.setUint32(4, ts >>> 0, true);
      out.set(data, 8);
      send(out.buffer);
      if (forward) ctl.enqueue(frame);
    }});
    // The pipe ends when another transform replaces this one (e.g. lib-jitsi-meet's E2EE): tell the sink.
    const ended = () => {
      const m = new Uint8Array(8);
      m[0] = 3;
      new DataView(m.buffer).setUint16(2, idx, true);
      send(m.buffer);
    };
    readable.pipeThrough(tap).pipeTo(writable).then(ended, ended);
  }
  self.onrtctransform = (e) => {
    const o = e.transformer.options;
    pump(e.transformer.readable, e.transformer.writable, o.idx, o.forward);
  };
  self.onmessage = (e) => pump(e.data.readable, e.data.writable, e.data.idx, e.data.forward);`;
const blobUrl = (src) => URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
const gathered = (pc) => new Promise((ok) => {
  if (pc.iceGatheringState === "complete") return ok();
  pc.addEventListener("icegatheringstatechange", () => { if (pc.iceGatheringState === "complete") ok(); });
});
window.apis = () => ({
  scriptTransform: typeof RTCRtpScriptTransform === "function",
  createEncodedStreams: typeof RTCRtpReceiver.prototype.createEncodedStreams === "function",
});
window.pcs = [];
window.keep = [];
// mode: floor | element | capture | opus | opus+element; api: script | legacy; forward: re-enqueue each frame.
window.answer = async (offers, mode, api, forward) => {
  const opus = mode.startsWith("opus");
  const cfg = opus && api === "legacy" ? { encodedInsertableStreams: true } : {};
  const worker = opus ? new Worker(blobUrl(WORKER)) : null;
  let ctx = null, ws = null, offset = 0;
  if (mode === "capture") {
    ctx = new AudioContext({ sampleRate: RATE });
    if (ctx.state !== "running") await ctx.resume();
    await ctx.audioWorklet.addModule(blobUrl(WORKLET));
    offset = performance.timeOrigin + performance.now() - ctx.currentTime * 1000;
    ws = new WebSocket(SINK);
    ws.binaryType = "arraybuffer";
    await new Promise((ok) => { ws.onopen = ok; });
  }
  const element = (stream) => {
    const el = new Audio();
    el.muted = true;
    el.srcObject = stream;
    el.play().catch(() => {});
    keep.push(el);
  };
  const onTrack = (ev, idx) => {
    const stream = (ev.streams && ev.streams[0]) || new MediaStream([ev.track]);
    if (opus) {
      if (api === "script") ev.receiver.transform = new RTCRtpScriptTransform(worker, { idx, forward });
      else {
        const s = ev.receiver.createEncodedStreams();
        worker.postMessage({ readable: s.readable, writable: s.writable, idx, forward }, [s.readable, s.writable]);
      }
      if (mode === "opus+element") element(stream);
      return;
    }
    if (mode === "floor") { keep.push(stream); return; }
    element(stream);
    if (mode !== "capture") return;
    const source = ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(ctx, "notetaker-tap", {
      numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1, channelCountMode: "explicit",
      processorOptions: { chunk: CHUNK },
    });
    let seq = 0;
    node.port.onmessage = (e) => {
      const frame = new Uint8Array(16 + e.data.pcm.byteLength);
      const head = new DataView(frame.buffer);
      head.setUint8(0, 1); head.setUint16(2, idx, true); head.setUint32(4, seq++, true);
      head.setFloat64(8, offset + e.data.t * 1000, true);
      frame.set(new Uint8Array(e.data.pcm), 16);
      if (ws.readyState === 1) ws.send(frame.buffer);
    };
    const mute = ctx.createGain();
    mute.gain.value = 0;
    source.connect(node).connect(mute).connect(ctx.destination);
    keep.push(source, node, mute);
  };
  const answers = [];
  for (let idx = 0; idx < offers.length; idx++) {
    const pc = new RTCPeerConnection(cfg);
    pc.ontrack = (ev) => { if (ev.track.kind === "audio") onTrack(ev, idx); };
    await pc.setRemoteDescription({ type: "offer", sdp: offers[idx] });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    pcs.push(pc);
    answers.push(pc.localDescription.sdp);
  }
  return answers;
};
// E2EE probe: a stand-in for lib-jitsi-meet's E2EEContext.handleReceiver, which assigns its own
// RTCRtpScriptTransform (a pass-through here that counts frames) to every receiver after ours.
window.takeOver = () => {
  const src = `let n = 0;
    onrtctransform = (e) => { const t = e.transformer;
      t.readable.pipeThrough(new TransformStream({ transform(f, c) { n++; c.enqueue(f); } })).pipeTo(t.writable); };
    onmessage = () => postMessage(n);`;
  window.other = new Worker(blobUrl(src));
  let n = 0;
  for (const pc of pcs) for (const r of pc.getReceivers()) { r.transform = new RTCRtpScriptTransform(other, {}); n++; }
  return n;
};
window.otherFrames = () => new Promise((ok) => {
  other.onmessage = (e) => ok(e.data);
  other.onerror = (e) => ok("worker error: " + e.message);
  other.postMessage(0);
  setTimeout(() => ok("no answer"), 2000);
});
// What a second taker of the legacy streams (or of a transform on a legacy receiver) gets.
window.secondTaker = () => {
  const r = pcs[0].getReceivers()[0], out = {};
  try { r.createEncodedStreams(); out.createEncodedStreams = "ok"; } catch (e) { out.createEncodedStreams = String(e); }
  try { r.transform = new RTCRtpScriptTransform(new Worker(blobUrl("")), {}); out.transform = "ok"; }
  catch (e) { out.transform = String(e); }
  return out;
};
// Per receiver: RTP packets received and samples NetEq decoded (does Chromium decode what nothing renders?).
window.inbound = async () => {
  const out = [];
  for (const pc of pcs) {
    const row = { packets: 0, decoded: 0, concealed: 0 };
    (await pc.getStats()).forEach((s) => {
      if (s.type !== "inbound-rtp" || s.kind !== "audio") return;
      row.packets += s.packetsReceived || 0;
      row.decoded += s.totalSamplesReceived || 0;
      row.concealed += s.concealedSamples || 0;
    });
    out.push(row);
  }
  return out;
};
</script>"""
