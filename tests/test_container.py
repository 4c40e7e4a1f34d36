"""The image, built and run for real: one container per meeting (scripts/test-container runs only these).

A Docker engine of the tests' own (tests/container/engine.py) builds the project's Dockerfile unchanged on a
``python:3.11-slim`` stand-in made from Debian's packages (no registry is reachable here). The bot in the
image joins the fake room on the host (``--network host``), records into a bind-mounted ``/out``, answers
its health check and leaves on ``docker stop``; ``jitsi-bot demo`` runs in the image too, its meeting ends by
itself and the notes reach the demo's SMTP sink.
"""

from __future__ import annotations

import asyncio
import email
import json
import os
import time
import wave
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import aiodocker
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from bot.config import ServeSettings
from bot.demo.meeting import MEETING
from bot.demo.room import FakeJitsiRoom
from bot.demo.speech import RATE, tone_wav
from bot.serve.docker import INTERRUPTED, LOG_TAIL_BYTES, DockerLauncher
from bot.serve.launcher import LABEL_APP, LABEL_APP_VALUE, LABEL_BOT, LABEL_SERVER, LOG_FILE, LaunchError, server_id
from bot.serve.model import JOIN_URL_ENV, Exited, LaunchSpec
from bot.status import BotFiles
from tests.conftest import TEST_BROWSER_ARGS, dominant_hz, until, wav_mono
from tests.container.base import ensure_base
from tests.container.engine import DockerEngine, unavailable_reason

