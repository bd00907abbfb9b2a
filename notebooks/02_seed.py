# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Seed demo data
#
# Fills a migrated database with reproducible demo data, as `stratlogic seed --demo` does: users of every
# role, scraping jobs over the last days with their artifacts and metadata, and an audit trail that
# verifies. The same parameters give the same rows. The first admin's password comes from
# `STRATLOGIC_ADMIN_PASSWORD`, or is generated and written to `var/admin-password.txt` (never shown here).
# This notebook changes the database: `stratlogic reports run` runs it only when named (`--only 02_seed`).

# %% tags=["parameters"]
users: int = 12  # demo users to create
jobs: int = 300  # scraping jobs over the window
days: int = 14  # length of the window, ending today (UTC midnight)
seed: int = 1  # random seed: the same seed gives the same rows
objects: bool = True  # also write the artifacts' bytes to the artifact store

# %%
import stratlogic

p = stratlogic.report_parameters("02_seed", globals())

# %%
wb = stratlogic.open()
charts = stratlogic.reports.charts

# %% [markdown]
# ## Seed

# %% tags=["kpis"]
result = wb.seed_demo(users=p.users, jobs=p.jobs, days=p.days, seed=p.seed, objects=p.objects)
charts.kpis(result.rows, caption="Rows written" if result.created else "Already seeded: nothing written")

# %% [markdown]
# ## The database now

# %%
wb
