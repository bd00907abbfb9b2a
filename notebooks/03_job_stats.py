# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Scraping jobs
#
# How many jobs ran in the window, how they ended, how long they took and waited, what they fetched, who
# ran them and which errors came back. Change the window and filters in the parameters cell (or with
# `stratlogic reports run -p since=-7d -p statuses=failed,cancelled`); in JupyterLab the panel at the end
# re-draws the headline numbers and the volume chart as you change them. Every number comes from
# `wb.stats` (the `stratlogic.analytics` functions, computed in the database).

# %%
from typing import Literal

# %% tags=["parameters"]
since: str = "-30d"  # start of the window: -30d, -12h, today, an ISO date or datetime
until: str = "now"  # end of the window (excluded), same grammar as since
tz: str = "UTC"  # IANA time zone for periods and times shown
by: Literal["hour", "day", "week", "month"] = "day"  # period of the time series
statuses: list[str] = []  # job statuses to keep (empty: all)
owners: list[str] = []  # job owners to keep, usernames or ids (empty: all)
kinds: list[str] = []  # job kinds to keep (empty: all)
domains: list[str] = []  # target domains to keep (empty: all)
export_format: Literal["parquet", "csv", "xlsx", "none"] = "none"  # jobs data file kept beside the report
output_dir: str = "."  # folder the exported file goes to

# %%
import stratlogic

p = stratlogic.report_parameters("03_job_stats", globals())

# %%
wb = stratlogic.open(readonly=True)
charts, widgets = stratlogic.reports.charts, stratlogic.reports.widgets


def query(p):
    """The window resolved once (one "now" for every cell) and the filters set (an empty list: no filter)."""
    w = p.window
    filters = dict(status=p.statuses or None, owner=p.owners or None, kind=p.kinds or None, domain=p.domains or None)
    return dict(since=w.since, until=w.until, tz=w.tz), filters


window, filters = query(p)
wb

# %% [markdown]
# ## Headline numbers

# %% tags=["kpis"]
charts.kpis(wb.stats.job_summary(**window, **filters),
            caption=f"Jobs, {charts.span(window['since'], window['until'], p.tz)}")

# %% [markdown]
# ## Volume and throughput

# %%
charts.volume(wb.stats.job_volume(by=p.by, **window, **filters), title=f"Jobs per {p.by} by status", tz=p.tz)

# %%
throughput = wb.stats.job_throughput(by=p.by, **window, **filters)
charts.trend(throughput, "pages", title=f"Pages fetched per {p.by}", tz=p.tz)

# %%
charts.trend(throughput, "bytes", title=f"Data fetched per {p.by}", tz=p.tz)

# %% [markdown]
# ## Run time and queue wait

# %%
durations = wb.stats.job_durations(**window, **filters)
charts.table(durations, caption="Percentiles of run time (started to finished) and queue wait (created to started)")

# %%
charts.percentiles(durations, title="Run time and queue wait percentiles")

# %% [markdown]
# ## Who ran what

# %%
by_owner = wb.stats.job_breakdown(field="owner", **window, **filters)
charts.bars(by_owner, "key", "jobs", title="Jobs per owner")

# %%
charts.table(by_owner, caption="Jobs per owner", labels={"key": "Owner"})

# %%
charts.table(wb.stats.job_breakdown(field="domain", **window, **filters), caption="Jobs per target domain", limit=15,
             labels={"key": "Target domain"})

# %% [markdown]
# ## Retries and errors

# %%
charts.histogram(wb.stats.job_attempts(**window, **filters), "attempts", "jobs", title="Attempts per job",
                 xlabel="Attempts (count)")

# %%
charts.table(wb.stats.job_errors(limit=10, **window, **filters), caption="Most frequent errors")

# %% [markdown]
# ## The queue now
#
# Not limited to the window: what is waiting and which leases ran out without a heartbeat.

# %%
charts.kpis(wb.stats.queue_health(), caption="Queue health now", tz=p.tz)

# %%
charts.table(wb.stats.stuck_jobs(), caption="Jobs whose lease expired", tz=p.tz)

# %% [markdown]
# ## Export

# %%
exported = None
if p.export_format != "none":
    exported = wb.export("jobs", f"{p.output_dir}/jobs.{p.export_format}", fmt=p.export_format, force=True,
                         filters=filters, **window)
charts.exported(exported)

# %% [markdown]
# ## Explore
#
# In JupyterLab: change the window or the filters and the headline numbers and the volume re-draw here.

# %%
def view(r):
    """What the panel re-draws for its parameters: the headline numbers and the volume."""
    w, f = query(r)
    return [charts.kpis(wb.stats.job_summary(**w, **f)),
            charts.volume(wb.stats.job_volume(by=r.by, **w, **f), title=f"Jobs per {r.by} by status", tz=r.tz)]


widgets.explore(p, view)
