"""Streaming a PostgreSQL query as Arrow record batches over ADBC, read ahead on a thread.

The driver runs the query with binary COPY and decodes it in C++, releasing the GIL, so decoding on the
reader thread overlaps whatever the caller does with the previous batch (the audit verifier hashes it, the
export writes it). One reader for both: the audit verifier (``repositories/trail.py``) and the export
(``analytics/_export_read.py``). The low-level ADBC API is used, not its DB-API module, which imports
pandas (a fifth of a second).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Generator, Sequence

import adbc_driver_manager
import adbc_driver_postgresql
import pyarrow as pa

from stratlogic.db.session import Database

#: Called with the fresh connection before the query runs (begin a transaction, adopt a snapshot, ...).
Prepare = Callable[[adbc_driver_manager.AdbcConnection], None]


def libpq_url(database: Database) -> str:
    """The database's URL as libpq takes it (password included: it is handed to the driver, never shown)."""
    return str(database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False))


def run(connection: adbc_driver_manager.AdbcConnection, sql: str, bind: pa.RecordBatch | None = None) -> None:
    """Run one statement that returns nothing (``bind``: its parameters, one row)."""
    with adbc_driver_manager.AdbcStatement(connection) as statement:
        statement.set_sql_query(sql)
        if bind is not None:
            statement.bind(bind)
        statement.execute_update()


def stream(database: Database, sql: str, *, session: Sequence[str] = (), prepare: Prepare | None = None,
           batch_bytes: int, read_ahead: int, thread_name: str) -> Generator[pa.RecordBatch, None, None]:
    """The batches of ``sql`` (no parameters: a bound query is not run with COPY and is held whole), each
    about ``batch_bytes``, up to ``read_ahead`` decoded before the caller asks.

    ``session`` statements run first on the connection (planner settings), then ``prepare``. An error on the
    reader thread is raised by the iterator as it was raised there. Closing the iterator early stops the
    reader and closes its connection.
    """
    ready: queue.Queue[pa.RecordBatch | BaseException | None] = queue.Queue(maxsize=read_ahead)
    stop = threading.Event()

    def read() -> None:
        try:
            with contextlib.ExitStack() as closing:
                handle = closing.enter_context(adbc_driver_postgresql.connect(libpq_url(database)))
                connection = closing.enter_context(adbc_driver_manager.AdbcConnection(handle))
                for setting in session:
                    run(connection, setting)
                if prepare is not None:
                    prepare(connection)
                statement = closing.enter_context(adbc_driver_manager.AdbcStatement(connection))
                statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(batch_bytes)})
                statement.set_sql_query(sql)
                found, _ = statement.execute_query()
                reader = closing.enter_context(pa.RecordBatchReader.from_stream(found))
                for batch in reader:
                    if stop.is_set():
                        return
                    ready.put(batch)
            ready.put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            ready.put(exc)

    reader = threading.Thread(target=read, name=thread_name, daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting on a full queue, then let it finish
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.05)


__all__ = ["Prepare", "libpq_url", "run", "stream"]
