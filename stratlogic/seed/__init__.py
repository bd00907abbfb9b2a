"""Seeding: the base rows every installation needs (first admin, default configuration) and demo data.

    seed_defaults(db)                                  # stratlogic seed
    seed_demo(db, DemoOptions(users=200, jobs=10_000))  # stratlogic seed --demo ...
"""

from stratlogic.seed.base import BaseSeedResult, seed_defaults
from stratlogic.seed.demo import DemoOptions, DemoResult, has_demo_data, seed_demo
from stratlogic.seed.reset import ResetResult, reset

__all__ = ["BaseSeedResult", "DemoOptions", "DemoResult", "ResetResult", "has_demo_data", "reset", "seed_defaults",
           "seed_demo"]
