"""Entry point: ``python -m emobrowser`` and the ``emobrowser`` launcher."""

import sys


def main() -> int:
    from emobrowser.cli import run

    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
