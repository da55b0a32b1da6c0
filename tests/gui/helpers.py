"""Shared helpers of the GUI tests: a small indexed library and mouse gestures."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore QPointF  # noqa
