"""Bulk writers that may be killed (the demo seed): their objects say which run wrote them, and the run says
whether it is still going, so ``reconcile --fix`` can remove what a killed run left without waiting.

A run writes ``PREFIX runs/RUN.json`` (its process id and host) before its first object and removes it when
it ends, however it ends short of SIGKILL. Each of its objects carries the user metadata ``run: RUN``. An
object without a row whose run has ended (no run file), or whose run's process is gone from this host, was
left behind: nothing will ever write its row.
"""

from __future__ import annotations

import io
import json
import os
import socket
import uuid
from datetime import UTC, datetime

from stratlogic.errors import ObjectNotFoundError, StorageError
from stratlogic.storage.base import ArtifactStore

#: The user metadata key naming the run that wrote an object.
RUN_METADATA = "run"
_FOLDER = "runs/"


def run_key(store: ArtifactStore, run: str) -> str:
    """Where a run's file is (not under ``jobs/``: never an orphan itself)."""
    return f"{store.prefix}{_FOLDER}{run}.json"


def begin_run(store: ArtifactStore, what: str) -> str:
    """Record a run that is about to write objects; return its id (put it in each object's metadata)."""
    run = uuid.uuid4().hex
    body = json.dumps({"what": what, "pid": os.getpid(), "host": socket.gethostname(),
                       "started": datetime.now(UTC).isoformat(timespec="seconds")}).encode()
    store.put(io.BytesIO(body), run_key(store, run), "application/json", length=len(body))
    return run


def end_run(store: ArtifactStore, run: str) -> None:
    """The run is over (its objects have rows, or were removed): forget it."""
    store.delete(run_key(store, run))


def run_ended(store: ArtifactStore, run: str) -> bool:
    """Whether the run is over: its file is gone, or its process no longer runs on this host.

    A run on another host is taken as going on (its process cannot be seen from here): its objects wait
    for the grace period like any other orphan.
    """
    try:
        with store.open(run_key(store, run)) as body:
            found = json.loads(body.read())
    except ObjectNotFoundError:
        return True
    except (ValueError, StorageError):
        return False  # unreadable: do not guess
    return found.get("host") == socket.gethostname() and not _alive(int(found.get("pid", 0)))


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def forget_ended_runs(store: ArtifactStore) -> list[str]:
    """Remove the files of runs that ended without saying so (killed); return their ids."""
    ended = []
    for key in list(store.iter_keys(f"{store.prefix}{_FOLDER}")):
        run = key.rpartition("/")[2].removesuffix(".json")
        if key == run_key(store, run) and run_ended(store, run):
            store.delete(key)
            ended.append(run)
    return ended


__all__ = ["RUN_METADATA", "begin_run", "end_run", "forget_ended_runs", "run_ended", "run_key"]
