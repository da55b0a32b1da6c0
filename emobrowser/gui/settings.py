"""QSettings for window geometry, the last library and the indexing core count.

With EMOBROWSER_HOME set (tests, scripts) the settings live in an INI file there, so a
test never reads or writes the user's own settings.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

from emobrowser.core.paths import home_override


def open_settings() -> QSettings:
    home = home_override()
    if home is not None:
        return QSettings(str(home / "gui-settings.ini"), QSettings.Format.IniFormat)
    return QSettings("emobrowser", "emobrowser")
