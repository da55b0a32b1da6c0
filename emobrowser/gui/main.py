"""``run_gui``: the QApplication, the crash dialog, the library to open, the window."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import traceback
from pathlib import Path

from PySide6.QtCore import QThread
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from emobrowser.core.paths import APP_ID, default_db_path, resources_dir

log = logging.getLogger(__name__)
_showing_error = False


def _excepthook(exc_type, exc, tb) -> None:
    """Log an uncaught exception and show it in a dialog instead of exiting silently."""
    global _showing_error
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    log.critical("uncaught exception", exc_info=(exc_type, exc, tb))
    app = QApplication.instance()
    if app is None or QThread.currentThread() is not app.thread() or _showing_error:
        return
    _showing_error = True
    try:
        box = QMessageBox(QMessageBox.Icon.Critical, "Emobrowser – unexpected error",
                          f"Something went wrong: {exc_type.__name__}: {exc}\n\n"
                          "The details are in the log file. You can keep working; save your playlists if unsure.")
        box.setDetailedText("".join(traceback.format_exception(exc_type, exc, tb)))
        box.exec()
    finally:
        _showing_error = False


def install_excepthook() -> None:
    sys.excepthook = _excepthook


def choose_db(args, settings) -> Path:
    """The library to open: --demo, --db, the last one opened, or the default."""
    if getattr(args, "demo", False):
        from emobrowser.demo import demo_db_path

        return demo_db_path()
    if getattr(args, "db", None):
        return Path(args.db)
    last = settings.value("library/last_db", "", type=str)
    if last and Path(last).exists():
        return Path(last)
    return default_db_path()


def make_app() -> QApplication:
    app = QApplication.instance() or _create_application()
    app.setApplicationName("emobrowser")
    app.setOrganizationName("emobrowser")
    app.setApplicationDisplayName("Emobrowser")
    app.setDesktopFileName(APP_ID)
    icon = resources_dir() / "icons" / f"{APP_ID}.svg"
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def _create_application() -> QApplication:
    """The QApplication. When Qt cannot start its platform plugin (no display it can reach,
    a library missing that the check before start-up could not see), Qt ends the process
    with qFatal, that is abort() and a core dump; this turns that into a clear message on
    stderr and exit status 1. Qt's other messages still reach stderr."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    messages: list[tuple[str, str]] = []  # (category, message), printed once Qt is up

    def handler(kind, context, message) -> None:
        category = getattr(context, "category", None) or "default"
        if kind != QtMsgType.QtFatalMsg:
            messages.append((category, message))
            return
        if logging.getLogger().hasHandlers():
            log.critical("Qt could not start: %s", message)
        from emobrowser.gui.platform_check import check_platform

        known = check_platform()  # missing libraries, when ldd can tell, or no display
        if known is not None or shutil.which("ldd"):
            # Qt names libxcb-cursor0 whenever the xcb plugin fails, whatever is missing
            messages[:] = [(c, m) for c, m in messages if "xcb-cursor0" not in m]
        if known is None:
            specific = [m for c, m in messages if c.startswith("qt.qpa") and c != "qt.qpa.plugin"]
            reason = (specific or [m for _, m in messages] or [message.strip().splitlines()[0]])[-1]
            setting = ", ".join(f"{name}={os.environ.get(name, '')!r}"
                                for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"))
            known = f"emobrowser: cannot open a window: {reason} ({setting})"
        _print_qt_messages(messages)
        print(known, file=sys.stderr, flush=True)
        os._exit(1)  # Qt aborts as soon as this handler returns

    previous = qInstallMessageHandler(handler)
    try:
        return QApplication(sys.argv[:1])
    finally:
        qInstallMessageHandler(previous)
        _print_qt_messages(messages)


def _print_qt_messages(messages: list[tuple[str, str]]) -> None:
    """As Qt's default handler prints them: "category: message"."""
    for category, message in messages:
        print(message if category == "default" else f"{category}: {message}", file=sys.stderr, flush=True)
    messages.clear()


def run_gui(args) -> int:
    """Run the desktop app until its window closes; returns the exit status."""
    app = make_app()
    install_excepthook()
    from emobrowser.gui.settings import open_settings
    from emobrowser.index.store import Store, StoreError

    settings = open_settings()
    db = choose_db(args, settings)
    try:
        Store(db).close()
    except StoreError as exc:
        QMessageBox.critical(None, "Emobrowser", f"Cannot open the library {db}:\n{exc}")
        return 1
    demo = bool(getattr(args, "demo", False))
    if not demo:
        settings.setValue("library/last_db", str(db))
    from emobrowser.gui.main_window import MainWindow

    window = MainWindow(db, image_model=os.environ.get("EMOBROWSER_IMAGE_MODEL") or None,
                        audio_model=os.environ.get("EMOBROWSER_AUDIO_MODEL") or None, demo=demo)
    window.show()
    if getattr(args, "add", None) and not demo:
        window.add_folders(args.add)  # keeps the folders that exist, as absolute paths
    _close_on_signals(window)
    return app.exec()


def _close_on_signals(window) -> None:
    """Ctrl+C in a terminal or SIGTERM closes the window properly (indexing stops and resumes
    next time) instead of killing the app mid-write."""
    import signal

    from PySide6.QtCore import QTimer

    def handler(*_args):
        QTimer.singleShot(0, window.close)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    timer = QTimer(window, interval=250)  # lets the interpreter run Python signal handlers
    timer.timeout.connect(lambda: None)
    timer.start()
