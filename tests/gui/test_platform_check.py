"""The check before Qt starts: missing libraries of the platform plugin, and no display.

Qt's xcb plugin aborts the app (a core dump, and a message naming the wrong library)
when a library it links is missing; ``emobrowser`` says which ones and how to install
them instead, and exits 1. ldd's output is faked here, so the tests pass the same on a
machine with or without those libraries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import REPO
from emobrowser.gui import platform_check as pc

LDD_MISSING = """\
\tlinux-vdso.so.1 (0x00007ffd4a5f2000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x00007f0e1a000000)
\tlibGL.so.1 => /lib/x86_64-linux-gnu/libGL.so.1 (0x00007f0e19f70000)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f0e19f68000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-util.so.1 => /lib/x86_64-linux-gnu/libxcb-util.so.1 (0x00007f0e19f60000)
\tlibxcb-keysyms.so.1 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0e19c00000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\t/lib64/ld-linux-x86-64.so.2 (0x00007f0e1a1f0000)
"""

LDD_COMPLETE = """\
\tlinux-vdso.so.1 (0x00007ffd4a5f2000)
\tlibxcb-icccm.so.4 => /lib/x86_64-linux-gnu/libxcb-icccm.so.4 (0x00007f0e19f50000)
\tlibxcb-keysyms.so.1 => /lib/x86_64-linux-gnu/libxcb-keysyms.so.1 (0x00007f0e19f48000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f0e1a1f0000)
"""


def fake_ldd(folder: Path, output: str, status: int = 0) -> Path:
    """A folder with an ``ldd`` that prints ``output``, to put first on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ldd.out").write_text(output)
    script = folder / "ldd"
    script.write_text(f"#!/bin/sh\n{shutil.which('cat')} '{folder / 'ldd.out'}'\nexit {status}\n")
    script.chmod(0o755)
    return folder


