"""``python -m synthvec`` = the ``synthvec`` command."""

import sys

from .cli import main

sys.exit(main())
