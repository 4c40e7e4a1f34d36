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


def test_trackers_from_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[trackers]\npricing = ["price", " cost ", "cost", "discount"]\n'
                   '"Competitors" = ["Zoom", "Google  Meet"]\n')
    monkeypatch.setenv("BOT_TRACKERS__LEGAL", '["contract", "NDA"]')
    s = load_settings(cfg)
    # phrases are stripped, inner whitespace collapsed, repeats dropped; env names come lower-cased
    assert s.trackers == {"legal": ["contract", "NDA"], "pricing": ["price", "cost", "discount"],
                          "Competitors": ["Zoom", "Google Meet"]}
    monkeypatch.delenv("BOT_TRACKERS__LEGAL")
    assert load_settings().trackers == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[trackers]\npricing = []\n', "tracker 'pricing' needs 1-50 phrases"),
        ('[trackers]\npricing = ["price", "  "]\n', "tracker 'pricing': phrase 2"),
        ('[trackers]\npricing = ["--"]\n', "has no word in it"),
        ('[trackers]\n" " = ["price"]\n', "tracker name ' ' must be 1-64 characters"),
        (f'[trackers]\npricing = ["{"word " * 9}"]\n', "tracker 'pricing': phrase 1 is longer"),
        (f'[trackers]\npricing = ["{"x" * 101}"]\n', "tracker 'pricing': phrase 1 is longer"),
        ('[trackers]\npricing = ["price"]\n"pricing " = ["cost"]\n', "tracker 'pricing' is named twice"),
        ('[trackers]\npricing = "price"\n', r"trackers\.pricing: Input should be a valid list"),
        ("[trackers]\n" + "".join(f't{i} = ["x"]\n' for i in range(51)), "at most 50 trackers"),
        (f'[trackers]\npricing = [{", ".join(f"{chr(34)}p{i}{chr(34)}" for i in range(51))}]\n', "needs 1-50 phrases"),
    ],
)
def test_bad_trackers_say_which(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_settings(cfg)
    assert "trackers" in str(err.value)


def test_example_trackers_load_when_uncommented(tmp_path: Path) -> None:
    example = (Path(__file__).parent.parent / "config.example.toml").read_text()
    cfg = tmp_path / "c.toml"
    cfg.write_text(example.replace("\n# pricing = ", "\npricing = ").replace("\n# competitors = ", "\ncompetitors = "))
    assert load_settings(cfg).trackers == {"pricing": ["price", "cost", "discount"],
                                           "competitors": ["Zoom", "Google Meet"]}


def test_a_tracker_error_reads_plainly(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[trackers]\npricing = ["price", "?"]\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert str(err.value) == ("invalid configuration:\n  trackers: tracker 'pricing': phrase 2 ('?') has no word in "
                              "it (TOML key trackers or env BOT_TRACKERS)")


def test_serve_settings_from_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[serve]\nlauncher = "docker"\nallowed_hosts = [" Meet.Example.org. "]\n'
                   '[serve.kubernetes]\nnamespace = "notes"\n')
    token = "t" * 32
    monkeypatch.setenv("BOT_SERVE__API_TOKEN", token)
    serve = load_settings(cfg).serve
    assert (serve.launcher, serve.allowed_hosts, serve.kubernetes.namespace) == \
        ("docker", ["meet.example.org"], "notes")
    assert serve.api_token is not None and serve.api_token.get_secret_value() == token
    assert token not in repr(serve) and token not in str(load_settings(cfg).model_dump())


@pytest.mark.parametrize(("toml", "message"), [
    ('api_token = "short"', r"serve.api_token: must be at least 24 characters .*BOT_SERVE__API_TOKEN"),
    ('launcher = "nomad"', r"serve.launcher: Input should be 'local', 'docker' or 'kubernetes'"),
    ("max_concurrent = 0", r"serve.max_concurrent: .*greater than or equal to 1"),
    ('allowed_hosts = ["https://meet.example.org/"]', r"serve.allowed_hosts: .*not a host name"),
])
def test_bad_serve_settings_name_the_key(tmp_path: Path, toml: str, message: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[serve]\n{toml}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(cfg)
