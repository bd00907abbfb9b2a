"""Engines, sessions and units of work, health, and migrations."""

from stratlogic.db.engine import make_engine
from stratlogic.db.health import HealthReport
from stratlogic.db.readonly import open_database
from stratlogic.db.session import Database, UnitOfWork

__all__ = ["Database", "HealthReport", "UnitOfWork", "make_engine", "open_database"]
