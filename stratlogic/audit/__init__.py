"""Audit services: verify the chain, checkpoints, and pruning a prefix. Recording is in repositories."""

from stratlogic.audit.checkpoint import Checkpoint
from stratlogic.audit.prune import PruneResult, prune_before
from stratlogic.audit.verify import VerifyReport, verify
from stratlogic.db.actor import acting_as, current_actor

__all__ = ["Checkpoint", "PruneResult", "VerifyReport", "acting_as", "current_actor", "prune_before", "verify"]
