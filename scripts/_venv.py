"""For the bench scripts: run by the repository's virtualenv (scripts/setup makes it), whichever python3 found them."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def use_repo_venv() -> None:
    """Re-execute this script with ``.venv/bin/python`` unless it already runs there (or there is none)."""
    venv = Path(__file__).resolve().parent.parent / ".venv"
    python = venv / "bin" / "python"
    if Path(sys.prefix).resolve() != venv.resolve() and python.exists():
        os.execv(python, [str(python), *sys.argv])
