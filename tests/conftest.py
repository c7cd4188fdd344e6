"""Test-suite settings.

Under CI (``CI`` set) hypothesis runs derandomized, so a CI run is reproducible; local runs keep
exploring new examples (and remember failures in .hypothesis/).
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
