"""Start-up of the desktop app: arguments, logging, database, then Qt.

Kept free of Qt imports at module level so that ``emobrowser --help`` and the
command line never load Qt.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys

log = logging.getLogger("emobrowser")


def setup_logging() -> str:
    """Log to a rotating file in the user log folder; returns its path."""
    from emobrowser.core.paths import log_dir, private_dir

    folder = log_dir()
    private_dir(folder)
    path = folder / "emobrowser.log"
    # A file name that is not UTF-8 (a surrogate escape) is logged as \udcXX, not lost.
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8",
                                                   errors="backslashreplace")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return str(path)


def start(args) -> int:
    """Open the desktop app (the default command)."""
    if getattr(args, "self_test", False):
        from emobrowser.selftest import run_self_test

        return run_self_test()
    try:
        from emobrowser.gui.main import run_gui
    except ImportError:
        print("emobrowser: the desktop app is not part of this build yet.\n"
              "Use the command line meanwhile: emobrowser index PATH, emobrowser query --mood calm "
              "(see emobrowser --help).", file=sys.stderr)
        return 2
    setup_logging()
    return run_gui(args)