def fake_plugins(folder: Path) -> Path:
    """A platform plugin folder with (empty) xcb and Wayland plugins."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("libqxcb.so", "libqwayland.so"):
        (folder / name).write_bytes(b"")
    return folder


def environ(tmp_path, ldd_output: str | None = LDD_MISSING, **values) -> dict:
    """An environment with the fake plugins and, unless None, a fake ldd first on PATH."""
    bin_dir = fake_ldd(tmp_path / "bin", ldd_output) if ldd_output is not None else tmp_path / "empty"
    bin_dir.mkdir(exist_ok=True)
    env = {"PATH": str(bin_dir), "QT_QPA_PLATFORM_PLUGIN_PATH": str(fake_plugins(tmp_path / "platforms"))}
    env.update({key: value for key, value in values.items() if value is not None})
    return env


# -- reading ldd ------------------------------------------------------------------------

def test_parse_ldd_lists_each_missing_library_once_in_order():
    assert pc.parse_ldd(LDD_MISSING) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]


def test_parse_ldd_finds_nothing_when_everything_resolves():
    assert pc.parse_ldd(LDD_COMPLETE) == []
    assert pc.parse_ldd("") == []
    assert pc.parse_ldd("\tnot a dynamic executable\n") == []


# -- which packages ---------------------------------------------------------------------

def test_libraries_map_to_packages_per_family():
    commands = dict(pc.packages_for(["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]))
    assert commands == {"Debian/Ubuntu": "sudo apt install libxcb-icccm4 libxcb-keysyms1",
                        "Fedora": "sudo dnf install xcb-util-wm xcb-util-keysyms",
                        "Arch": "sudo pacman -S xcb-util-wm xcb-util-keysyms"}


def test_a_package_that_provides_several_missing_libraries_is_named_once():
    commands = dict(pc.packages_for(["libxcb-randr.so.0", "libxcb-shape.so.0", "libxcb.so.1"]))
    assert commands["Fedora"] == "sudo dnf install libxcb"
    assert commands["Debian/Ubuntu"] == "sudo apt install libxcb-randr0 libxcb-shape0 libxcb1"


def test_a_library_without_a_known_package_says_how_to_find_it():
    commands = dict(pc.packages_for(["libxcb-icccm.so.4", "libunheard.so.7"]))
    assert commands["Debian/Ubuntu"] == "sudo apt install libxcb-icccm4; apt-file search libunheard.so.7"
    assert commands["Fedora"].endswith("dnf provides '*/libunheard.so.7'")
    assert commands["Arch"].endswith("pacman -F libunheard.so.7")


def test_every_library_the_xcb_plugin_links_has_a_package():
    # NEEDED entries of libqxcb.so and libQt6XcbQpa.so.6 (PySide6 6.11) outside Qt and glibc
    linked = ["libGL.so.1", "libxkbcommon.so.0", "libxkbcommon-x11.so.0", "libxcb-cursor.so.0", "libxcb-icccm.so.4",
              "libxcb-util.so.1", "libxcb-image.so.0", "libxcb-keysyms.so.1", "libxcb-randr.so.0",
              "libxcb-render-util.so.0", "libxcb-shm.so.0", "libxcb-sync.so.1", "libxcb-xfixes.so.0",
              "libxcb-render.so.0", "libxcb-shape.so.0", "libxcb-xkb.so.1", "libxcb.so.1", "libX11-xcb.so.1",
              "libX11.so.6", "libEGL.so.1", "libfontconfig.so.1", "libfreetype.so.6", "libglib-2.0.so.0",
              "libgthread-2.0.so.0", "libdbus-1.so.3"]
    assert [name for name in linked if name not in pc.PACKAGES] == []


def test_the_message_names_the_missing_libraries_and_the_install_commands():
    message = pc.missing_libraries_message(["xcb"], ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    first, *rest = message.splitlines()
    assert first.startswith("emobrowser: cannot open a window: Qt's xcb platform plugin needs")
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in first
    assert "libxcb-cursor0" not in message  # what Qt's own message would have named
    assert "  Debian/Ubuntu: sudo apt install libxcb-icccm4 libxcb-keysyms1" in rest
    assert "  Fedora:        sudo dnf install xcb-util-wm xcb-util-keysyms" in rest
    assert "  Arch:          sudo pacman -S xcb-util-wm xcb-util-keysyms" in rest


# -- which platform, which display ------------------------------------------------------

@pytest.mark.parametrize("env, platforms", [
    ({}, ["xcb"]),
    ({"DISPLAY": ":0"}, ["xcb"]),
    ({"QT_QPA_PLATFORM": ""}, ["xcb"]),
    ({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, ["wayland", "xcb"]),
    ({"XDG_SESSION_TYPE": "wayland"}, ["wayland", "xcb"]),
    ({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}, ["xcb"]),
    ({"QT_QPA_PLATFORM": "offscreen"}, ["offscreen"]),
    ({"QT_QPA_PLATFORM": "wayland;xcb"}, ["wayland", "xcb"]),
    ({"QT_QPA_PLATFORM": "xcb:nograb"}, ["xcb"]),
])
def test_the_platforms_qt_will_try(env, platforms):
    assert pc.qt_platforms(env) == platforms


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check runs on Linux only")
class TestCheck:
    def test_missing_libraries_are_reported_with_or_without_a_display(self, tmp_path):
        for display in (":0", None):
            message = pc.check_platform(environ(tmp_path, DISPLAY=display))
            assert message is not None and "libxcb-icccm.so.4, libxcb-keysyms.so.1" in message
            assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in message

    def test_nothing_to_report_with_the_libraries_and_a_display(self, tmp_path):
        assert pc.check_platform(environ(tmp_path, LDD_COMPLETE, DISPLAY=":0")) is None

    def test_no_display_is_said_plainly(self, tmp_path):
        message = pc.check_platform(environ(tmp_path, LDD_COMPLETE))
        assert message.startswith("emobrowser: cannot open a window: there is no display (DISPLAY is not set)")
        assert "\n" not in message
        wayland_only = pc.check_platform(environ(tmp_path, LDD_COMPLETE, QT_QPA_PLATFORM="wayland"))
        assert "WAYLAND_DISPLAY is not set, QT_QPA_PLATFORM is wayland" in wayland_only

    def test_other_platforms_are_left_to_qt(self, tmp_path):
        for platform in ("offscreen", "minimal", "eglfs", "wayland;offscreen"):
            assert pc.check_platform(environ(tmp_path, QT_QPA_PLATFORM=platform)) is None

    def test_without_ldd_only_the_display_is_checked(self, tmp_path):
        assert pc.check_platform(environ(tmp_path, None, DISPLAY=":0")) is None
        assert "no display" in pc.check_platform(environ(tmp_path, None))

    def test_a_failing_ldd_skips_the_check(self, tmp_path):
        env = environ(tmp_path, DISPLAY=":0")
        fake_ldd(Path(env["PATH"]), LDD_MISSING, status=1)
        assert pc.check_platform(env) is None

    def test_a_plugin_that_is_not_there_is_not_checked(self, tmp_path, monkeypatch):
        monkeypatch.setattr(pc, "plugin_file", lambda platform, env: None)
        assert pc.check_platform(environ(tmp_path, DISPLAY=":0")) is None

    def test_the_plugin_folder_qt_is_told_to_use_comes_first(self, tmp_path):
        env = environ(tmp_path)
        assert pc.plugin_file("xcb", env) == Path(env["QT_QPA_PLATFORM_PLUGIN_PATH"]) / "libqxcb.so"
        assert pc.plugin_file("offscreen", env) is None

    def test_libraries_that_come_with_pyside6_are_not_reported(self, tmp_path):
        # Qt/plugins/platforms/libqxcb.so next to Qt/lib: what ldd cannot find there
        # (a frozen bundle's layout), Qt still loads; it is not the user's to install.
        plugins = fake_plugins(tmp_path / "Qt" / "plugins" / "platforms")
        (tmp_path / "Qt" / "lib").mkdir()
        (tmp_path / "Qt" / "lib" / "libQt6XcbQpa.so.6").write_bytes(b"")
        output = "\tlibQt6XcbQpa.so.6 => not found\n" + LDD_MISSING
        env = environ(tmp_path, output, DISPLAY=":0")
        assert pc.missing_libraries(plugins / "libqxcb.so", env) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]

    def test_a_wayland_session_with_a_working_plugin_does_not_need_xcb(self, tmp_path):
        env = environ(tmp_path, LDD_COMPLETE, WAYLAND_DISPLAY="wayland-0")
        assert pc.check_platform(env) is None

    def test_the_installed_plugin_is_found_and_ldd_reads_it(self):
        env = dict(os.environ)
        env.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)
        plugin = pc.plugin_file("xcb", env)
        assert plugin is not None and plugin.name == "libqxcb.so" and "PySide6" in plugin.parts
        if shutil.which("ldd") is None:
            pytest.skip("no ldd here")
        missing = pc.missing_libraries(plugin, env)
        assert missing is not None
        # Qt's own libraries come with PySide6; whatever the system lacks has a package to install
        assert not [name for name in missing if name.startswith("libQt6")]
        assert [name for name in missing if name not in pc.PACKAGES] == []


# -- the command line -------------------------------------------------------------------

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check runs on Linux only")
def test_the_app_exits_1_with_the_message_before_loading_qt(tmp_path, emobrowser_home):
    env = dict(os.environ, **environ(tmp_path, DISPLAY=":0"))
    env["PATH"] = env["PATH"] + os.pathsep + os.environ.get("PATH", "")
    env.pop("QT_QPA_PLATFORM", None)  # the tests run offscreen
    code = textwrap.dedent("""
        import sys
        from emobrowser.cli import run
        status = run(["--demo"])
        print("status", status, "qt loaded", any(m.startswith("PySide6") for m in sys.modules))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(REPO),
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["status", "1", "qt", "loaded", "False"]
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in proc.stderr
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in proc.stderr
    assert not (emobrowser_home / "logs").exists()  # stopped before the app's start-up


def test_when_qt_cannot_start_its_platform_the_app_exits_1_with_one_line(tmp_path):
    # qFatal would abort (SIGABRT, a core dump); a platform plugin that does not exist
    # makes Qt give up the same way it does without a display.
    code = "from emobrowser.gui.main import make_app\nmake_app()\nprint('created')"
    env = dict(os.environ, QT_QPA_PLATFORM="no-such-platform", EMOBROWSER_HOME=str(tmp_path / "home"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(REPO),
                          timeout=120)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "created" not in proc.stdout
    ours = [line for line in proc.stderr.splitlines() if line.startswith("emobrowser:")]
    assert len(ours) == 1
    assert ours[0].startswith("emobrowser: cannot open a window: "
                              'Could not find the Qt platform plugin "no-such-platform"')
    assert "Reinstalling the application" not in proc.stderr  # Qt's fatal text is replaced by ours
