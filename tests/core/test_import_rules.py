"""House rules on imports: the core never needs Qt, and nothing loads TensorFlow early."""

import json
import subprocess
import sys

from conftest import REPO

BLOCK_QT = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph'):
            raise ImportError('Qt is blocked in this test: ' + name)
sys.meta_path.insert(0, Block())
"""

CORE_MODULES = [
    "emobrowser.cli", "emobrowser.app", "emobrowser.demo", "emobrowser.core.paths", "emobrowser.core.types",
    "emobrowser.media.images", "emobrowser.media.audio", "emobrowser.media.video", "emobrowser.media.sniff",
    "emobrowser.media.synth", "emobrowser.media.metadata", "emobrowser.media.payload",
    "emobrowser.index.store", "emobrowser.index.scanner", "emobrowser.index.pipeline",
    "emobrowser.index.library", "emobrowser.index.scoring", "emobrowser.models.registry",
    "emobrowser.cli_query", "emobrowser.index.slideshow", "emobrowser.index.timeline", "emobrowser.media.slideshow_video",
]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(REPO), timeout=300)


def test_core_imports_and_indexes_without_qt(tmp_path, media_dir):
    code = BLOCK_QT + f"""
import importlib
for name in {CORE_MODULES!r}:
    importlib.import_module(name)
from emobrowser.index.store import Store
from emobrowser.index.pipeline import index_library
s = Store({str(tmp_path / 'db.sqlite3')!r})
summary = index_library(s, [{str(media_dir / 'music')!r}], image_model='baseline', audio_model='baseline')
assert summary.indexed == 4, summary
print('ok')
"""
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")


def test_importing_the_core_does_not_load_tensorflow():
    code = f"""
import importlib, sys
for name in {CORE_MODULES!r}:
    importlib.import_module(name)
from emobrowser.models import registry
registry.image_model(); registry.audio_model()  # building the default models stays lazy
print('tensorflow' in sys.modules, 'librosa' in sys.modules)
"""
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


def test_scoring_with_the_shipped_models_never_loads_the_training_code():
    """emobrowser.training (trainers, converters, held-out checks) is for developers: what
    the app runs to score a photo and a song, in the workers and in the inference thread,
    stays in emobrowser.models."""
    code = """
import json, sys
from emobrowser.media import synth
from emobrowser.models import registry
image, audio = registry.image_model("image-va"), registry.audio_model("audio-va")
va = image.predict(image.extract(synth.draw_image("warm", (96, 128)))[None])
song = audio.extract(synth.synth_music(6.0, sr=audio.sample_rate), audio.sample_rate)
va2 = audio.predict(song.whole[None])
assert va.shape == (1, 2) and va2.shape == (1, 2), (va.shape, va2.shape)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("emobrowser."))))
"""
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "emobrowser.models.image_model" in loaded and "emobrowser.models.audio_model" in loaded
    assert not [m for m in loaded if m.startswith("emobrowser.training")]
