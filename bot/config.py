"""One Settings tree for the bot: TOML file, then ``BOT_*`` environment variables (nested with ``__``).

Precedence, highest first: values given by the CLI, environment variables, the TOML file, defaults.
Only ``bot.__main__`` loads settings; everything else receives the sub-model it needs.
"""

from __future__ import annotations

import base64
import shutil
import tomllib
from email.utils import getaddresses
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.languages import WHISPER_LANGUAGES

# Debian's packages, in order of preference. The headless shell (package chromium-headless-shell) is the same
# Chromium without the desktop browser around it: on the capture benchmark its PSS was 282 MB against 466 MB
# for the full browser, with the same samples. The binary itself, not the /usr/bin wrapper script, so that
# stopping the browser stops Chromium and not only a shell.
DEBIAN_CHROMIUMS = (Path("/usr/lib/chromium/chromium-headless-shell"), Path("/usr/bin/chromium"))


class ConfigError(Exception):
    """Configuration that cannot be used; the message names the offending key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MeetingSettings(_Section):
    """How the bot presents itself in a meeting and when it leaves."""

    name: str = Field("Notetaker", min_length=1, max_length=64, description="Display name in the meeting.")
    password: SecretStr | None = Field(None, description="Room password, typed into the password prompt.")
    page_load_timeout_s: float = Field(30, gt=0, description="Time for the meeting page to load.")
    join_timeout_s: float = Field(60, gt=0, description="Time to join once the page loaded (not in a lobby).")
    lobby_timeout_s: float = Field(300, gt=0, description="Time to wait in a lobby to be admitted.")
    host_timeout_s: float = Field(
        900, gt=0, description="Time to wait for a host to start the meeting (a moderator must log in first).")
    room_full_wait_s: float = Field(
        20, gt=0, description="When the room is full, time for the app to rejoin as a (receive-only) visitor.")
    empty_grace_s: float = Field(30, ge=0, description="Leave after the room has been empty this long.")
    no_one_joined_s: float = Field(600, gt=0, description="Leave if nobody joined within this time.")
    max_duration_s: float = Field(4 * 3600, gt=0, description="Leave after this long in any case.")
    media_timeout_s: float = Field(60, gt=0, description="Rejoin when no audio arrives this long.")
    max_rejoins: int = Field(3, ge=0, description="How often the media watchdog may reload the page.")
    reconnect_timeout_s: float = Field(
        45, gt=0, description="After leaving the conference without a real end (a breakout-room move, an ICE or "
        "focus restart, a page reload), time for the app to get back in before the bot rejoins itself.")
    silent_slot_s: float = Field(
        10, gt=0, description="Rejoin when the current speaker's audio track receives no packets this long.")
    chat_notice: str = Field(
        "{name} is taking notes of this meeting: the audio is recorded and transcribed, and the notes are sent "
        "{delivery} after the meeting. Type /notes help for commands.",
        max_length=1000, description="Posted in the meeting chat on joining ({name}, {delivery}); empty: none.")
    chat_commands: bool = Field(True, description="Obey /notes commands in the meeting chat.")
    shutdown_grace_s: float = Field(20, gt=0, description="After SIGTERM/SIGINT: time for all waiting (leaving, "
                                    "pending transcription, sending); the files are written regardless.")
    p2p: bool = Field(
        True,
        description="Allow the peer-to-peer call Jitsi uses for two people (the deployment's own setting applies). "
        "Without a videobridge it is the only audio path; false forces every call through the bridge, as Jibri does.",
    )
    ignore_names: list[str] = Field(
        default_factory=list,
        description="Regular expressions; participants whose display name matches count as bots.",
    )

    @field_validator("chat_notice")
    @classmethod
    def _notice_template(cls, v: str) -> str:
        try:
            v.format(name="", delivery="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"only {{name}} and {{delivery}} can be filled in ({type(exc).__name__}: {exc})") \
                from None
        return v


class BrowserSettings(_Section):
    """The Chromium that Playwright drives."""

    executable_path: Path | None = Field(
        None, description="Chromium binary; default: Debian's chromium-headless-shell, else Debian's chromium, "
        "else Playwright's own. /usr/bin/chromium selects the full browser.",
    )
    headless: bool = True
    extra_args: list[str] = Field(default_factory=list, description="Extra Chromium command-line flags.")
    ignore_https_errors: bool = Field(False, description="Accept self-signed certificates (own deployments).")

    def resolved_executable(self) -> Path | None:
        """The Chromium to launch, or None for Playwright's bundled browser."""
        if self.executable_path is not None:
            return self.executable_path
        for candidate in DEBIAN_CHROMIUMS:
            if candidate.exists():
                return candidate
        found = shutil.which("chromium")
        return Path(found) if found else None


