"""Prometheus text exposition of the bot's state, served at ``/metrics`` beside ``/healthz``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Metric:
    """One sample: name (``jitsi_bot_`` is prefixed), help text, type and value."""

    name: str
    help: str
    kind: str  # "gauge" | "counter"
    value: float
    labels: tuple[tuple[str, str], ...] = ()


MetricsSource = Callable[[], list[Metric]]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(metrics: list[Metric]) -> str:
    """The text format (version 0.0.4): HELP and TYPE once per name, then its samples."""
    lines: list[str] = []
    seen: set[str] = set()
    for m in metrics:
        name = f"jitsi_bot_{m.name}"
        if name not in seen:
            seen.add(name)
            lines += [f"# HELP {name} {m.help}", f"# TYPE {name} {m.kind}"]
        labels = ",".join(f'{k}="{_escape(v)}"' for k, v in m.labels)
        lines.append(f"{name}{{{labels}}} {m.value:g}" if labels else f"{name} {m.value:g}")
    return "\n".join(lines) + "\n"
