"""shout: repeat a sentence in capitals; scored by edit similarity (a task YAML in the package)."""

from __future__ import annotations

from pathlib import Path

SHOUT = Path(__file__).with_name("shout.yaml")
