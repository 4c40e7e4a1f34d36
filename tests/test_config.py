from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings


def test_defaults_need_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert s.meeting.empty_grace_s == 30 and s.meeting.password is None and s.bridge.host == "127.0.0.1"


def test_precedence_file_env_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[meeting]\nname = "From File"\nempty_grace_s = 5\npassword = "hunter2"\n')
    monkeypatch.setenv("BOT_MEETING__EMPTY_GRACE_S", "7")
    s = load_settings(cfg, {"meeting": {"name": "From CLI"}})
    assert (s.meeting.name, s.meeting.empty_grace_s) == ("From CLI", 7)
    assert s.meeting.password is not None and s.meeting.password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[meeting]\nempty_grace_s = -1\n", "meeting.empty_grace_s"),
        ("[meeting]\nnmae = 'typo'\n", "meeting.nmae"),
        ("[bridge]\nchunk_ms = 25\n", "bridge.chunk_ms"),
        ("[bridge]\nhost = '0.0.0.0'\n", "bridge.host"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings(cfg)


def test_bad_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_MEETING__MAX_REJOINS", "many")
    with pytest.raises(ConfigError, match="BOT_MEETING__MAX_REJOINS"):
        load_settings()


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[meeting\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad)


def test_example_config_loads() -> None:
    example = Path(__file__).parent.parent / "config.example.toml"
    s = load_settings(example)
    assert s.meeting.name


def test_p2p_defaults_to_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().meeting.p2p is True
    monkeypatch.setenv("BOT_MEETING__P2P", "false")
    assert load_settings().meeting.p2p is False
