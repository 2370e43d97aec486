"""``python -m gaussmix``: the command-line tool (see :mod:`gaussmix.cli`)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
