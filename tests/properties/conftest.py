"""The property tests reuse the translator tests' Envoy helpers (``envoy --mode validate``, listeners)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "translate"))  # translate_helpers
