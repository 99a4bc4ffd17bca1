"""``python -m samstream.cli``: the same as the ``samstream`` command."""

import sys

from samstream.cli import main

sys.exit(main())
