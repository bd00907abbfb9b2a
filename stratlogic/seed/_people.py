"""Demo users: every role, realistic names, no usable password (they cannot log in)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from stratlogic.models import UserRole
from stratlogic.models.audit_rules import AuditAction
from stratlogic.seed._random import Draw
from stratlogic.seed._rows import SECOND, Chain
from stratlogic.seed._vocab import DEMO_EMAIL_DOMAIN, FIRST_NAMES, LAST_NAMES
from stratlogic.seed.base import created_details

#: Share of each role among demo users (the rest are viewers); at least one of each when there is room.
ROLE_SHARES = ((UserRole.ADMIN, 0.03), (UserRole.OPERATOR, 0.22), (UserRole.ANALYST, 0.40))
CREATED = AuditAction.USER_CREATED.value
#: Roles whose users create scraping jobs.
JOB_OWNERS = frozenset({UserRole.ADMIN, UserRole.OPERATOR, UserRole.ANALYST})


@dataclass(frozen=True)
class People:
    """The demo users' rows and audit rows, and who owns jobs with what weight (a few users run most)."""

    rows: list[tuple[Any, ...]]
    audit: list[tuple[Any, ...]]
    owners: tuple[int, ...]
    owner_weights: tuple[float, ...]


def roles(count: int) -> list[UserRole]:
    """``count`` roles in the intended shares (largest remainder), admins first."""
    wanted = [(role, count * share) for role, share in ROLE_SHARES]
    numbers = {role: max(1, int(share)) if count >= 4 else 0 for role, share in wanted}
    numbers[UserRole.VIEWER] = count - sum(numbers.values())
    if count < 4:  # too few for every role: owners first, so jobs have someone to belong to
        numbers = {UserRole.OPERATOR: count, UserRole.VIEWER: 0}
    return [role for role, n in numbers.items() for _ in range(n)]


def make_people(rng: Draw, count: int, first_id: int, at: int, admin_id: int, chain: Chain,
                every: int = 7 * SECOND) -> People:
    """``count`` users created by the admin from ``at``, ``every`` microseconds apart, with their audit rows."""
    assigned = roles(count)
    rng.shuffle(assigned)
    names = _names(rng, count)
    rows, audit = [], []
    for i, (role, (first, last, username)) in enumerate(zip(assigned, names, strict=True)):
        when = at + i * every + rng.below(max(1, every // 2))
        row = (first_id + i, username, f"{username}@{DEMO_EMAIL_DOMAIN}", f"{first} {last}", role.value, None, True,
               rng.random() < 0.9, when, when)
        rows.append(row)
        audit.append(chain.entry(when, admin_id, CREATED, "user", str(row[0]), created_details(row)))
    owners = tuple(row[0] for row in rows if UserRole(row[4]) in JOB_OWNERS)
    ranks = list(range(1, len(owners) + 1))
    rng.shuffle(ranks)
    return People(rows, audit, owners, tuple(1 / rank**0.9 for rank in ranks))


def _names(rng: Draw, count: int) -> list[tuple[str, str, str]]:
    """Distinct ``first.last`` usernames (a number added when a pair repeats)."""
    seen: dict[str, int] = {}
    names = []
    pairs = list(itertools.product(FIRST_NAMES, LAST_NAMES))
    for first, last in (rng.pick(pairs) for _ in range(count)):
        base = f"{first}.{last}".lower()
        seen[base] = seen.get(base, 0) + 1
        names.append((first, last, base if seen[base] == 1 else f"{base}{seen[base]}"))
    return names


__all__ = ["JOB_OWNERS", "People", "make_people", "roles"]
