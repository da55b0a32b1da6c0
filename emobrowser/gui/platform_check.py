"""Before Qt opens a window: can its platform plugin load, and is there a display?

When a library that Qt's xcb plugin links is missing (``libxcb-icccm4`` and
``libxcb-keysyms1`` on a Debian without a full desktop), Qt aborts the process with a
core dump, and its message names ``libxcb-cursor0`` whatever is missing. Without a
display it aborts as well. This module finds both out first, in a few milliseconds:
``ldd`` on the plugin lists the libraries the dynamic loader cannot find, and the
environment says whether there is a display to connect to.

Qt-free on purpose: it only locates the PySide6 package (``importlib.util.find_spec``
does not import it), so the command line can run it before anything loads Qt.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# soname -> (Debian/Ubuntu, Fedora, Arch) package. Covers what the xcb and Wayland
# plugins link, directly or through libQt6XcbQpa, libQt6Gui and libQt6DBus, and what
# QtMultimedia adds. The Debian names are bookworm's; Ubuntu's apt picks its renamed
# "t64" packages from them.
PACKAGES: dict[str, tuple[str, str, str]] = {
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", "xcb-util"),
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb", "libxcb"),
    "libX11.so.6": ("libx11-6", "libX11", "libx11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libXau.so.6": ("libxau6", "libXau", "libxau"),
    "libXdmcp.so.6": ("libxdmcp6", "libXdmcp", "libxdmcp"),
    "libSM.so.6": ("libsm6", "libSM", "libsm"),
    "libICE.so.6": ("libice6", "libICE", "libice"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libGL.so.1": ("libgl1", "mesa-libGL", "libglvnd"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx", "libglvnd"),
    "libEGL.so.1": ("libegl1", "mesa-libEGL", "libglvnd"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl", "libglvnd"),
    "libGLdispatch.so.0": ("libglvnd0", "libglvnd", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype", "freetype2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "dbus"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libpng16.so.16": ("libpng16-16", "libpng", "libpng"),
    "libexpat.so.1": ("libexpat1", "expat", "expat"),
    "libz.so.1": ("zlib1g", "zlib", "zlib"),
    "libbrotlidec.so.1": ("libbrotli1", "libbrotli", "brotli"),
    "libbrotlicommon.so.1": ("libbrotli1", "libbrotli", "brotli"),
    "libzstd.so.1": ("libzstd1", "libzstd", "zstd"),
    "libgssapi_krb5.so.2": ("libgssapi-krb5-2", "krb5-libs", "krb5"),
    "libdrm.so.2": ("libdrm2", "libdrm", "libdrm"),
    "libXext.so.6": ("libxext6", "libXext", "libxext"),
    "libXrandr.so.2": ("libxrandr2", "libXrandr", "libxrandr"),
    "libXrender.so.1": ("libxrender1", "libXrender", "libxrender"),
    "libpulse.so.0": ("libpulse0", "pulseaudio-libs", "libpulse"),
    "libwayland-client.so.0": ("libwayland-client0", "libwayland-client", "wayland"),
    "libwayland-cursor.so.0": ("libwayland-cursor0", "libwayland-cursor", "wayland"),
    "libwayland-egl.so.1": ("libwayland-egl1", "libwayland-egl", "wayland"),
}

FAMILIES = (("Debian/Ubuntu", "sudo apt install"), ("Fedora", "sudo dnf install"), ("Arch", "sudo pacman -S"))
# How to find the package of a library this table does not know, per family.
_FIND_PACKAGE = ("apt-file search {}", "dnf provides '*/{}'", "pacman -F {}")

# Qt's platform plugin files, by platform name; other platforms are not checked.
PLUGIN_FILES = {"xcb": ("libqxcb.so",), "wayland": ("libqwayland.so", "libqwayland-generic.so")}

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$", re.MULTILINE)


def qt_platforms(environ) -> list[str]:
    """The platform plugins Qt will try, in order, as it chooses on Linux: the list in
    QT_QPA_PLATFORM ("wayland;xcb", a plugin's options after ":"), otherwise Wayland
    first in a Wayland session and then xcb."""
    value = environ.get("QT_QPA_PLATFORM", "").strip()
    if value:
        names = [part.split(":", 1)[0].strip() for part in value.split(";")]
        return [name for name in names if name]
    if environ.get("WAYLAND_DISPLAY") or environ.get("XDG_SESSION_TYPE") == "wayland":
        return ["wayland", "xcb"]
    return ["xcb"]


def plugin_file(platform: str, environ) -> Path | None:
    """The plugin file Qt would load for ``platform`` (xcb or wayland), or None if not found."""
    names = PLUGIN_FILES.get(platform)
    if not names:
        return None
    folders = []
    if environ.get("QT_QPA_PLATFORM_PLUGIN_PATH"):
        folders.append(Path(environ["QT_QPA_PLATFORM_PLUGIN_PATH"]))
    try:
        spec = importlib.util.find_spec("PySide6")  # finds the package without importing it
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        folders.append(Path(location) / "Qt" / "plugins" / "platforms")
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    return None


def parse_ldd(text: str) -> list[str]:
    """The libraries ``ldd`` reports as ``=> not found``, each once, in its order."""
    return list(dict.fromkeys(_NOT_FOUND.findall(text)))


def missing_libraries(plugin: Path, environ) -> list[str] | None:
    """The libraries the loader cannot find for ``plugin`` (ldd follows the libraries it
    links, such as libQt6XcbQpa, so one run covers them); None when ldd is not there or
    fails, and the check is skipped."""
    ldd = shutil.which("ldd", path=environ.get("PATH", os.defpath))
    if ldd is None:
        return None
    try:
        proc = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, errors="replace",
                              env=dict(environ), timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    shipped = _shipped_libraries(plugin)
    return [name for name in parse_ldd(proc.stdout) if name not in shipped]


def _shipped_libraries(plugin: Path) -> set[str]:
    """Libraries that come with PySide6 (Qt/lib beside Qt/plugins) or with the frozen
    bundle. ldd may miss one where the bundle puts it, but Qt loads it; only the
    system's libraries are the user's to install."""
    folders = [plugin.parent.parent.parent / "lib"]
    if getattr(sys, "frozen", False):
        folders.append(Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)))
    names: set[str] = set()
    for folder in folders:
        try:
            names.update(os.listdir(folder))
        except OSError:
            pass
    return names


def packages_for(sonames) -> list[tuple[str, str]]:
    """(family, command) per distribution family: the install command for the packages
    that provide ``sonames``. For a library the table does not know, the command says
    how to look up its package."""
    result = []
    for index, (family, install) in enumerate(FAMILIES):
        packages, unknown = [], []
        for soname in sonames:
            if soname in PACKAGES:
                packages.append(PACKAGES[soname][index])
            else:
                unknown.append(_FIND_PACKAGE[index].format(soname))
        command = f"{install} {' '.join(dict.fromkeys(packages))}" if packages else ""
        if unknown:
            command = "; ".join(filter(None, [command, *unknown]))
        result.append((family, command))
    return result


def missing_libraries_message(platforms: list[str], sonames: list[str]) -> str:
    width = max(len(family) for family, _ in FAMILIES) + 1
    plugins = f"{' and '.join(platforms)} platform plugin{'s' if len(platforms) > 1 else ''}"
    lines = [f"emobrowser: cannot open a window: Qt's {plugins} need{'' if len(platforms) > 1 else 's'} "
             f"libraries that are not installed: {', '.join(sonames)}.",
             "Install them, then start emobrowser again:"]
    lines += [f"  {family + ':':<{width}} {command}" for family, command in packages_for(sonames)]
    return "\n".join(lines)


def has_display(platform: str, environ) -> bool:
    """Whether ``platform`` has a display to connect to. xcb needs DISPLAY; Wayland
    needs WAYLAND_DISPLAY or the default socket wayland-0 in XDG_RUNTIME_DIR."""
    if platform == "xcb":
        return bool(environ.get("DISPLAY"))
    runtime = environ.get("XDG_RUNTIME_DIR")
    return bool(environ.get("WAYLAND_DISPLAY")) or bool(runtime and Path(runtime, "wayland-0").exists())


DISPLAY_VARIABLES = {"xcb": "DISPLAY", "wayland": "WAYLAND_DISPLAY"}


def no_display_message(platforms: list[str], environ) -> str:
    variables = list(dict.fromkeys(DISPLAY_VARIABLES[name] for name in platforms))
    unset = f"{' and '.join(variables)} {'are' if len(variables) > 1 else 'is'} not set"
    if environ.get("QT_QPA_PLATFORM", "").strip():
        unset += f", QT_QPA_PLATFORM is {environ['QT_QPA_PLATFORM'].strip()}"
    return (f"emobrowser: cannot open a window: there is no display ({unset}). "
            "Start it from a desktop session, or over ssh -X.")


def check_platform(environ=None) -> str | None:
    """What stops Qt from opening a window, as a message for stderr, or None if nothing
    is known to. Only xcb and Wayland are checked, and only on Linux; any other
    platform (offscreen, eglfs, ...) is Qt's to judge."""
    if not sys.platform.startswith("linux"):
        return None
    environ = os.environ if environ is None else environ
    platforms = qt_platforms(environ)
    if not platforms or any(name not in PLUGIN_FILES for name in platforms):
        return None
    missing: dict[str, list[str]] = {}
    for name in platforms:
        plugin = plugin_file(name, environ)
        libraries = missing_libraries(plugin, environ) if plugin is not None else None
        if libraries:
            missing[name] = libraries
        elif has_display(name, environ):
            return None  # Qt can use this one; the ones before it may fail, Qt falls back
    if missing:
        sonames = list(dict.fromkeys(soname for libraries in missing.values() for soname in libraries))
        return missing_libraries_message(list(missing), sonames)
    return no_display_message(platforms, environ)
