# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Artifacts and their metadata
#
# What the jobs in the window stored: how many files of which types, how large, how many per job, which
# metadata keys they carry and with which values, and which contents were stored more than once. Change
# the window and filters in the parameters cell (or with `stratlogic reports run -p since=-7d`); in
# JupyterLab the panel at the end re-draws the headline numbers and the content types as you change them.

# %%
from typing import Literal

# %% tags=["parameters"]
since: str = "-30d"  # start of the window: -30d, -12h, today, an ISO date or datetime
until: str = "now"  # end of the window (excluded), same grammar as since
tz: str = "UTC"  # IANA time zone for times shown
content_types: list[str] = []  # content types to keep, e.g. text/html (empty: all)
owners: list[str] = []  # owners of the jobs that stored them, usernames or ids (empty: all)
domains: list[str] = []  # target domains of those jobs (empty: all)
metadata_key: str = "language"  # metadata key whose most common values are listed
top: int = 10  # how many values, errors or duplicates to list
export_format: Literal["parquet", "csv", "xlsx", "none"] = "none"  # artifacts data file kept beside the report
output_dir: str = "."  # folder the exported file goes to

# %%
import stratlogic

p = stratlogic.report_parameters("04_artifact_metadata", globals())

# %%
wb = stratlogic.open(readonly=True)
charts, widgets = stratlogic.reports.charts, stratlogic.reports.widgets


def query(p):
    """The window resolved once (one "now" for every cell) and the filters set (an empty list: no filter)."""
    w = p.window
    filters = dict(content_type=p.content_types or None, owner=p.owners or None, domain=p.domains or None)
    return dict(since=w.since, until=w.until, tz=w.tz), filters


window, filters = query(p)
wb

# %% [markdown]
# ## Headline numbers

# %% tags=["kpis"]
charts.kpis(wb.stats.artifact_size_percentiles(**window, **filters), unit="bytes",
            caption=f"Artifacts stored, {charts.span(window['since'], window['until'], p.tz)}")

# %% [markdown]
# ## Content types

# %%
by_type = wb.stats.artifact_summary(field="content_type", **window, **filters)
charts.bars(by_type, "key", "artifacts", title="Artifacts per content type")

# %%
charts.bars(by_type, "key", "bytes", title="Bytes stored per content type")

# %%
charts.table(by_type, caption="Artifacts per content type", labels={"key": "Content type"})

# %% [markdown]
# ## Sizes

# %%
charts.histogram(wb.stats.artifact_sizes(**window, **filters), "bin", "artifacts", title="Artifact sizes",
                 xlabel="Size (binned)")

# %%
charts.histogram(wb.stats.artifacts_per_job(**window, **filters), "artifacts", "jobs", title="Artifacts per job",
                 xlabel="Artifacts per job (count)")

# %% [markdown]
# ## Metadata

# %%
coverage = wb.stats.metadata_coverage(**window, **filters)
charts.bars(coverage, "key", "coverage", title="Share of artifacts carrying each metadata key")

# %%
charts.table(coverage, caption="Metadata keys", labels={"key": "Metadata key"})

# %%
charts.table(wb.stats.metadata_top_values(p.metadata_key, limit=p.top, **window, **filters),
             caption=f"Most common values of {p.metadata_key!r}")

# %% [markdown]
# ## Stored more than once

# %%
charts.table(wb.stats.duplicate_artifacts(**window, **filters), caption="Same content (sha256) stored more than once",
             limit=p.top)

# %% [markdown]
# ## Export

# %%
exported = None
if p.export_format != "none":
    exported = wb.export("artifacts", f"{p.output_dir}/artifacts.{p.export_format}", fmt=p.export_format, force=True,
                         filters={"content_type": filters["content_type"]}, **window)
charts.exported(exported)

# %% [markdown]
# ## Explore
#
# In JupyterLab: change the window or the filters and the headline numbers and the content types re-draw here.

# %%
def view(r):
    """What the panel re-draws for its parameters: the headline numbers and the content types."""
    w, f = query(r)
    return [charts.kpis(wb.stats.artifact_size_percentiles(**w, **f), unit="bytes"),
            charts.bars(wb.stats.artifact_summary(field="content_type", **w, **f), "key", "artifacts",
                        title="Artifacts per content type")]


widgets.explore(p, view)
