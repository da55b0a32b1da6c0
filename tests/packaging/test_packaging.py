"""The install artefacts: wheel and sdist carry resources/, desktop files validate."""

import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

from conftest import REPO

APP_ID = "io.github.emobrowser.Emobrowser"


def _tracked_copy(dest):
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A wheel and an sdist built from the tracked files, as from a clean clone."""
    src = _tracked_copy(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("dist")
    code = ("import sys; from setuptools import build_meta as b; "
            f"b.build_wheel({str(out)!r}); b.build_sdist({str(out)!r})")
    proc = subprocess.run([sys.executable, "-c", code], cwd=src, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    (wheel,), (sdist,) = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    return wheel, sdist


def test_wheel_contains_resources(built):
    names = zipfile.ZipFile(built[0]).namelist()
    assert f"emobrowser/resources/icons/{APP_ID}.svg" in names
    assert f"emobrowser/resources/icons/256x256/{APP_ID}.png" in names
    tracked_models = subprocess.run(["git", "ls-files", "resources/models"], cwd=REPO, capture_output=True,
                                    text=True).stdout.split()
    for model_file in tracked_models:
        assert "emobrowser/" + model_file in names


def test_wheel_contains_every_module(built):
    """pyproject.toml lists the packages by hand: a new subpackage left off the list would
    be missing from every install but an editable one."""
    names = set(zipfile.ZipFile(built[0]).namelist())
    tracked = subprocess.run(["git", "ls-files", "emobrowser"], cwd=REPO, capture_output=True,
                             text=True).stdout.split()
    modules = [m for m in tracked if m.endswith(".py")]
    assert "emobrowser/training/train_image.py" in modules
    assert [m for m in modules if m not in names] == []


def test_sdist_contains_resources_and_packaging(built):
    names = tarfile.open(built[1]).getnames()
    assert any(n.endswith(f"resources/icons/{APP_ID}.svg") for n in names)
    assert any(n.endswith(f"packaging/{APP_ID}.desktop") for n in names)


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_file_validates():
    proc = subprocess.run(["desktop-file-validate", str(REPO / "packaging" / f"{APP_ID}.desktop")],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "error" not in proc.stdout.lower(), proc.stdout


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream not installed")
def test_metainfo_validates():
    proc = subprocess.run(["appstreamcli", "validate", "--no-net", str(REPO / "packaging" / f"{APP_ID}.metainfo.xml")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_app_id_is_shared():
    desktop = (REPO / "packaging" / f"{APP_ID}.desktop").read_text()
    metainfo = (REPO / "packaging" / f"{APP_ID}.metainfo.xml").read_text()
    assert f"Icon={APP_ID}" in desktop
    assert f"<id>{APP_ID}</id>" in metainfo and f"{APP_ID}.desktop" in metainfo
    from emobrowser.core.paths import APP_ID as code_id

    assert code_id == APP_ID
