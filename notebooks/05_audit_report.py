# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Audit trail
#
# Who changed what in the window: events over time, the most active people and the most changed records,
# every change to users, roles and configuration, and what happened outside working hours. The last
# section checks that the audit hash chain is intact (by default from the window's start to the newest
# row). Change the window and filters in the parameters cell (or with `stratlogic reports run -p since=-7d
# -p actions=user.updated`); in JupyterLab the panel at the end re-draws the headline numbers and the
# volume as you change them.

# %%
from typing import Literal

# %% tags=["parameters"]
since: str = "-30d"  # start of the window: -30d, -12h, today, an ISO date or datetime
until: str = "now"  # end of the window (excluded), same grammar as since
tz: str = "UTC"  # IANA time zone for periods, times and working hours
by: Literal["hour", "day", "week", "month"] = "day"  # period of the time series
group: Literal["action", "actor"] = "action"  # what the volume chart stacks
actions: list[str] = []  # audit actions to keep, e.g. user.updated (empty: all)
actor: str = ""  # the one user to report on, username or id (empty: everyone)
resource_types: list[str] = []  # resource types to keep, e.g. user, job (empty: all)
workday_start: str = "08:00"  # working hours start (local time in tz), for the after-hours list
workday_end: str = "18:00"  # working hours end (local time in tz)
top: int = 10  # how many actors and resources to list
chain_check: Literal["window", "checkpoint", "full"] = "window"  # chain rows re-read: window, since checkpoint, all
export_format: Literal["parquet", "csv", "xlsx", "none"] = "none"  # audit rows data file kept beside the report
output_dir: str = "."  # folder the exported file goes to

# %%
import stratlogic

p = stratlogic.report_parameters("05_audit_report", globals())

# %%
wb = stratlogic.open(readonly=True)
charts, widgets = stratlogic.reports.charts, stratlogic.reports.widgets


def query(p):
    """The window resolved once (one "now" for every cell) and the filters set (an empty list: no filter)."""
    w = p.window
    filters = dict(action=p.actions or None, actor=p.actor or None, resource_type=p.resource_types or None)
    return dict(since=w.since, until=w.until, tz=w.tz), filters


window, filters = query(p)
wb

# %% [markdown]
# ## Headline numbers

# %%
volume = wb.stats.audit_volume(by=p.by, group=p.group, **window, **filters)
security = wb.stats.security_changes(actor=filters["actor"], **window)
after_hours = wb.stats.after_hours(start=p.workday_start, end=p.workday_end, **window, **filters)
chain_from = {"window": window["since"], "checkpoint": "checkpoint", "full": None}[p.chain_check]
chain = wb.stats.chain_status(since=chain_from)

# %% tags=["kpis"]
charts.kpis({"Events": int(volume["events"].sum()), "Security changes": len(security),
             "After-hours events": len(after_hours), "Audit chain intact": bool(chain["ok"].iloc[0])},
            caption=f"Audit events, {charts.span(window['since'], window['until'], p.tz)}")

# %% [markdown]
# ## Volume

# %%
charts.volume(volume, title=f"Audit events per {p.by} by {p.group}", tz=p.tz, legend=p.group.title())

# %% [markdown]
# ## Who and what

# %%
actors = wb.stats.top_actors(limit=p.top, **window, **filters)
charts.bars(actors, "actor", "events", title="Most active actors")

# %%
resources = wb.stats.top_resources(limit=p.top, **window, **filters)
charts.table(resources, caption="Most changed records")

# %% [markdown]
# ## Security changes
#
# Users created, deleted, activated or deactivated, role and password changes, prunes and restores of the
# trail, and changes to security settings (retention, allowed content types, size limit, proxy): every such
# row in the window, whatever the actions filter says.

# %%
charts.table(security, caption="Security-relevant changes", tz=p.tz)

# %% [markdown]
# ## Outside working hours

# %%
charts.table(after_hours, caption=f"Events outside {p.workday_start}-{p.workday_end} ({p.tz}) and at weekends", tz=p.tz)

# %% [markdown]
# ## Integrity of the trail
#
# Each row's hash covers the row before it, so an edited or deleted row shows here as the first bad id.
# `chain_check` says how much is re-read: the window's rows up to the tail and their link to the row before
# (the default, quick on any trail), the rows after the newest `stratlogic audit checkpoint`, or the whole
# trail (`-p chain_check=full`: minutes on millions of rows; `stratlogic audit verify` is the same check).

# %%
charts.kpis(chain, caption="Audit hash chain")

# %% [markdown]
# ## Export

# %%
exported = None
if p.export_format != "none":
    exported = wb.export("audit", f"{p.output_dir}/audit.{p.export_format}", fmt=p.export_format, force=True,
                         filters=filters, **window)
charts.exported(exported)

# %% [markdown]
# ## Explore
#
# In JupyterLab: change the window, the actions or the actor and the volume re-draws here.

# %%
def view(r):
    """What the panel re-draws for its parameters: the volume."""
    w, f = query(r)
    return charts.volume(wb.stats.audit_volume(by=r.by, group=r.group, **w, **f),
                         title=f"Audit events per {r.by} by {r.group}", tz=r.tz, legend=r.group.title())


widgets.explore(p, view)
