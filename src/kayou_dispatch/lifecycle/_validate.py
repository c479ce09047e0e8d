"""Validate the lifecycle's inputs: ids, seconds, and the callables hosts inject."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

from kayou_dispatch.errors import InvalidParameterError

__all__ = ["check_id", "check_seconds", "takes_keyword"]


def takes_keyword(fn: Callable[..., Any] | None, name: str) -> bool:
    """Whether ``fn`` accepts the keyword argument ``name``."""
    if fn is None:
        return False
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def check_id(name: str, value: Any) -> str:
    """Return ``value`` if it is a non-empty string, else raise ``InvalidParameterError``."""
    if not isinstance(value, str) or not value:
        msg = f"{name} must be a non-empty string, got {value!r}"
        raise InvalidParameterError(msg, name=name, value=value)
    return value


def check_seconds(
    name: str, value: Any, *, allow_none: bool = False, positive: bool = False
) -> float | None:
    """Return ``value`` as finite seconds >= 0 (> 0 when ``positive``; ``None`` if allowed)."""
    if value is None and allow_none:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if isinstance(value, bool) or not ((x > 0 if positive else x >= 0) and math.isfinite(x)):
        msg = f"{name} must be a finite number {'>' if positive else '>='} 0, got {value!r}"
        raise InvalidParameterError(msg, name=name, value=value)
    return x
