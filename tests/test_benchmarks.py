"""Every benchmark has a --quick mode, which benchmarks/run_quick.py (and CI) runs.

Only the option is checked here, from each script's --help (a second or so each); the
quick runs themselves take a few minutes and are CI's own step.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("bench_*.py"))


def test_benchmarks_are_found():
    assert SCRIPTS, f"no bench_*.py in {BENCHMARKS}"
    assert (BENCHMARKS / "run_quick.py").is_file()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_benchmark_has_a_quick_mode(script):
    proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120,
                          cwd=str(BENCHMARKS.parent))
    assert proc.returncode == 0, proc.stderr
    assert "--quick" in proc.stdout, f"{script.name} has no --quick option (run_quick.py runs every benchmark so)"
    assert "--quick" in script.read_text().split('"""')[1], f"{script.name}: mention --quick in its docstring"
