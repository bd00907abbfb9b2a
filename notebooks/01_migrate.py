# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Migrate the database
#
# Brings the database named by `STRATLOGIC_DATABASE_URL` (default: the embedded SQLite file under `var/`)
# to a schema revision, as `stratlogic db upgrade` does, and shows its health before and after. This
# notebook changes the database: `stratlogic reports run` runs it only when named (`--only 01_migrate`).

# %% tags=["parameters"]
revision: str = "head"  # Alembic revision to upgrade to (head: the newest)

# %%
import stratlogic

p = stratlogic.report_parameters("01_migrate", globals())

# %%
wb = stratlogic.open()
charts = stratlogic.reports.charts
charts.kpis(wb.health().part("database").details, caption="Before")

# %% [markdown]
# ## Upgrade

# %% tags=["kpis"]
wb.migrate(p.revision)
charts.kpis(wb.health().part("database").details, caption=f"After upgrading to {p.revision}")

# %%
wb
