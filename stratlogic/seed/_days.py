"""One day of demo jobs at a time, as rows and events ready to chain: what a producer process hands over.

Days are independent: each has a generator of its own and its jobs' ids are fixed in advance, so a day can
be made in another process while this one chains the audit trail and the database stores the last batch.
What a day yields is already serialised (details as JSON bytes, times as integers and canonical text), so
passing it between processes is cheap and the chaining process only numbers and hashes.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, NamedTuple

from stratlogic.repositories.bulk import json_value
from stratlogic.seed._artifacts import ArtifactSpec
from stratlogic.seed._calendar import BACKLOG, creation_times
from stratlogic.seed._lifecycle import Event, Policy, live
from stratlogic.seed._random import draw
from stratlogic.seed._rows import HOUR, json_text, stamp
from stratlogic.seed._world import World

#: Days made ahead of the one being chained (bounds memory when the producer is faster).
AHEAD = 4


class Setup(NamedTuple):
    """What every day of a run shares (a producer process builds its World from it once)."""

    seed: int
    owners: tuple[int, ...]
    owner_weights: tuple[float, ...]
    policy: Policy
    prefix: str


class Plan(NamedTuple):
    """One day: its number, its midnight, how many jobs, the first job's id, the earliest creation time."""

    day: int
    start: int
    jobs: int
    first_job: int
    earliest: int


class Stored(NamedTuple):
    """An artifact a job stored: its row and metadata rows without ids (given in time order), its body."""

    job_id: int
    key: str
    filename: str
    content_type: str
    size: int
    sha256: str
    created: int
    metadata: tuple[tuple[str, bytes], ...]
    body: bytes | None


#: (when, when as canonical text, actor, action, resource type, resource id, details JSON, stored artifact).
WireEvent = tuple[int, str, int | None, str, str, str | None, bytes, Stored | None]


class Day(NamedTuple):
    """A day's job rows (their state at the window's end) and every event of their lives."""

    jobs: list[tuple[Any, ...]]
    events: list[WireEvent]


_worlds: dict[Setup, World] = {}


def produce(setup: Setup, plan: Plan) -> Day:
    """Generate one day (the same rows whichever process runs it)."""
    world = _worlds.get(setup)
    if world is None:
        world = _worlds[setup] = World(draw(setup.seed, "world"), setup.owners, setup.owner_weights, setup.policy)
    rng = draw(setup.seed, f"day:{plan.day}")
    jobs, events = [], []
    for job_id, created in enumerate(creation_times(rng, plan.start, plan.jobs, plan.earliest), start=plan.first_job):
        job = world.job(rng, job_id, created)
        live(job, rng, BACKLOG[(created - plan.start) // HOUR])
        jobs.append(job.row())
        events += [_wire(event, setup.prefix) for event in job.events]
    return Day(jobs, events)


def _wire(event: Event, prefix: str) -> WireEvent:
    when, actor, action, resource_type, resource_id, details, spec = event
    if spec is None:
        return when, stamp(when), actor, action, resource_type, resource_id, json_text(details), None
    stored = _stored(spec, prefix)
    summary = {"content_type": spec.content_type, "filename": spec.filename, "job_id": spec.job_id,
               "metadata": spec.metadata, "object_key": stored.key, "sha256": spec.sha256, "size_bytes": spec.size}
    return when, stamp(when), actor, action, resource_type, None, json_text(summary), stored


def _stored(spec: ArtifactSpec, prefix: str) -> Stored:
    metadata = tuple((name, json_value(json_text(value))) for name, value in spec.metadata.items())
    return Stored(spec.job_id, f"{prefix}jobs/{spec.job_id}/{spec.token}/{spec.filename}", spec.filename,
                  spec.content_type, spec.size, spec.sha256, spec.when, metadata, spec.body)


def _ignore_interrupts() -> None:
    """In a producer: Ctrl-C reaches the whole process group; the parent handles it (and cleans up)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def days(setup: Setup, plans: Sequence[Plan], *, processes: int) -> Iterator[Day]:
    """The days in order, made here (``processes`` 0) or by producer processes a few days ahead."""
    if processes == 0:
        for plan in plans:
            yield produce(setup, plan)
        return
    # spawn, not fork: this process holds a database connection and a writer thread
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn"), initializer=_ignore_interrupts) as pool:
        waiting: list[Future[Day]] = []
        for plan in plans:
            waiting.append(pool.submit(produce, setup, plan))
            if len(waiting) > AHEAD:
                yield waiting.pop(0).result()
        for future in waiting:
            yield future.result()


__all__ = ["AHEAD", "Day", "Plan", "Setup", "Stored", "WireEvent", "days", "produce"]
