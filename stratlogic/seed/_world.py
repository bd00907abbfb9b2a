"""Who asks for what: the demo's sites, job kinds, options and owners, and drawing one job from them.

A few sites and a few users account for most jobs (Zipf-like weights), as on a real system; some sites
are flaky and fail three times as often, some are solid.
"""

from __future__ import annotations

import itertools
from bisect import bisect
from typing import Generic, NamedTuple, TypeVar

from stratlogic.seed._artifacts import Page
from stratlogic.seed._lifecycle import Job, Kind, Policy, Target
from stratlogic.seed._random import Draw
from stratlogic.seed._rows import SECOND, json_text
from stratlogic.seed._vocab import BRANDS, JOB_NAMES, KINDS, LANGUAGES, PATHS, SECTOR_WORDS, SECTORS, SLUGS, TITLE_WORDS

SITES = 150
ITEMS_PER_PAGE = {"scrape": 14.0, "crawl": 6.0, "sitemap": 1.0, "api": 45.0, "screenshot": 0.0}
FAIL_RATE = {"scrape": 0.16, "crawl": 0.24, "sitemap": 0.12, "api": 0.10, "screenshot": 0.14}
OPTIONS = {
    "scrape": ({"render_js": False, "respect_robots": True},
               {"render_js": True, "respect_robots": True, "wait_for": "networkidle"}),
    "crawl": tuple({"max_depth": depth, "max_pages": pages, "respect_robots": True, "same_host": True}
                   for depth, pages in itertools.product((2, 3, 4), (500, 2000))),
    "sitemap": ({"include_lastmod": True},),
    "api": ({"format": "json", "page_size": 100}, {"format": "json", "page_size": 500}),
    "screenshot": ({"full_page": True, "viewport": "1366x768"}, {"full_page": False, "viewport": "390x844"}),
}
#: (value, weight) of job priorities and retry allowances.
PRIORITIES = ((0, 78), (10, 8), (50, 5), (100, 2), (-10, 7))
RETRIES = ((3, 88), (5, 7), (0, 5))
T = TypeVar("T")


class Site(NamedTuple):
    """A website jobs are pointed at, with what jobs on it are called and its pages' titles."""

    host: str
    language: str
    sector: str
    flakiness: float
    names: dict[str, tuple[str, ...]]
    titles: tuple[str, ...]
    paths: tuple[str, ...]


class Picker(Generic[T]):
    """Weighted choice by a uniform draw and a binary search (``random.choices`` costs more per call)."""

    def __init__(self, items: tuple[T, ...], weights: tuple[float, ...]) -> None:
        self.items = items
        self.cumulative = list(itertools.accumulate(weights))
        self.total = self.cumulative[-1]

    def __call__(self, rng: Draw) -> T:
        return self.items[bisect(self.cumulative, rng.random() * self.total)]


def make_sites(rng: Draw) -> list[Site]:
    """``SITES`` distinct sites in several languages and sectors."""
    language = Picker(tuple(code for code, _ in LANGUAGES), tuple(float(w) for _, w in LANGUAGES))
    sites: dict[str, Site] = {}
    while len(sites) < SITES:
        brand, sector = rng.pick(BRANDS), rng.pick(SECTORS)
        word = rng.pick(SECTOR_WORDS[sector])
        host, lang, flaky = f"{brand}-{word}.example", language(rng), rng.random()
        if host in sites:
            continue
        label = f"{brand.title()} {word.title()}"
        slugs = [rng.pick(SLUGS) for _ in range(8)]
        paths = dict.fromkeys(f"https://{host}" + path.format(slug=slug, year=year) for path in PATHS[sector]
                              for slug in slugs for year in (2025, 2026))
        names = {kind: tuple(name.format(host=host) for name in names) for kind, names in JOB_NAMES.items()}
        sites[host] = Site(host, lang, sector, 3.0 if flaky < 0.08 else 0.5 if flaky < 0.33 else 1.0, names,
                           tuple(f"{page} | {label}" for page in TITLE_WORDS[lang]), tuple(paths))
    return list(sites.values())


class World:
    """Everything fixed for one demo run; ``job`` draws one job's parameters."""

    def __init__(self, rng: Draw, owners: tuple[int, ...], owner_weights: tuple[float, ...], policy: Policy) -> None:
        self.policy = policy
        self.owner = Picker(owners, owner_weights)
        sites = make_sites(rng)
        ranks = list(range(1, len(sites) + 1))
        rng.shuffle(ranks)
        self.site = Picker(tuple(sites), tuple(1 / r**1.05 for r in ranks))
        kinds = tuple(Kind(name, median * SECOND, spread, pages, ITEMS_PER_PAGE[name], FAIL_RATE[name])
                      for name, _, median, spread, pages in KINDS)
        self.kind = Picker(kinds, tuple(float(k[1]) for k in KINDS))
        self.options = {kind: tuple(json_text(o) for o in choices) for kind, choices in OPTIONS.items()}  # sorted
        self.priority = Picker(tuple(p for p, _ in PRIORITIES), tuple(float(w) for _, w in PRIORITIES))
        self.retries = Picker(tuple(r for r, _ in RETRIES), tuple(float(w) for _, w in RETRIES))

    def job(self, rng: Draw, job_id: int, created: int) -> Job:
        """A new job's parameters, drawn; its life is played by ``_lifecycle.live``."""
        kind, site = self.kind(rng), self.site(rng)
        url = rng.pick(site.paths)
        target = Target(url, rng.pick(site.names[kind.name]), Page(url, site.language, rng.pick(site.titles), 0),
                        site.flakiness)
        pages = max(1, int(rng.lognormal(kind.pages_median, 0.9))) if kind.pages_median > 1 else 1
        return Job(job_id, self.owner(rng), created, kind, target, rng.pick(self.options[kind.name]),
                   self.priority(rng), self.retries(rng), pages, self.policy)


__all__ = ["World", "make_sites"]
