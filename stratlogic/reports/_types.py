"""The annotation types a ``parameters`` cell may use, and how a value (often a string) becomes one.

Types: ``str``, ``int``, ``float``, ``bool``, ``list[str]``, ``list[int]``, ``Literal[...]`` and any of
them ``| None``. Some names carry meaning beyond their type and are checked by it: ``since``/``until``
(the analytics window grammar), ``tz`` (an IANA zone), ``by`` (hour|day|week|month), ``status``/``statuses``
(job statuses), ``action``/``actions`` (audit actions), ``top`` (a row count, 1 to 10,000),
``workday_start``/``workday_end`` (HH:MM) and ``metadata_key`` (an artifact metadata key): the values the
statistics would refuse in the kernel are refused here, before one starts, naming the notebook's parameter
rather than the statistic's argument.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from stratlogic.errors import ValidationError

_SCALARS = ("str", "int", "float", "bool")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_NONE = frozenset({"none", "null", ""})
_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_MOST_ROWS = 10_000  # analytics' check_limit default
ACCEPTED = "str, int, float, bool, list[str], list[int], Literal[...], each optionally '| None'"


@dataclass(frozen=True)
class ParamType:
    """``base`` is a scalar name, ``list[str]``/``list[int]`` or ``literal`` (with ``choices``)."""

    base: str
    choices: tuple[Any, ...] = ()
    optional: bool = False

    @property
    def is_list(self) -> bool:
        """Whether values are lists."""
        return self.base.startswith("list[")


def parse_annotation(node: ast.expr, where: str) -> ParamType:
    """The ParamType an annotation names; ValidationError naming ``where`` for anything else."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        sides = [node.left, node.right]
        nones = [side for side in sides if isinstance(side, ast.Constant) and side.value is None]
        if len(nones) == 1:
            inner = parse_annotation(sides[0] if sides[1] in nones else sides[1], where)
            return ParamType(inner.base, inner.choices, optional=True)
    text = ast.unparse(node)
    if text in _SCALARS or text in ("list[str]", "list[int]"):
        return ParamType(text)
    if isinstance(node, ast.Subscript) and ast.unparse(node.value) in ("Literal", "typing.Literal"):
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if all(isinstance(item, ast.Constant) for item in items):
            return ParamType("literal", tuple(item.value for item in items if isinstance(item, ast.Constant)))
    raise ValidationError(f"{where}: annotation {text!r} is not supported; use {ACCEPTED}")


def named(name: str, exc: Exception) -> str:
    """The error's message, prefixed with ``parameter 'NAME':`` unless it already names the parameter."""
    text = str(exc)
    if text.startswith("parameter "):
        return text
    return f"parameter {name!r}: {text.removeprefix(f'{name}: ')}"


def coerce(name: str, kind: ParamType, value: Any) -> Any:
    """``value`` as ``kind`` (strings parsed as the CLI and papermill give them), then checked by name."""
    if kind.optional and (value is None or (isinstance(value, str) and value.strip().lower() in _NONE)):
        return None
    if kind.is_list:
        result: Any = [_scalar(kind.base[5:-1], item) for item in _items(value)]
    elif kind.base == "literal":
        result = _literal(kind.choices, value)
    else:
        result = _scalar(kind.base, value)
    check = _BY_NAME.get(name)
    if check is not None and result is not None:
        for item in result if isinstance(result, list) else [result]:
            check(name, item)
    return result


def _items(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                raise ValidationError(f"{value!r} is not a JSON list; write a,b,c or [\"a\", \"b\"]") from None
            return _items(parsed) if isinstance(parsed, list) else [parsed]
        return [part.strip() for part in text.split(",") if part.strip()]
    raise ValidationError(f"{value!r} is not a list; write a,b,c")


def _scalar(base: str, value: Any) -> Any:
    if base == "str":
        if isinstance(value, datetime | date):  # YAML reads 2026-12-01 as a date
            return value.isoformat()
        if isinstance(value, str):
            return value
    elif base == "bool":
        return _bool(value)
    elif base == "int" and not isinstance(value, bool):
        return _number(int, value, "an integer")
    elif base == "float" and not isinstance(value, bool):
        return _number(float, value, "a number")
    what = {"int": "an integer", "float": "a number"}.get(base, f"a {base}")
    raise ValidationError(f"{value!r} is not {what}")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValidationError(f"{value!r} is not a bool; use true or false")


def _number(kind: type[int] | type[float], value: Any, what: str) -> Any:
    if isinstance(value, int | float) and (kind is float or float(value).is_integer()):
        return kind(value)
    if isinstance(value, str):
        try:
            return kind(value.strip())
        except ValueError:
            pass
    raise ValidationError(f"{value!r} is not {what}")


def _literal(choices: tuple[Any, ...], value: Any) -> Any:
    for choice in choices:
        if value == choice or (isinstance(value, str) and not isinstance(choice, str) and value == str(choice)):
            return choice
    raise ValidationError(f"{value!r} is not one of {', '.join(repr(c) for c in choices)}")


def _moment(name: str, value: Any) -> None:
    from stratlogic.analytics.window import parse_moment

    parse_moment(value, param=name)


def _tz(name: str, value: Any) -> None:
    from stratlogic.analytics.window import parse_tz

    parse_tz(value)


def _bucket(name: str, value: Any) -> None:
    from stratlogic.analytics.window import parse_bucket

    parse_bucket(value)


def _clock(name: str, value: Any) -> None:
    if not isinstance(value, str) or not _CLOCK.fullmatch(value.strip()):
        raise ValidationError(f"{value!r} is not a time of day; use HH:MM, e.g. 08:00")


def _rows(name: str, value: Any) -> None:
    if isinstance(value, int) and not 1 <= value <= _MOST_ROWS:
        raise ValidationError(f"{value!r} is not a whole number from 1 to {_MOST_ROWS:,}")


def _metadata_key(name: str, value: Any) -> None:
    from stratlogic.repositories.artifacts import METADATA_KEY

    if not METADATA_KEY.fullmatch(str(value)):
        raise ValidationError(f"{value!r} is not a metadata key (1-100 of a-z, 0-9, '_', '.', '-', "
                              "starting with a letter)")


def _one_of(allowed: Callable[[], list[str]], what: str) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if value not in allowed():
            raise ValidationError(f"{value!r} is not {what}; use one of {', '.join(allowed())}")
    return check


def _statuses() -> list[str]:
    from stratlogic.models.enums import JobStatus

    return [status.value for status in JobStatus]


def _actions() -> list[str]:
    from stratlogic.models.audit_rules import AuditAction

    return [action.value for action in AuditAction]


_BY_NAME: dict[str, Callable[[str, Any], None]] = {
    "since": _moment, "until": _moment, "tz": _tz, "by": _bucket,
    "status": _one_of(_statuses, "a job status"), "statuses": _one_of(_statuses, "a job status"),
    "action": _one_of(_actions, "an audit action"), "actions": _one_of(_actions, "an audit action"),
    "top": _rows, "workday_start": _clock, "workday_end": _clock, "metadata_key": _metadata_key,
}

__all__ = ["ACCEPTED", "ParamType", "coerce", "named", "parse_annotation"]
