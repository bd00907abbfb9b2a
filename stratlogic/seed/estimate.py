"""What a demo seed will write, said before it starts: rows, objects, and the disk they take.

The ratios were measured here (docs/seed.md): 5,000 jobs over 60 days wrote 10.8-11.0 rows per job (5.6 of
them audit rows) and 1.22-1.25 objects per job; a database takes about 420 (SQLite, 5,000 jobs) to 470
(PostgreSQL, 60,000 jobs) bytes per row, indexes included; an object is about 2.1 kB, and in a folder store
it takes about 22 kB of disk (the object, its sidecar and their folders, in 4 kB blocks). They are
estimates: the generator draws every number.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratlogic.seed.demo import DemoOptions

ROWS_PER_JOB = 11.0
ROWS_PER_USER = 2  # the user and its audit row
BASE_ROWS = 13  # the admin, its audit row, the default configuration
OBJECTS_PER_JOB = 1.25
BYTES_PER_ROW = 450
OBJECT_BYTES = 2_200
OBJECT_DISK_BYTES_IN_FOLDER = 22_000


@dataclass(frozen=True)
class Estimate:
    """About how much a demo seed writes."""

    rows: int
    database_bytes: int
    objects: int
    store_bytes: int

    def describe(self, store: str) -> str:
        """One line for the command to print before it starts."""
        rows = f"about {self.rows:,} rows (~{_size(self.database_bytes)} in the database)"
        if not self.objects:
            return f"{rows}, no objects (--no-objects)"
        return f"{rows} and {self.objects:,} objects (~{_size(self.store_bytes)} in {store})"


def estimate(options: DemoOptions, *, folder_store: bool) -> Estimate:
    """The rows and objects ``options`` will make, and their size (``folder_store``: a ``file:`` store)."""
    rows = int(options.jobs * ROWS_PER_JOB) + options.users * ROWS_PER_USER + BASE_ROWS
    objects = int(options.jobs * OBJECTS_PER_JOB) if options.objects else 0
    per_object = OBJECT_DISK_BYTES_IN_FOLDER if folder_store else OBJECT_BYTES
    return Estimate(rows, rows * BYTES_PER_ROW, objects, objects * per_object)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


__all__ = ["Estimate", "estimate"]
