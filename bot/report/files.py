"""Writing the report's files: report.json, transcript.txt and transcript.vtt."""

from __future__ import annotations

from pathlib import Path

from bot.report.model import Report


def _clock(seconds: float, sep: str = ".") -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def transcript_text(report: Report) -> str:
    """``[00:01:02] Name: text`` lines."""
    return "".join(f"[{_clock(s.start_s)[:8]}] {s.name}: {s.text}\n" for s in report.transcript)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("-->", "->")


def transcript_vtt(report: Report) -> str:
    """WebVTT with a voice span per cue naming the speaker."""
    cues = ["WEBVTT", ""]
    for n, s in enumerate(report.transcript, 1):
        end = max(s.end_s, s.start_s + 0.5)
        voice = _vtt_escape(s.name).replace("\n", " ")
        cues += [str(n), f"{_clock(s.start_s)} --> {_clock(end)}", f"<v {voice}>{_vtt_escape(s.text)}", ""]
    return "\n".join(cues)


def write_report_files(report: Report, out_dir: Path) -> None:
    """Write the three files atomically (temp file, then rename)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "report.json": report.model_dump_json(indent=2),
        "transcript.txt": transcript_text(report),
        "transcript.vtt": transcript_vtt(report),
    }
    for name, text in files.items():
        tmp = out_dir / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out_dir / name)
