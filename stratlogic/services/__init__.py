"""Services: one entry point per capability, the only layer the faces (CLI, workbench, reports) call.

Each public function takes a ``Database`` and an explicit ``actor`` (``stratlogic.db.actor.Actor``) and
opens its own unit of work or joins the caller's (``_base.unit``). Services compose repositories (and the
read-only aggregates in ``stratlogic.analytics``); they build no SQL themselves. Every entry point is
registered with ``_base.entry`` under a dotted name (``jobs.retry``): the access-control issue checks a
permission there, and docs/architecture.md lists them all (a test compares the two).

Modules: ``jobs``, ``artifacts``, ``audit``, ``users``, ``config``, ``analytics``, ``seed``, ``migrate``,
``health``, ``reports``, ``backup``; later ``retention`` and ``access``. Import the module you need
(``from stratlogic.services import jobs``): this package imports none of them, so a command loads only its own.
"""
