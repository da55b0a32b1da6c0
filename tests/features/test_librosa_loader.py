"""librosa is imported and warmed up by one process at a time (numba's cache is not
safe against concurrent compiles), and a warm-up that died part way is rebuilt."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from emobrowser.core.paths import cache_dir
from emobrowser.features import librosa_loader

LOAD = ("from emobrowser.features import librosa_loader; librosa_loader.load(); "
        "import os; print(os.environ['NUMBA_CACHE_DIR'])")


def test_the_cache_folder_is_the_apps_own_unless_numba_is_told_otherwise(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    assert librosa_loader.cache_folder() == (cache_dir() / "numba", True)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert librosa_loader.cache_folder() == (tmp_path, False)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(cache_dir() / "numba"))
    assert librosa_loader.cache_folder() == (cache_dir() / "numba", True)


def test_a_process_waits_for_the_lock_before_touching_the_cache():
    folder, _ = librosa_loader.cache_folder()
    with librosa_loader.exclusive(folder):
        proc = subprocess.Popen([sys.executable, "-c", LOAD], stdout=subprocess.PIPE, text=True)
        time.sleep(8.0)  # far longer than a warm load takes
        assert proc.poll() is None, "librosa was loaded while another process held the lock"
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0
    assert Path(out.strip()) == folder
    assert not (folder / librosa_loader.MARKER_NAME).exists()


def test_an_interrupted_warm_up_empties_only_a_folder_the_app_owns(tmp_path):
    (tmp_path / "librosa_abc").mkdir()
    (tmp_path / "librosa_abc" / "f.nbi").write_bytes(b"half written")
    (tmp_path / "stray.nbc").write_bytes(b"x")
    (tmp_path / librosa_loader.LOCK_NAME).touch()
    assert not librosa_loader.clear_if_interrupted(tmp_path, owned=True)  # no marker: kept
    assert (tmp_path / "stray.nbc").exists()
    (tmp_path / librosa_loader.MARKER_NAME).touch()
    assert not librosa_loader.clear_if_interrupted(tmp_path, owned=False)
    assert (tmp_path / "stray.nbc").exists()
    assert librosa_loader.clear_if_interrupted(tmp_path, owned=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [librosa_loader.LOCK_NAME, librosa_loader.MARKER_NAME])

