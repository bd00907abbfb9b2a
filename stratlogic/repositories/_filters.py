"""Kept so older imports keep working: the filter parser is public now, in ``repositories/filters.py``."""

from __future__ import annotations

from stratlogic.repositories.filters import (
    _MAX_INT,
    _MIN_INT,
    INT_RANGES,
    MAX_IN_VALUES,
    OPERATORS,
    Field,
    Filter,
    Kind,
    Order,
    field_for,
    parse_filters,
    parse_sort,
    to_json_value,
)

__all__ = ["INT_RANGES", "MAX_IN_VALUES", "OPERATORS", "_MAX_INT", "_MIN_INT", "Field", "Filter", "Kind", "Order",
           "field_for", "parse_filters", "parse_sort", "to_json_value"]
