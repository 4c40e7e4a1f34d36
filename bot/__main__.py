"""Command line: ``jitsi-bot join URL`` (also ``python -m bot``).

Exit codes: 0 the meeting ended normally; 1 it failed after joining (media lost, browser crash);
2 bad input or configuration; 3 could not join.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from bot import __version__
from bot.config import ConfigError, Settings, load_settings
from bot.log import bind_meeting, configure_logging
from bot.outcome import ExitCode, new_meeting_id
from bot.serve.model import JOIN_URL_ENV as URL_ENV
from bot.session import MeetingSession


def build_parser() -> argparse.ArgumentParser:
    """The ``jitsi-bot`` argument parser."""
    parser = argparse.ArgumentParser(prog="jitsi-bot", description="A notetaker bot for Jitsi Meet.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    join = sub.add_parser("join", help="join a meeting and record everyone's audio until the room empties")
    join.add_argument("url", help="meeting URL, e.g. https://meet.example.org/MyRoom; - reads it from the "
                      f"environment variable {URL_ENV} (a ?jwt= in it stays out of the process list)")
    join.add_argument("--name", help="display name in the meeting (meeting.name)")
    join.add_argument("--out", type=Path, help="folder for this meeting's artifacts "
                      "(default: <output.dir>/<meeting id>)")
    join.add_argument("--config", type=Path, help="TOML configuration file (see config.example.toml)")
    join.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="log.level")
    join.add_argument("--backend", choices=["local", "symbl"], help="conversation backend (backend)")
    join.add_argument("--email", action="append", metavar="ADDR", help="email the summary here (email.to); repeatable")
    join.add_argument("--webhook", metavar="URL", help="POST the report here (webhook.url)")

    demo = sub.add_parser("demo", help="a local demo meeting: three people talk, the bot takes notes and "
                          "emails them to a local SMTP sink (needs espeak-ng and Chromium)")
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="artifact folder (default: out/demo)")

    dlv = sub.add_parser("deliver", help="send a finished meeting's pending email/webhook deliveries",
                         description="Send a finished meeting's pending deliveries. Those refused for good (a "
                         "configuration error, a 4xx) are listed, not tried again: fix the configuration, then "
                         "give --retry-failed. Exit 0: nothing left; 4: something is still undelivered.")
    dlv.add_argument("dir", type=Path, help="the meeting's artifact folder (holding report.json and outbox/)")
    dlv.add_argument("--retry-failed", action="store_true",
                     help="also try the deliveries that failed permanently (after fixing the configuration)")
    dlv.add_argument("--config", type=Path, help="TOML configuration file")
    dlv.add_argument("--email", action="append", metavar="ADDR", help="also email the summary here")
    dlv.add_argument("--webhook", metavar="URL", help="also POST the report here")
    dlv.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="log.level")

    srv = sub.add_parser("serve", help="a web page and REST API that start one bot per meeting",
                         description="Serve the REST API (and web page) that starts one `jitsi-bot join` per "
                         "meeting: locally, in Docker or as Kubernetes Jobs ([serve] in the config; "
                         "serve.api_token is required).")
    srv.add_argument("--config", type=Path, help="TOML configuration file")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    srv.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080; 0: any free)")
    srv.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="log.level")

    rep = sub.add_parser("replay", help="transcribe and analyse recorded audio, one WAV per participant")
    rep.add_argument("wavs", nargs="+", type=Path, help="one WAV per participant, on a shared timeline")
    rep.add_argument("--names", help="comma-separated display names, in the order of the files")
    rep.add_argument("--title", help="meeting title for the report")
    rep.add_argument("--backend", choices=["local", "symbl"], help="conversation backend (backend)")
    rep.add_argument("--out", type=Path, help="folder for the report (default: <output.dir>/replay-<time>)")
    rep.add_argument("--config", type=Path, help="TOML configuration file")
    rep.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="log.level")
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    over: dict[str, Any] = {}
    if getattr(args, "name", None):
        over.setdefault("meeting", {})["name"] = args.name
    if args.log_level:
        over.setdefault("log", {})["level"] = args.log_level
    if getattr(args, "backend", None):
        over["backend"] = args.backend
    if getattr(args, "email", None):
        over.setdefault("email", {})["to"] = args.email
    if getattr(args, "webhook", None):
        over.setdefault("webhook", {})["url"] = args.webhook
    return over


BACKSTOP_S = 15.0  # past the stop deadline: writing the files is quick, waiting longer means a hang


async def _join(settings: Settings, url: str, out_dir: Path, meeting_id: str) -> ExitCode:
    from bot.backends import create_backend
    from bot.llm import llm_summary

    session = MeetingSession(settings, url, out_dir, meeting_id=meeting_id, backend=create_backend(settings),
                             summary=llm_summary(settings.llm))
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(None) as scope:
            task = asyncio.create_task(session.run(), name="session.run")

            def _on_signal() -> None:
                first = session.deadline.at is None
                session.request_stop()  # the session keeps its own deadline (a second signal hurries it)
                if first:  # a backstop for a hang the deadline cannot reach; never moved later
                    scope.reschedule(loop.time() + settings.meeting.shutdown_grace_s + BACKSTOP_S)

            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, _on_signal)
            result = await task
    except TimeoutError:
        structlog.get_logger(__name__).error("session.shutdown_timeout")
        result = session.abandon()
        print(f"jitsi-bot: {result.message}", file=sys.stderr)
        return result.exit_code
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    if result.exit_code in (ExitCode.OK, ExitCode.DELIVERY_PENDING):
        print(f"meeting ended ({result.reason.value}); artifacts in {out_dir}")
    if result.exit_code != ExitCode.OK:
        print(f"jitsi-bot: {result.message}", file=sys.stderr)
    return result.exit_code


def _unwritable(out_dir: Path) -> str | None:
    """Why the artifacts cannot go to ``out_dir`` (made here if missing), or None: checked before any work."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot use {out_dir} for the files: {exc.strerror or exc}"
    if not os.access(out_dir, os.W_OK | os.X_OK):
        return f"cannot write to {out_dir}"
    return None


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    from bot.backends import create_backend
    from bot.llm import llm_summary
    from bot.replay import ReplayInputError, replay

    names = [n.strip() for n in args.names.split(",")] if args.names else None
    out_dir = args.out or settings.output.dir / f"replay-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    if (problem := _unwritable(out_dir)) is not None:
        print(f"jitsi-bot: {problem}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    try:
        report = asyncio.run(replay(args.wavs, create_backend(settings), out_dir, names=names,
                                    title=args.title, progress=sys.stderr.isatty(),
                                    summary=llm_summary(settings.llm), trackers=settings.trackers))
    except ReplayInputError as exc:
        print(f"jitsi-bot: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    print(f"replayed {len(args.wavs)} file(s): {len(report.transcript)} utterances, "
          f"{len(report.action_items)} action items, {len(report.questions)} questions; report in {out_dir}")
    return ExitCode.OK


async def _deliver(settings: Settings, meeting_dir: Path, *, retry_failed: bool = False) -> int:
    from bot.delivery.deliver import deliver_pending, drop_superseded, enqueue, outbox_for
    from bot.report.model import Report

    report_file = meeting_dir / "report.json"
    if not report_file.is_file():
        print(f"jitsi-bot: {meeting_dir} holds no report.json (not a finished meeting folder)", file=sys.stderr)
        return ExitCode.BAD_INPUT
    try:
        report = Report.model_validate_json(report_file.read_bytes())
    except ValueError as exc:
        print(f"jitsi-bot: {report_file} is not a valid report: {str(exc)[:300]}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    # Deliveries configured now and never made are added; delivered ones are recorded and not repeated.
    outbox = enqueue(report, meeting_dir, settings) if (settings.email.to or settings.webhook.url) \
        else outbox_for(meeting_dir)
    if settings.webhook.url:  # a refused webhook whose URL has been fixed since: the new one replaces it
        for item in drop_superseded(outbox, report, settings):
            print(f"jitsi-bot: dropped the failed webhook to {item.target}: webhook.url now names another",
                  file=sys.stderr)
    left = await deliver_pending(outbox, settings, retry_failed=retry_failed)
    for item in left:
        state = "failed permanently" if item.permanent else "still pending"
        print(f"jitsi-bot: {state}: {item.kind} to {item.target} after {item.attempts} attempt(s): "
              f"{item.last_error}", file=sys.stderr)
    if any(item.permanent for item in left):
        print(f"jitsi-bot: permanently failed deliveries are not tried again: fix the configuration, then run "
              f"`jitsi-bot deliver --retry-failed {meeting_dir}`", file=sys.stderr)
    if left:
        return ExitCode.DELIVERY_PENDING
    print(f"nothing pending for {meeting_dir}")
    return ExitCode.OK


def _serve(settings: Settings, host: str, port: int) -> int:
    from bot.serve.launcher import LaunchError
    from bot.serve.server import serve
    from bot.serve.web import setup_web

    if settings.serve.api_token is None:
        print("jitsi-bot: serve needs serve.api_token (BOT_SERVE__API_TOKEN), 24 characters or more, e.g. "
              "python -c 'import secrets; print(secrets.token_urlsafe(32))'", file=sys.stderr)
        return ExitCode.BAD_INPUT
    try:
        settings.serve.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        print(f"jitsi-bot: cannot use {settings.serve.data_dir}: {exc.strerror or exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT

    def ready(bound: int) -> None:
        print(f"serving on http://{host}:{bound}", flush=True)

    try:
        asyncio.run(serve(settings, host, port, setups=(setup_web,), ready=ready))
    except LaunchError as exc:  # the launcher cannot be made (its library is missing)
        print(f"jitsi-bot: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    except OSError as exc:  # the port is taken, the address is not ours
        print(f"jitsi-bot: cannot serve on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    return ExitCode.OK


def _demo(out: Path) -> int:
    from bot.demo.run import run_demo

    return asyncio.run(run_demo(out))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``jitsi-bot`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return _demo(args.out)
    try:
        settings = load_settings(args.config, _overrides(args))
    except ConfigError as exc:
        print(f"jitsi-bot: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    configure_logging(settings.log.level, settings.log.format)
    if args.command == "replay":
        return _replay(settings, args)
    if args.command == "serve":
        return _serve(settings, args.host, args.port)
    if args.command == "deliver":
        return asyncio.run(_deliver(settings, args.dir, retry_failed=args.retry_failed))
    if args.url == "-":
        args.url = os.environ.get(URL_ENV, "")
        if not args.url:
            print(f"jitsi-bot: join - reads the meeting URL from {URL_ENV}, which is not set", file=sys.stderr)
            return ExitCode.BAD_INPUT
    meeting_id = new_meeting_id(args.url)
    out_dir = args.out or settings.output.dir / meeting_id
    if (out_dir / "meeting.json").exists():  # another meeting's recordings and report: never overwrite them
        print(f"jitsi-bot: {out_dir} already holds a meeting (meeting.json); give another --out", file=sys.stderr)
        return ExitCode.BAD_INPUT
    if (problem := _unwritable(out_dir)) is not None:
        print(f"jitsi-bot: {problem}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    with bind_meeting(meeting_id):
        return int(asyncio.run(_join(settings, args.url, out_dir, meeting_id)))


if __name__ == "__main__":
    sys.exit(main())
