"""The seed's capture design, for scripts/bench: one main-thread ScriptProcessor(4096) mixing every remote
track at the default 44.1 kHz, int16 buffers sent over a WebSocket. Also the resource sampler both runs use."""

from __future__ import annotations

import asyncio
import json
import os
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from aiohttp import WSMsgType, web
from playwright.async_api import async_playwright

from bot.config import DEBIAN_CHROMIUMS
from bot.demo.room import FakeJitsiRoom
from bot.demo.senders import SENDER_MARKER
from bot.meeting.browser import LAUNCH_ARGS

GROUPS = ("chromium", "python", "driver", "senders")
MEMORY = ("rss", "pss")  # PSS shares pages between processes out; RSS counts them in each
BUFFER = 4096

# Hooks the same library event as the bot (APP.conference._room 'conference.trackAdded'). Each message is
# a float64 capture time (epoch ms of the buffer's first sample) followed by the int16 samples.
SEED_JS = r"""
(() => {
  const URL_ = "__WS_URL__", N = __BUFFER__;
  let ctx = null, proc = null, ws = null, room = null, offsetMs = 0, lastPlay = null;
  const stats = { buffers: 0, discontinuities: 0, sampleRate: 0 };
  window.__seedStats = () => stats;
  function sync() {
    const o = performance.timeOrigin + performance.now() - ctx.currentTime * 1000;
    if (!offsetMs || Math.abs(o - offsetMs) > 50) offsetMs = o;
  }
  function setup() {
    ctx = new AudioContext();  // the default rate: 44.1 kHz here
    stats.sampleRate = ctx.sampleRate;
    ws = new WebSocket(URL_);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => ws.send(JSON.stringify({ sample_rate: ctx.sampleRate }));
    proc = ctx.createScriptProcessor(N, 1, 1);
    proc.onaudioprocess = (ev) => {
      const x = ev.inputBuffer.getChannelData(0), rate = ctx.sampleRate;
      // playbackTime jitters by whole render quanta (the audio callback's size); a skipped or repeated
      // buffer moves it by a whole buffer, so a step off by more than half a buffer is a discontinuity.
      if (lastPlay !== null && Math.abs(ev.playbackTime - lastPlay - N / rate) > N / 2 / rate) stats.discontinuities++;
      lastPlay = ev.playbackTime;
      stats.buffers++;
      if (!offsetMs) sync();
      const out = new ArrayBuffer(8 + 2 * N), pcm = new Int16Array(out, 8);
      // Chromium: playbackTime = the fill's end + one buffer, so the first input sample is 2 buffers back.
      new DataView(out).setFloat64(0, offsetMs + (ev.playbackTime - 2 * N / rate) * 1000, true);
      for (let i = 0; i < N; i++) {
        const v = x[i];
        pcm[i] = v >= 1 ? 32767 : v <= -1 ? -32768 : Math.round(v * 32767);
      }
      if (ws.readyState === 1) ws.send(out);
    };
    proc.connect(ctx.destination);
    setInterval(sync, 10000);
  }
  function onTrack(track) {
    if (!track || (track.isLocal && track.isLocal())) return;
    if ((track.getType ? track.getType() : track.type) !== "audio") return;
    if (!ctx) setup();
    const stream = (track.getOriginalStream && track.getOriginalStream()) || new MediaStream([track.getTrack()]);
    const el = new Audio();  // Chromium delivers remote WebRTC audio to Web Audio only while an element plays it
    el.muted = true;
    el.srcObject = stream;
    el.play().catch(() => {});
    ctx.createMediaStreamSource(stream).connect(proc);
  }
  setInterval(() => {
    const r = window.APP && window.APP.conference && window.APP.conference._room;
    if (r && r !== room && r.on) { room = r; r.on("conference.trackAdded", onTrack); }
  }, 200);
})();
"""


