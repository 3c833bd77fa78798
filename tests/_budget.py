"""How many examples a property test tries.

Mutation testing (``nox -s mutants``) runs each test once per mutant, hundreds of
times, so it sets ``STEER_TRIO_EXAMPLES_SCALE`` (e.g. 0.2) to scale the property tests
down; the targeted tests do most of the killing there. Everything else runs the full
count.
"""

from __future__ import annotations

import os


def examples(count: int) -> int:
    scale = float(os.environ.get("STEER_TRIO_EXAMPLES_SCALE", "1"))
    return max(10, round(count * scale))
