"""Reproducible random draws, cheap enough to make a few dozen per job for millions of jobs.

``random.Random``'s own ``choice``/``randrange``/``lognormvariate`` cost around a microsecond each; these
use one ``random()`` call and a table of normal quantiles instead (the normal is cut at about +-3.9
standard deviations, which still leaves a lognormal a tail fifty times its median).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from statistics import NormalDist
from typing import TypeVar

T = TypeVar("T")
_QUANTILES = 8192
_NORMAL = tuple(NormalDist().inv_cdf((i + 0.5) / _QUANTILES) for i in range(_QUANTILES))


class Draw(random.Random):
    """A seeded generator (``random.Random``) with fast draws; same seed, same sequence."""

    def pick(self, items: Sequence[T]) -> T:
        """One of ``items``, uniformly."""
        return items[int(self.random() * len(items))]

    def below(self, n: int) -> int:
        """An integer in ``0 .. n-1``."""
        return int(self.random() * n)

    def lognormal(self, median: float, spread: float) -> float:
        """A lognormal draw: ``median`` times e to the power of a normal draw times ``spread``."""
        return median * math.exp(spread * _NORMAL[int(self.random() * _QUANTILES)])

    def token(self) -> str:
        """32 hex digits (a reproducible stand-in for a uuid4)."""
        return f"{self.getrandbits(128):032x}"


def draw(seed: int, part: str) -> Draw:
    """A generator of its own for each part (the users, each day…): one part's rows never shift another's."""
    return Draw(f"stratlogic-demo:{seed}:{part}")


__all__ = ["Draw", "draw"]
