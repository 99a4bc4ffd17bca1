"""``python -m samstream.cli``: the same as the ``samstream`` command."""

import sys

from samstream.cli import main

if __name__ == "__main__":  # not when a worker process (multiprocessing's spawn) imports this module
    sys.exit(main())