pytestmark = [pytest.mark.container, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "jitsi-notetaker:test"
IMAGE_UID = 10001  # the Dockerfile's notetaker user


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    docker = DockerEngine()
    docker.start()
    try:
        yield docker
    finally:
        docker.stop()
    assert docker.leftovers() == [], docker.leftovers()


@pytest.fixture(scope="module")
def image(engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Build the base stand-in if needed, then the project's Dockerfile; sizes and times for the record."""
    log = tmp_path_factory.mktemp("build") / "build.log"
    started = time.monotonic()
    built_base = ensure_base(engine, log)
    base_s = time.monotonic() - started
    started = time.monotonic()
    build = engine.docker("build", "--network", "host", "-t", IMAGE, str(ROOT), check=False, timeout=1800)
    build_s = time.monotonic() - started
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-2000:]

    def size(ref: str) -> int:
        return int(engine.docker("image", "inspect", "--format", "{{.Size}}", ref).stdout)

    facts = {"image_bytes": size(IMAGE), "base_bytes": size("python:3.11-slim"), "build_s": round(build_s, 1),
             "base_s": round(base_s, 1) if built_base else None}
    own = facts["image_bytes"] - facts["base_bytes"]
    print(f"\nimage {IMAGE}: {facts['image_bytes'] / 1e9:.2f} GB ({own / 1e9:.2f} GB above the python:3.11-slim "
          f"base of {facts['base_bytes'] / 1e9:.2f} GB); built in {build_s:.0f} s"
          + (f", base stand-in made in {base_s:.0f} s" if built_base else ", base cached"))
    return facts


def _out_dir(tmp_path: Path) -> Path:
    """A bind mount for /out, writable by the image's user (the README's first way)."""
    out = tmp_path / "out"
    out.mkdir()
    os.chown(out, IMAGE_UID, IMAGE_UID)
    return out


async def _run(engine: DockerEngine, name: str, out: Path, url: str, env: dict[str, str]) -> None:
    args = ["run", "-d", "--name", name, "--network", "host", "--shm-size", "512m",
            "--health-interval", "2s", "--health-start-period", "5s", "--health-retries", "2",
            "-v", f"{out}:/out", "-e", f"BOT_BROWSER__EXTRA_ARGS={json.dumps(TEST_BROWSER_ARGS)}"]
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    code, _, err = await engine.adocker(*args, IMAGE, "join", url, "--out", "/out/meeting")
    assert code == 0, err


async def _state(engine: DockerEngine, name: str) -> dict[str, Any]:
    _, out, _ = await engine.adocker("inspect", "--format", "{{json .State}}", name)
    result: dict[str, Any] = json.loads(out)
    return result


async def _until_healthy(engine: DockerEngine, name: str, timeout_s: float = 60) -> float:
    started = time.monotonic()
    async with asyncio.timeout(timeout_s):
        while ((await _state(engine, name)).get("Health") or {}).get("Status") != "healthy":
            await asyncio.sleep(0.5)
    return time.monotonic() - started


async def _exit_code(engine: DockerEngine, name: str, timeout_s: float = 120) -> int:
    async with asyncio.timeout(timeout_s):
        while (state := await _state(engine, name))["Running"]:
            await asyncio.sleep(0.5)
    return int(state["ExitCode"])


class Footprint:
    """Samples ``docker stats`` (the container's cgroup: the bot, its Chromium and Playwright's driver)."""

    def __init__(self, engine: DockerEngine, name: str) -> None:
        self._engine, self._name = engine, name
        self.cpu: list[float] = []
        self.mem_mib: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            code, out, _ = await self._engine.adocker("stats", "--no-stream", "--format", "{{json .}}", self._name)
            if code == 0 and out.strip():
                row = json.loads(out)
                self.cpu.append(float(row["CPUPerc"].rstrip("%")) / 100)
                used = row["MemUsage"].split("/")[0].strip()
                factor = {"KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0}
                self.mem_mib.append(next(float(used[: -len(u)]) * f for u, f in factor.items() if used.endswith(u)))
            await asyncio.sleep(1)

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample(), name="container.stats")

    async def stop(self) -> str:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if not self.cpu:
            return "no samples"
        return (f"CPU mean {sum(self.cpu) / len(self.cpu):.2f} / peak {max(self.cpu):.2f} vCPU, memory peak "
                f"{max(self.mem_mib):.0f} MiB ({len(self.cpu)} samples)")


async def test_a_meeting_in_the_container_stops_gracefully(
    engine: DockerEngine, image: dict[str, Any], room: FakeJitsiRoom, media_dir: Path, tmp_path: Path
) -> None:
    out = _out_dir(tmp_path)
    tone_wav(media_dir / "ann.wav", 440, 30)
    tone_wav(media_dir / "ben.wav", 660, 30)
    name = "jnt-stop"
    started = time.monotonic()
    await _run(engine, name, out, room.url(), {})
    try:
        joined = await room.wait_event("bot_joined", timeout=90)
        join_s = time.monotonic() - started
        assert joined["display_name"] == "Notetaker"
        await room.add_participant("ann01", "Ann", wav="ann.wav", loop=False)
        await room.add_participant("ben02", "Ben", wav="ben.wav", loop=False)
        healthy_s = await _until_healthy(engine, name)
        await asyncio.sleep(4)
        stop_started = time.monotonic()
        assert (await engine.adocker("stop", "-t", "30", name))[0] == 0
        stop_s = time.monotonic() - stop_started
        code = await _exit_code(engine, name)
        logs = (await engine.adocker("logs", name))[2]
    finally:
        await engine.adocker("rm", "-f", name)
    print(f"\ncontainer: joined after {join_s:.1f} s, healthy {healthy_s:.1f} s after that, "
          f"docker stop took {stop_s:.1f} s")
    assert code == 0, logs[-3000:]
    meeting = json.loads((out / "meeting" / "meeting.json").read_text())
    assert meeting["end_reason"] == "stopped" and meeting["exit_code"] == 0
    assert (out / "meeting" / "report.json").is_file()
    wavs = {p.name: p for p in (out / "meeting" / "audio").glob("*.wav")}
    assert sorted(wavs) == ["Ann-ann01.wav", "Ben-ben02.wav"]
    for path, hz in ((wavs["Ann-ann01.wav"], 440), (wavs["Ben-ben02.wav"], 660)):
        assert path.stat().st_uid == IMAGE_UID
        with wave.open(str(path)) as w:  # closed properly: the header counts exactly the data
            assert w.getnframes() > 3 * RATE and 44 + 2 * w.getnframes() == path.stat().st_size
        assert abs(dominant_hz(wav_mono(path)) - hz) < 10


async def test_the_demo_runs_in_the_container_and_its_meeting_ends_by_itself(
    engine: DockerEngine, image: dict[str, Any], tmp_path: Path
) -> None:
    # `jitsi-bot demo` in the image: espeak-ng speaks the launch review, the stand-in room (part of the
    # package) serves it, the bot joins it, transcribes three people live, leaves when they have gone and
    # emails the notes to the demo's SMTP sink.
    out = _out_dir(tmp_path)
    name = "jnt-demo"
    args = ["run", "-d", "--name", name, "--network", "host", "--shm-size", "512m", "-v", f"{out}:/out"]
    code, _, err = await engine.adocker(*args, IMAGE, "demo", "--out", "/out/demo")
    assert code == 0, err
    footprint = Footprint(engine, name)
    footprint.start()
    try:
        code = await _exit_code(engine, name, timeout_s=300)
        print(f"\ncontainer, the demo (3 people, ~45 s, transcribed live): {await footprint.stop()}")
        _, stdout, stderr = await engine.adocker("logs", name)
        logs = stdout + stderr
    finally:
        await footprint.stop()
        await engine.adocker("rm", "-f", name)
    assert code == 0, logs[-3000:]
    demo = out / "demo"
    assert json.loads((demo / "meeting.json").read_text())["end_reason"] == "room_empty"
    message = email.message_from_bytes((demo / "received-email.eml").read_bytes(), policy=policy.default)
    body = message.get_body(("plain",))
    assert body is not None and all(person in body.get_content() for person in MEETING.voices)
    report = json.loads((demo / "report.json").read_text())
    assert "faster-whisper" in report["recognizer"] and report["action_items"], report["warnings"]


# ---------------------------------------------------------------- jitsi-bot serve's docker launcher


def _launcher(engine: DockerEngine, **settings: Any) -> DockerLauncher:
    return DockerLauncher(ServeSettings(**{"docker_network": "host", **settings}), f"unix://{engine.socket}")


async def test_the_docker_launcher_says_why_it_cannot_launch(engine: DockerEngine, tmp_path: Path) -> None:
    # No image needed: the engine refuses before anything runs.
    spec = LaunchSpec(bot_id="nope", meeting_url="https://meet.example.org/Room")
    launcher = _launcher(engine, image="jitsi-notetaker:absent")
    try:
        with pytest.raises(LaunchError, match=r"image 'jitsi-notetaker:absent' is not on the Docker engine"):
            await launcher.launch(spec, tmp_path / "bots" / "nope")
        assert (tmp_path / "bots" / "nope").is_dir()
        assert await launcher.running() == {}
    finally:
        await launcher.aclose()
    gone = DockerLauncher(ServeSettings(image=IMAGE), f"unix://{tmp_path}/no-engine.sock")
    try:
        with pytest.raises(LaunchError, match="is unreachable"):
            await gone.launch(spec, tmp_path / "bots" / "nope")
        with pytest.raises(LaunchError, match="cannot list the containers"):
            await gone.running()
        with capture_logs() as logs:
            await gone.stop("f" * 64, 5)  # never raises, not even in its task: the failure is logged
            await until(lambda: any(e["event"] == "serve.docker.stop_failed" for e in logs), timeout=30)
    finally:
        await gone.aclose()


async def test_the_docker_launcher_runs_a_bot_stops_it_and_reattaches(
    engine: DockerEngine, image: dict[str, Any], room: FakeJitsiRoom, tmp_path: Path
) -> None:
    # The server's way: a container per bot with its folder bind-mounted, the room password through the
    # environment, serve.bot_config mounted (it names the bot), serve.bot_env passed on (the browser flags
    # the fake room needs); then a fresh launcher (a restarted server) finds it by label, stops it through
    # `docker stop` and collects its exit code, which removes the container.
    config = tmp_path / "bot.toml"
    config.write_text('[meeting]\nname = "Docker Notetaker"\n', encoding="utf-8")
    password = "pw-not-in-any-log"
    settings = {"image": IMAGE, "bot_config": config, "stop_grace_s": 30, "docker_network": "host",
                "bot_env": ["BOT_BROWSER__EXTRA_ARGS", "BOT_UNSET_HERE"]}
    environ = {"BOT_BROWSER__EXTRA_ARGS": json.dumps(TEST_BROWSER_ARGS), "OTHER": "not passed"}
    spec = LaunchSpec(bot_id="b1", meeting_url=room.url(password=password), password=SecretStr(password),
                      labels={"team": "qa"})
    out = tmp_path / "bots" / "b1"
    victim = tmp_path / "victim"
    victim.write_text("the server's own file\n", encoding="utf-8")
    first = DockerLauncher(ServeSettings(**settings), f"unix://{engine.socket}", environ=environ)
    second = _launcher(engine, **settings)
    try:
        with capture_logs() as logs:
            ref = await first.launch(spec, out)
        assert password not in repr(logs)
        facts = json.loads((await engine.adocker("inspect", ref))[1])[0]
        assert facts["Name"] == "/notetaker-b1"
        assert facts["Config"]["Labels"].items() >= {LABEL_APP: LABEL_APP_VALUE, LABEL_BOT: "b1", "team": "qa",
                                                     LABEL_SERVER: server_id(ServeSettings())}.items()
        # the meeting URL (its password in the query) is in the environment, not in the command line
        assert facts["Config"]["Cmd"][:2] == ["join", "-"] and facts["Args"][facts["Args"].index("join") + 1] == "-"
        assert password not in json.dumps([facts["Config"]["Cmd"], facts["Path"], facts["Args"]])
        assert facts["HostConfig"]["ShmSize"] >= 512 << 20 and facts["HostConfig"]["AutoRemove"] is False
        env = dict(e.split("=", 1) for e in facts["Config"]["Env"])
        assert "OTHER" not in env and "BOT_UNSET_HERE" not in env
        assert env["BOT_MEETING__PASSWORD"] == password and env[JOIN_URL_ENV] == spec.meeting_url
        # host network: the bots share the host's loopback, so each audio bridge takes a free port
        assert env["BOT_BRIDGE__PORT"] == "0" and facts["Config"]["Healthcheck"]["Test"] == ["NONE"]
        with pytest.raises(LaunchError, match="exists already"):  # never started twice
            await second.launch(spec, out)

        joined = await room.wait_event("bot_joined", timeout=90)
        assert joined["display_name"] == "Docker Notetaker"  # the mounted config
        assert (await room.state())["password_tries"] == [password]  # from the environment
        await room.add_participant("ann01", "Ann", tone_hz=440)
        files = BotFiles(out)  # what the server reads through the bind mount
        async with asyncio.timeout(60):
            while ((status := files.status()) or {}).get("state") != "in_call" or status["participants"] != 1:
                await asyncio.sleep(0.5)

        assert await second.running() == {"b1": ref}
        (out / LOG_FILE).symlink_to(victim)  # what a hostile bot could leave for wait to write through
        await second.stop(ref, grace_s=30)
        ended = await second.wait(ref)
        assert ended.exit_code == 0 and ended.reason is None, ended
        assert await second.running() == {}
        assert (await engine.adocker("inspect", ref))[0] != 0  # removed
    finally:
        await first.aclose()
        await second.aclose()
        await engine.adocker("rm", "-f", "notetaker-b1")
    meeting = json.loads((out / "meeting.json").read_text())
    assert meeting["end_reason"] == "stopped" and meeting["exit_code"] == 0
    assert (out / "report.json").is_file()
    status = BotFiles(out).status()
    assert status is not None and (status["state"], status["end_reason"], status["exit_code"]) == ("done", "stopped", 0)
    # the end of the bot's output was kept in its folder before the container went
    assert victim.read_text(encoding="utf-8") == "the server's own file\n"
    saved = out / LOG_FILE
    assert not saved.is_symlink() and 0 < saved.stat().st_size <= LOG_TAIL_BYTES
    text = saved.read_text(encoding="utf-8")
    assert '"session.ended"' in text and password not in text


async def test_the_docker_launcher_removes_a_container_never_started_and_keeps_to_its_own(
    engine: DockerEngine, image: dict[str, Any], tmp_path: Path
) -> None:
    # The server stopped between creating a bot's container and starting it: a restarted server finds it by
    # label, and its wait removes it as an interrupted launch instead of reading the engine's "exit code 0"
    # of a container that never ran. A server with another data_dir on the same engine never sees it.
    data_dir = tmp_path / "data"
    async with aiodocker.Docker(url=f"unix://{engine.socket}") as docker:
        container = await docker.containers.create({
            "Image": IMAGE, "Cmd": ["join", "-", "--out", "/out"],
            "Labels": {LABEL_APP: LABEL_APP_VALUE, LABEL_SERVER: server_id(ServeSettings(data_dir=data_dir)),
                       LABEL_BOT: "cut1"},
        }, name="notetaker-cut1")
    restarted = _launcher(engine, image=IMAGE, data_dir=data_dir)
    other = _launcher(engine, image=IMAGE, data_dir=tmp_path / "other")
    try:
        assert await other.running() == {}
        assert await restarted.running() == {"cut1": container.id}
        assert await asyncio.wait_for(restarted.wait(container.id), 60) == Exited(None, INTERRUPTED)
        assert await restarted.running() == {}
        assert (await engine.adocker("inspect", container.id))[0] != 0  # removed
    finally:
        await restarted.aclose()
        await other.aclose()
        await engine.adocker("rm", "-f", "notetaker-cut1")
