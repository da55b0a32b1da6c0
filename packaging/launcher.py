"""Entry script for the frozen bundle: the same main() as the pip-installed launcher."""

import multiprocessing
import sys

from emobrowser.__main__ import main

if __name__ == "__main__":
    # Indexing workers are spawned processes; a frozen executable must route them.
    multiprocessing.freeze_support()
    sys.exit(main())
