"""What the server knows about a bot: its status, the request that made it, and what a launcher is given."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import SecretStr

# `jitsi-bot join -` reads the meeting URL from this variable: a local bot's argv is visible to every local user,
# its environment only to its own.
JOIN_URL_ENV = "JITSI_BOT_MEETING_URL"
PASSWORD_ENV = "BOT_MEETING__PASSWORD"  # meeting.password, from the environment


class BotStatus(StrEnum):
    """A bot's status in the API (README documents them)."""

    QUEUED = "queued"  # accepted, waiting for a free slot (serve.max_concurrent)
    STARTING = "starting"  # launched; the bot has not reported yet, or is starting its browser
    JOINING = "joining"  # loading the meeting, typing a password, waiting for a full room
    LOBBY = "lobby"  # knocking in a lobby, or waiting for a host to start the meeting
    IN_CALL = "in_call"  # recording (also while it reconnects)
    FINALIZING = "finalizing"  # left; transcribing what is left, writing and sending the notes
    DONE = "done"
    FAILED = "failed"
    STOPPED = "stopped"  # stopped through DELETE (its notes are still written and sent)

    @property
    def final(self) -> bool:
        """No further change will come."""
        return self in (BotStatus.DONE, BotStatus.FAILED, BotStatus.STOPPED)


# The bot's own lifecycle states (bot.session, written to status.json) as API statuses.
SESSION_STATES: dict[str, BotStatus] = {
    "starting": BotStatus.STARTING,
    "joining": BotStatus.JOINING,
    "password": BotStatus.JOINING,
    "room_full": BotStatus.JOINING,
    "lobby": BotStatus.LOBBY,
    "waiting_for_host": BotStatus.LOBBY,
    "in_call": BotStatus.IN_CALL,
    "reconnecting": BotStatus.IN_CALL,
    "finalizing": BotStatus.FINALIZING,
    "done": BotStatus.DONE,
    "failed": BotStatus.FAILED,
}


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """One ``jitsi-bot join`` to start: what every launcher turns into a process, a container or a Job.

    ``meeting_url`` is the whole URL (a ``?jwt=`` in it is a credential) and ``password`` is secret; neither is
    ever logged. The password goes only through the environment (``BOT_MEETING__PASSWORD``). The URL goes
    through the environment too (``join -`` and ``JOIN_URL_ENV``) for a local process and a container: both
    are in the host's process list, and a container's command also in ``docker inspect``. A Job gets a URL
    with a query, fragment or user info from a Secret; a URL without them carries no credential and is in the
    Job's args, readable by whoever may read Jobs or pods in the namespace.
    """

    bot_id: str
    meeting_url: str
    bot_name: str | None = None
    email: tuple[str, ...] = ()
    backend: str | None = None
    password: SecretStr | None = None
    max_duration_s: float | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def join_args(self, out: str, *, url: str | None = None) -> list[str]:
        """Arguments after ``jitsi-bot``: ``join URL --out OUT [--name=N] [--email=A]... [--backend=B]``.

        ``url`` stands in for the meeting URL (``-``: read it from ``JOIN_URL_ENV``). Values are joined to
        their option with ``=`` so that one starting with ``-`` is not taken for an option.
        """
        args = ["join", self.meeting_url if url is None else url, "--out", out]
        if self.bot_name:
            args.append(f"--name={self.bot_name}")
        args += [f"--email={addr}" for addr in self.email]
        if self.backend:
            args.append(f"--backend={self.backend}")
        return args

    def join_env(self) -> dict[str, str]:
        """Environment variables the bot needs beyond the arguments (the password, the duration cap)."""
        env: dict[str, str] = {}
        if self.password is not None:
            env[PASSWORD_ENV] = self.password.get_secret_value()
        if self.max_duration_s is not None:
            env["BOT_MEETING__MAX_DURATION_S"] = repr(float(self.max_duration_s))
        return env


@dataclass(frozen=True, slots=True)
class Exited:
    """How a launched bot ended, as far as its launcher can tell."""

    exit_code: int | None  # None: unknown (the unit is gone and left no code)
    reason: str | None = None  # why, when it is not the bot's own exit (killed, lost, evicted ...)
