"""gui sub-package: the PySide6/pyqtgraph desktop app (the only package that imports Qt).

PySide6-Essentials is pinned to 6.11.3: 6.12.0 drops a reference to True/None on
every Signal.emit under Python 3.11 and aborts the interpreter after a few hundred
signals ("bool_dealloc: deallocating True or False").
"""