def other_chromium(bot: Path | None) -> Path | None:
    """A Debian Chromium binary other than the bot's, for the fake room's sender browser, or None (the same one).

    Two browsers of one binary share its pages, and PSS splits them between the two: the bot's figure would
    be lower than on its own. Another binary shares only the common libraries.
    """
    others = [c for c in DEBIAN_CHROMIUMS if c.exists() and (bot is None or c.resolve() != bot.resolve())]
    return others[0] if others else None


def sender_pids(me: psutil.Process, procs: list[psutil.Process]) -> set[int]:
    """The fake room's sender browsers among ``procs`` (``me``'s descendants): every process of their trees
    (the root has SENDER_MARKER on its command line) and the Playwright driver that launched each."""
    pids: set[int] = set()
    for p in procs:
        try:
            if SENDER_MARKER not in p.cmdline():
                continue
            pids |= {p.pid, *(c.pid for c in p.children(recursive=True))}
            if (parent := p.parent()) is not None and parent.pid != me.pid:
                pids.add(parent.pid)
        except psutil.Error:
            continue
    return pids


class Sampler:
    """CPU seconds and peak memory (RSS and PSS, MB) of Chromium's process tree, this process and Playwright's
    driver, and their sum ("total": the bot); the fake room's sender browser (its Chromium and driver) on its own
    as "senders", outside the total."""

    def __init__(self) -> None:
        self.me = psutil.Process()
        self.first: dict[int, float] = {}
        self.last: dict[int, tuple[str, float]] = {}
        self.peak = {g: dict.fromkeys(MEMORY, 0.0) for g in (*GROUPS, "total")}
        self.count, self.started, self.ended = 0, 0.0, 0.0

    def _group(self, p: psutil.Process, senders: set[int]) -> str | None:
        if p.pid == self.me.pid:
            return "python"
        if p.pid in senders:
            return "senders"
        name, cmd = p.name(), " ".join(p.cmdline())
        if name.startswith("node") or "run-driver" in cmd:
            return "driver"
        return "chromium" if "chromium" in f"{name} {cmd}" else None

    def sample(self) -> None:
        sums = {g: dict.fromkeys(MEMORY, 0.0) for g in (*GROUPS, "total")}
        procs = [self.me, *self.me.children(recursive=True)]
        senders = sender_pids(self.me, procs)
        for p in procs:
            try:
                with p.oneshot():
                    if (group := self._group(p, senders)) is None:
                        continue
                    t = p.cpu_times()
                    try:
                        mem: Any = p.memory_full_info()
                    except psutil.AccessDenied:
                        mem = p.memory_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            self.first.setdefault(p.pid, t.user + t.system if self.count == 0 else 0.0)
            self.last[p.pid] = (group, t.user + t.system)
            for key in MEMORY:
                mb = getattr(mem, key, 0) / 2**20
                sums[group][key] += mb
                if group != "senders":
                    sums["total"][key] += mb
        now = time.monotonic()
        for g, values in sums.items():
            for key in MEMORY:
                self.peak[g][key] = max(self.peak[g][key], values[key])
        self.started = self.started if self.count else now
        self.ended, self.count = now, self.count + 1

    async def run(self, seconds: float) -> None:
        """Sample once a second for ``seconds`` (off the event loop: the bot's bridge shares it)."""
        start = time.monotonic()
        for k in range(int(seconds) + 1):
            await asyncio.sleep(max(0.0, start + k - time.monotonic()))
            await asyncio.to_thread(self.sample)

    def result(self) -> dict[str, dict[str, float]]:
        """Per group: vCPU and CPU seconds per minute since the first sample, peak RSS and PSS (MB)."""
        cpu = dict.fromkeys((*GROUPS, "total"), 0.0)
        for pid, (group, seconds) in self.last.items():
            cpu[group] += seconds - self.first[pid]
            if group != "senders":
                cpu["total"] += seconds - self.first[pid]
        wall = max(self.ended - self.started, 1e-9)
        return {g: {"vcpu": round(cpu[g] / wall, 3), "cpu_s_per_min": round(cpu[g] / wall * 60, 2),
                    **{f"peak_{k}_mb": round(self.peak[g][k], 1) for k in MEMORY}}
                for g in (*GROUPS, "total")}


