"""Shared fixtures: every test gets its own EMOBROWSER_HOME and database."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

# emobrowser sets OpenCV's own pixel limit, which OpenCV reads once when it is loaded;
# imported first here as in the app, before any test module imports cv2.
import emobrowser  # noqa: E402,F401

REPO = Path(__file__).resolve().parent.parent
# One numba cache for the whole run (every test has its own EMOBROWSER_HOME, and a
# cold cache costs over half a minute of compiling librosa); kept between local runs.
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".pytest_cache" / "numba"))


@pytest.fixture(autouse=True)
def emobrowser_home(tmp_path_factory, monkeypatch) -> Path:
    """A fresh per-test home folder, so no test touches the user's library."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("EMOBROWSER_HOME", str(home))
    return home


@pytest.fixture
def store(tmp_path):
    from emobrowser.index.store import Store

    s = Store(tmp_path / "library.sqlite3")
    yield s
    s.close()


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    """A small generated library: images, audio in several codecs, one video."""
    from emobrowser.media import synth

    root = tmp_path_factory.mktemp("media")
    for kind in ("warm", "dark", "vivid", "face"):
        synth.write_image(root / f"{kind}.jpg", synth.draw_image(kind, seed=1))
    synth.write_image(root / "cool.png", synth.draw_image("cool"))
    synth.write_image(root / "grey.webp", synth.draw_image("grey"))
    (root / "music").mkdir()
    synth.write_audio(root / "music" / "upbeat.wav", synth.synth_music(3.0, bpm=150, loudness=0.9, seed=2))
    synth.write_audio(root / "music" / "slow.flac", synth.synth_music(3.0, bpm=60, major=False, loudness=0.2))
    synth.write_audio(root / "music" / "tune.ogg", synth.synth_music(3.0, bpm=100))
    synth.write_audio(root / "music" / "tune.mp3", synth.synth_music(3.0, bpm=120, seed=3))
    synth.write_video(root / "clip.mp4", [("warm", {"bpm": 150, "loudness": 0.9}),
                                          ("dark", {"bpm": 60, "major": False, "loudness": 0.2})],
                      seconds_per_scene=3.0)
    return root


def run_cli(*args: str, env: dict | None = None, timeout: float = 600, check: bool = True, cwd=None):
    """Run ``python -m emobrowser`` in a subprocess; returns the CompletedProcess."""
    import subprocess

    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "emobrowser", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=str(cwd or REPO))
    if check and proc.returncode != 0:
        raise AssertionError(f"emobrowser {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc
