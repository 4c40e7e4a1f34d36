from pathlib import Path

import numpy as np
import pytest

from bot.audio import WavError, WavSpool, read_wav


def _pcm(values: list[int]) -> bytes:
    return np.array(values, dtype="<i2").tobytes()


def test_spool_writes_a_valid_wav(tmp_path: Path) -> None:
    spool = WavSpool(tmp_path / "a.wav")
    spool.write(_pcm([1, 2, 3]))
    spool.write_silence(20000)
    spool.write(_pcm([-4]))
    spool.close()
    spool.close()
    wav = read_wav(tmp_path / "a.wav")
    assert (wav.rate, wav.channels, wav.truncated) == (16000, 1, False)
    data = wav.samples[:, 0]
    assert len(data) == 20004
    assert list(data[:3]) == [1, 2, 3] and data[-1] == -4 and not data[3:-1].any()


def test_header_is_kept_current_while_writing(tmp_path: Path) -> None:
    # A crash after a flush leaves a file whose header matches what was flushed.
    spool = WavSpool(tmp_path / "a.wav", flush_every_s=0.01)
    spool.write(_pcm(list(range(400))))
    wav = read_wav(tmp_path / "a.wav")
    assert len(wav.samples) == 400 and not wav.truncated
    spool.close()


def test_reader_copes_with_a_truncated_file(tmp_path: Path) -> None:
    spool = WavSpool(tmp_path / "a.wav")
    spool.write(_pcm(list(range(1000))))
    spool.close()
    raw = (tmp_path / "a.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(raw[:44 + 501])  # header says 2000 bytes; half and an odd byte remain
    wav = read_wav(tmp_path / "cut.wav")
    assert wav.truncated and list(wav.samples[:, 0]) == list(range(250))


def test_reader_keeps_audio_written_after_the_last_header_update(tmp_path: Path) -> None:
    spool = WavSpool(tmp_path / "a.wav", flush_every_s=0.0001)
    spool.write(_pcm([5] * 10))  # flushed: header says 10 samples
    with (tmp_path / "a.wav").open("ab") as f:  # a crash between writing audio and fixing the header
        f.write(_pcm([-7] * 6))
    wav = read_wav(tmp_path / "a.wav")
    assert list(wav.samples[:, 0]) == [5] * 10 + [-7] * 6


def test_reader_respects_chunks_after_data(tmp_path: Path) -> None:
    spool = WavSpool(tmp_path / "a.wav")
    spool.write(_pcm([5] * 10))
    spool.close()
    with (tmp_path / "a.wav").open("ab") as f:
        f.write(b"LIST\x04\x00\x00\x00abcd")
    assert list(read_wav(tmp_path / "a.wav").samples[:, 0]) == [5] * 10


def test_reader_refuses_other_files(tmp_path: Path) -> None:
    (tmp_path / "x.wav").write_bytes(b"hello world, not a wav")
    with pytest.raises(WavError, match="not a RIFF"):
        read_wav(tmp_path / "x.wav")
