"""gui sub-package: the PySide6/pyqtgraph desktop app (the only package that imports Qt)."""

from __future__ import annotations

import sys


def _guard_pyside_612_refcount_bug() -> None:
    """Work around PySide6 6.12.0 on Python 3.11: every ``Signal.emit()`` drops one
    reference to ``True`` that it never took (shiboken assumes the immortal singletons
    of Python 3.12), so after a few hundred signals Python aborts with "bool_dealloc:
    deallocating True or False". PySide6 6.11.3 does not have the bug.

    Giving True, False and None an enormous reference count makes them immortal, as
    they are on 3.12; it costs nothing and changes no behaviour.
    """
    if sys.version_info >= (3, 12):
        return
    try:
        import PySide6
    except ImportError:
        return
    if tuple(PySide6.__version_info__[:2]) != (6, 12):
        return
    import ctypes

    for obj in (True, False, None):
        refcount = ctypes.c_ssize_t.from_address(id(obj))
        if refcount.value < 1 << 40:
            refcount.value += 1 << 40


_guard_pyside_612_refcount_bug()