def machine() -> dict[str, Any]:
    info = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    model = next((ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")), "unknown")
    try:
        version = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True,
                                 timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        version = "?"
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_model": model, "chromium": version}


class SeedSink:
    """The seed's receiving end: counts samples and keeps (arrival ms, capture ms, samples) per buffer."""

    def __init__(self) -> None:
        self.rate = 0
        self.buffers: list[tuple[float, float, int]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/seed", self._ws)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"ws://127.0.0.1:{self.runner.addresses[0][1]}/seed"

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.rate = int(json.loads(msg.data)["sample_rate"])
            elif msg.type == WSMsgType.BINARY:
                (capture_ms,) = struct.unpack_from("<d", msg.data)
                self.buffers.append((time.time() * 1000, capture_ms, (len(msg.data) - 8) // 2))
        return ws

    def figures(self, t0_ms: float, t1_ms: float) -> dict[str, Any]:
        """Delivery and latency for the buffers that arrived between t0_ms and t1_ms (epoch ms)."""
        rows = np.array([b for b in self.buffers if t0_ms <= b[0] <= t1_ms] or [(0.0, 0.0, 0)], dtype=float)
        arrival, capture, n = rows[:, 0], rows[:, 1], rows[:, 2]
        rate, dur_ms = max(self.rate, 1), BUFFER / max(self.rate, 1) * 1000
        expected = (capture[-1] - capture[0]) * rate / 1000 + n[-1]
        gaps = np.diff(arrival) if len(arrival) > 1 else np.zeros(1)
        return {
            "sample_rate": self.rate, "buffers": len(rows), "samples": int(n.sum()),
            "samples_pct": round(float(100 * n.sum() / max(expected, 1)), 2),
            "samples_wall_pct": round(float(100 * n.sum() / max((t1_ms - t0_ms) * rate / 1000, 1)), 2),
            "latency_p95_ms": round(float(np.percentile(arrival - capture, 95)), 1),
            "gap_p95_ms": round(float(np.percentile(gaps, 95)), 1), "gap_max_ms": round(float(gaps.max()), 1),
            "late_gaps": int((gaps > 2 * dur_ms).sum()),
        }

    async def aclose(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def run_seed(media: Path, speakers: list[tuple[str, str, str]], talk_s: float) -> dict[str, Any]:
    """The seed capture in its own Chromium on a fake room: the speakers (pid, name, wav) talk for talk_s."""
    sink = SeedSink()
    await sink.start()
    script = SEED_JS.replace("__WS_URL__", sink.url).replace("__BUFFER__", str(BUFFER))
    try:
        async with FakeJitsiRoom(media_dir=media) as room, async_playwright() as pw:
            t_start = time.monotonic()  # like the bot's join time: browser launch → in the call
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                              args=[*LAUNCH_ARGS, "--allow-loopback-in-peer-connection"])
            try:
                context = await browser.new_context(bypass_csp=True)
                await context.add_init_script(script=script)
                page = await context.new_page()
                # As the bot, skip the prejoin screen the page shows by default.
                await page.goto(room.url(audio_elements=False) + "#config.prejoinConfig.enabled=false",
                                wait_until="load")
                await room.wait_event("bot_joined", timeout=60)
                join_s = time.monotonic() - t_start
                await asyncio.gather(*(room.add_participant(pid, name, wav=wav, loop=False)
                                       for pid, name, wav in speakers))
                t0_ms, sampler = time.time() * 1000, Sampler()
                await sampler.run(talk_s)
                for pid, _, _ in speakers:
                    await room.remove_participant(pid)
                t1_ms = time.time() * 1000
                stats = await page.evaluate("window.__seedStats()")
            finally:
                await browser.close()
    finally:
        await sink.aclose()
    return {"join_s": round(join_s, 2), **sink.figures(t0_ms, t1_ms),
            "discontinuities": int(stats["discontinuities"]), "page_buffers": int(stats["buffers"]),
            "talk_s": round((t1_ms - t0_ms) / 1000, 1), "resources": sampler.result()}