class BridgeSettings(_Section):
    """The loopback WebSocket the page streams audio to."""

    host: Literal["127.0.0.1", "::1", "localhost"] = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535, description="0 picks a free port.")
    max_frame_bytes: int = Field(16384, ge=1024, description="Larger audio frames are refused.")
    # A 1,000-person roster with 500-character names is ~2 MB of JSON at worst (4-byte characters).
    max_text_bytes: int = Field(4 << 20, ge=65536, description="Larger text messages close the socket.")
    queue_frames: int = Field(3000, ge=10, description="Frames buffered for the backend before dropping.")
    chunk_ms: int = Field(20, ge=10, le=40, description="Audio frame length sent by the page.")

    @field_validator("chunk_ms")
    @classmethod
    def _multiple_of_ten(cls, v: int) -> int:
        if v % 10:
            raise ValueError("must be a multiple of 10 ms")
        return v


class AsrSettings(_Section):
    """Offline speech-to-text for the local backend."""

    engine: Literal["auto", "whisper", "pocketsphinx"] = Field(
        "auto", description="auto: faster-whisper if a model can be had, else pocketsphinx (far less accurate)."
    )
    profile: Literal["fast", "accurate"] = Field(
        "fast", description="fast: Whisper tiny.en, beam 5 (multilingual base when the language is not "
        "English); accurate: Whisper base, beam 5. model, beam_size and cpu_threads, when set, override it.")
    model: str | None = Field(
        None, description="Whisper model folder (CTranslate2 format) or name, e.g. base, tiny.en, small; "
        "unset: the profile's.")
    beam_size: int | None = Field(None, ge=1, le=10, description="Decoder beam width; unset: the profile's.")
    language: str | None = Field(
        "en", description='Spoken language (Whisper code, e.g. en, de, es); "auto" or empty: detected per participant.'
    )
    cpu_threads: int | None = Field(None, ge=1, le=64, description="Recognizer threads; unset: the profile's.")
    cache_dir: Path = Field(Path.home() / ".cache" / "jitsi-notetaker", description="Where models are unpacked.")
    allow_download: bool = Field(True, description="Let faster-whisper download a model by name when online.")
    final_pass_budget_s: float = Field(
        15, ge=0, le=3600, description="After a meeting: time for transcribing again from the recordings, least "
        "confident speech first, before the report is written (0: off). Live, each utterance is decoded alone.")

    @field_validator("language")
    @classmethod
    def _known_language(cls, v: str | None) -> str | None:
        code = (v or "").strip().lower()
        if code in ("", "auto"):
            return None  # detected per participant
        if code not in WHISPER_LANGUAGES:
            raise ValueError(f"unknown language {v!r}: use \"auto\" or one of Whisper's codes "
                             f"({', '.join(sorted(WHISPER_LANGUAGES))})")
        return code

    @field_validator("cache_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()


class SymblSettings(_Section):
    """The Symbl.ai backend (its public API may be gone: it is never required)."""

    base_url: str = Field("https://api.symbl.ai", description="Symbl API base URL (point at a compatible service).")
    app_id: str | None = None
    app_secret: SecretStr | None = None
    token_in: Literal["header", "query"] = Field("header", description="X-API-KEY header or ?access_token=.")
    streaming_path: str = "/v1/streaming/{connection_id}"
    language_code: str = "en-US"
    confidence_threshold: float = Field(0.5, ge=0.5, le=1.0)
    no_connection_timeout_s: int = Field(120, ge=0, le=3600)
    max_retry: int = Field(5, ge=0, le=50)
    retry_interval_s: float = Field(1.0, ge=0)

    @field_validator("base_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not (v.startswith("http://") or v.startswith("https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/")


class EmailSettings(_Section):
    """Who gets the summary by email (needs [smtp])."""

    to: list[str] = Field(default_factory=list, description="Recipients; empty: no email.")
    sender: str = Field("Notetaker <notetaker@localhost>", alias="from", description="The From address.")
    subject: str = Field("Meeting notes: {title} ({date})", description="Subject; {title} and {date} are filled in.")
    max_attachment_bytes: int = Field(10 * 1024 * 1024, ge=0, description="Larger attachments are left out.")

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)

    @field_validator("to", "sender", mode="after")
    @classmethod
    def _addresses(cls, v: list[str] | str) -> list[str] | str:
        for value in [v] if isinstance(v, str) else v:
            parsed = getaddresses([value])
            if "\r" in value or "\n" in value or len(parsed) != 1 or "@" not in parsed[0][1]:
                raise ValueError(f"not an email address: {value!r}")
        return v


class SmtpSettings(_Section):
    """The mail server the bot submits through."""

    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = Field("starttls", description="tls = implicit TLS (port 465).")
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = Field(30, gt=0)
    ca_file: Path | None = Field(None, description="Trust this CA (PEM) instead of the system store.")
    validate_certs: bool = True


class WebhookSettings(_Section):
    """Where the report is POSTed, signed per Standard Webhooks."""

    url: str | None = Field(None, description="Receiver URL; empty: no webhook.")

    @field_validator("secret")
    @classmethod
    def _whsec(cls, v: SecretStr | None) -> SecretStr | None:
        raw = v.get_secret_value() if v else ""
        if raw.startswith("whsec_"):
            try:
                base64.b64decode(raw.removeprefix("whsec_"), validate=True)
            except ValueError:
                raise ValueError("a whsec_ secret must be base64 after the prefix") from None
        return v if raw else None

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v and not (v.startswith("http://") or v.startswith("https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v or None
    secret: SecretStr | None = Field(None, description="Signing secret (whsec_<base64> or raw).")
    timeout_s: float = Field(15, gt=0)
    max_attempts: int = Field(5, ge=1, le=20)


class LlmSettings(_Section):
    """An optional abstractive summary by an LLM behind an OpenAI-compatible chat-completions endpoint."""

    base_url: str | None = Field(
        None, description="The API base, e.g. http://127.0.0.1:8080/v1 (llama.cpp server), "
        "http://127.0.0.1:11434/v1 (Ollama); {base_url}/chat/completions is called. Empty: no LLM (default).")
    model: str = Field("default", min_length=1, max_length=200, description="The model name sent.")
    api_key: SecretStr | None = Field(None, description="Sent as 'Authorization: Bearer'; empty: none.")
    timeout_s: float = Field(120, gt=0, description="The whole call, answer included; then the offline summary.")
    max_transcript_chars: int = Field(
        24000, ge=1000, description="Transcript characters sent at most (about 4 per token); the rest is cut.")
    max_tokens: int = Field(1500, ge=100, description="Answer tokens at most.")
    temperature: float = Field(0.0, ge=0, le=2)
    response_format: Literal["json_object", "json_schema", "none"] = Field(
        "json_object", description="How JSON is asked for: json_object (llama.cpp, Ollama, vLLM, OpenAI), "
        "json_schema (constrained decoding where supported), none (the prompt only).")

    @field_validator("base_url")
    @classmethod
    def _http_base(cls, v: str | None) -> str | None:
        if not v:
            return None
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("must have no ?query or #fragment (/chat/completions is added to its path)")
        return v.rstrip("/")

    @field_validator("api_key")
    @classmethod
    def _empty_key(cls, v: SecretStr | None) -> SecretStr | None:
        return v if v and v.get_secret_value() else None


class OutputSettings(_Section):
    """Where artifacts go: ``<dir>/<meeting id>/``."""

    dir: Path = Path("out")


class KubernetesSettings(_Section):
    """Where ``serve.launcher = "kubernetes"`` creates its Jobs."""

    namespace: str = Field("default", min_length=1, description="Namespace of the Jobs.")
    template: Path | None = Field(
        None, description="A Job manifest like scripts/k8s-job.yaml; None: the one packaged with the bot.")
    kubeconfig: Path | None = Field(
        None, description="kubeconfig file; None: the in-cluster service account, else ~/.kube/config.")
    claim: str = Field("notetaker-out", min_length=1, description="The PVC the bots write to (mounted at /out).")


class ServeSettings(_Section):
    """``jitsi-bot serve``: the web page and REST API that start one bot per meeting."""

    api_token: SecretStr | None = Field(
        None, description="Bearer token every /api/ request must carry (required by serve; 24+ characters).")
    launcher: Literal["local", "docker", "kubernetes"] = Field(
        "local", description="How a bot is started: a subprocess, a container, or a Kubernetes Job.")
    max_concurrent: int = Field(2, ge=1, le=1000, description="Bots running at once; more are queued.")
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Meeting hosts that may be joined; empty: any public host. Private, "
        "loopback and link-local addresses are refused unless listed.")
    data_dir: Path = Field(Path("serve-data"), description="bots.sqlite3 and bots/<id>/ (each bot's files).")
    public_url: str | None = Field(None, description="Base URL of this server for links (default: the request's).")
    image: str = Field("jitsi-notetaker:latest", min_length=1, description="Image for docker and kubernetes.")
    bot_config: Path | None = Field(None, description="Config file given to every bot (local and docker).")
    bot_env: list[str] = Field(
        default_factory=list, description="Names of environment variables passed on to docker bots (secrets).")
    docker_network: str = Field(
        "bridge", min_length=1, description="docker: the bots' network. bridge (or a network's name) keeps them "
        "off the host's loopback; host shares it (each bot's audio bridge then takes a free port).")
    stop_grace_s: float = Field(
        45, gt=0, description="DELETE: time a bot gets to leave and write its files before it is killed.")
    instance: str | None = Field(
        None, pattern=r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$",
        description="This server's name on its containers and Jobs (a label): a restarted server adopts only its "
        "own. Default: a hash of data_dir's absolute path; set it where two servers share a path (two pods).")
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)  # type: ignore[arg-type]

    @field_validator("api_token")
    @classmethod
    def _token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value():
            return None
        if len(v.get_secret_value()) < 24:
            raise ValueError("must be at least 24 characters (e.g. python -c 'import secrets; "
                             "print(secrets.token_urlsafe(32))')")
        return v

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        hosts = [h.strip().lower().rstrip(".") for h in v]
        for h in hosts:
            if not h or "/" in h or "@" in h:
                raise ValueError(f"{h!r} is not a host name or address")
        return hosts


class LogSettings(_Section):
    """Logging: console on a terminal, JSON otherwise."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "console", "json"] = "auto"


# Symbl recommends at most 50 vocabulary terms per tracker; the other limits keep matching cheap and a typo
# (a paragraph pasted as a phrase) visible.
MAX_TRACKERS = 50
MAX_TRACKER_PHRASES = 50
MAX_TRACKER_NAME = 64
MAX_PHRASE_CHARS = 100
MAX_PHRASE_WORDS = 8


def _check_trackers(trackers: dict[str, list[str]]) -> dict[str, list[str]]:
    """Names and phrases stripped; empty, over-long or word-less ones refused with the tracker named."""
    if len(trackers) > MAX_TRACKERS:
        raise ValueError(f"at most {MAX_TRACKERS} trackers, got {len(trackers)}")
    out: dict[str, list[str]] = {}
    for raw_name, phrases in trackers.items():
        name = raw_name.strip()
        if not name or len(name) > MAX_TRACKER_NAME:
            raise ValueError(f"tracker name {raw_name!r} must be 1-{MAX_TRACKER_NAME} characters")
        if name in out:
            raise ValueError(f"tracker {name!r} is named twice")
        if not phrases or len(phrases) > MAX_TRACKER_PHRASES:
            raise ValueError(f"tracker {name!r} needs 1-{MAX_TRACKER_PHRASES} phrases, got {len(phrases)}")
        kept = []
        for n, raw in enumerate(phrases, 1):
            phrase = " ".join(raw.split())
            if not any(c.isalnum() for c in phrase):
                raise ValueError(f"tracker {name!r}: phrase {n} ({raw!r}) has no word in it")
            if len(phrase) > MAX_PHRASE_CHARS or len(phrase.split()) > MAX_PHRASE_WORDS:
                raise ValueError(f"tracker {name!r}: phrase {n} is longer than {MAX_PHRASE_CHARS} characters "
                                 f"or {MAX_PHRASE_WORDS} words")
            kept.append(phrase)
        out[name] = list(dict.fromkeys(kept))
    return out


class Settings(BaseSettings):
    """Everything the bot can be configured with. See config.example.toml."""

    model_config = SettingsConfigDict(
        env_prefix="BOT_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    meeting: MeetingSettings = Field(default_factory=MeetingSettings)  # type: ignore[arg-type]
    browser: BrowserSettings = Field(default_factory=BrowserSettings)  # type: ignore[arg-type]
    bridge: BridgeSettings = Field(default_factory=BridgeSettings)  # type: ignore[arg-type]
    backend: Literal["local", "symbl"] = "local"  # the conversation backend
    asr: AsrSettings = Field(default_factory=AsrSettings)  # type: ignore[arg-type]
    symbl: SymblSettings = Field(default_factory=SymblSettings)  # type: ignore[arg-type]
    # Tracker name -> phrases, looked for in the transcript by meaning-preserving variants (see README).
    trackers: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("trackers")
    @classmethod
    def _trackers(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        return _check_trackers(v)

    @model_validator(mode="after")
    def _backend_ready(self) -> Settings:
        if self.backend == "symbl" and (self.symbl.app_id is None or self.symbl.app_secret is None):
            raise ValueError("backend 'symbl' needs symbl.app_id and symbl.app_secret "
                             "(BOT_SYMBL__APP_ID, BOT_SYMBL__APP_SECRET)")
        return self
    email: EmailSettings = Field(default_factory=EmailSettings)  # type: ignore[arg-type]
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)  # type: ignore[arg-type]
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)  # type: ignore[arg-type]
    llm: LlmSettings = Field(default_factory=LlmSettings)  # type: ignore[arg-type]
    serve: ServeSettings = Field(default_factory=ServeSettings)  # type: ignore[arg-type]
    output: OutputSettings = Field(default_factory=OutputSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """CLI values, then environment, then the TOML file named by ``toml_file`` (if any)."""
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(config_file: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Load the Settings tree, failing with a ConfigError that names the bad key.

    Args:
        config_file: a TOML file; None means none.
        overrides: nested values from the command line; they win over everything else.
    """
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"config file not found: {config_file}")
        try:
            tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {config_file} is not valid TOML: {exc}") from exc

    class _FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=config_file)

    try:
        # Init values replace whole sub-models, so CLI overrides are merged into the file+env values first.
        base = _FileSettings().model_dump(by_alias=True)
        merged = _deep_merge(base, overrides or {})
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        if not err["loc"]:
            lines.append(str(err["msg"]).removeprefix("Value error, "))
            continue
        key = ".".join(str(p) for p in err["loc"])
        env = "BOT_" + "__".join(str(p) for p in err["loc"]).upper()
        msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{key}: {msg} (TOML key {key} or env {env})")
    return "invalid configuration:\n  " + "\n  ".join(lines)
