"""House rules on imports: the core never needs Qt, and nothing loads TensorFlow early."""

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
