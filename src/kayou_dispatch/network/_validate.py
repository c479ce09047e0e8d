"""Check the options of the road-network API and raise the library's typed errors."""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kayou_dispatch.errors import InvalidParameterError

__all__ = ["check_heading", "check_headings", "check_max_distance_m", "check_node"]

_HEADING_ALLOWED = "a finite number of degrees clockwise from north in [0, 360]"


def check_heading(heading: Any) -> float | None:
    """Return ``heading`` as a float (or ``None``), or raise :class:`InvalidParameterError`."""
    if heading is None:
        return None
    try:
        h = float(heading)
    except (TypeError, ValueError):
        h = math.nan
    if not 0.0 <= h <= 360.0:
        msg = f"heading must be None or {_HEADING_ALLOWED}, got {heading!r}"
        raise InvalidParameterError(msg, name="heading", value=heading)
    return h


def check_headings(headings: ArrayLike | None, n: int) -> NDArray[np.float64] | None:
    """Return ``headings`` as a float64 array of length ``n`` (or ``None``), else raise."""
    if headings is None:
        return None
    try:
        h = np.ascontiguousarray(headings, dtype=np.float64)
    except (TypeError, ValueError):
        msg = f"headings must be None or a numeric array of {_HEADING_ALLOWED}"
        raise InvalidParameterError(msg, name="headings", value=headings) from None
    if h.shape != (n,):
        msg = f"headings must have shape ({n},) like the coordinates, got {h.shape}"
        raise InvalidParameterError(msg, name="headings", value=headings)
    ok = (h >= 0.0) & (h <= 360.0)
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        msg = f"headings[{row}] = {h[row]!r}; each heading must be {_HEADING_ALLOWED}"
        raise InvalidParameterError(msg, name="headings", value=headings)
    return h


def check_max_distance_m(max_distance_m: Any) -> float:
    """Return ``max_distance_m`` as a float > 0 (``inf`` allowed), else raise."""
    try:
        d = float(max_distance_m)
    except (TypeError, ValueError):
        d = math.nan
    if not d > 0.0:
        msg = f"max_distance_m must be a number of metres > 0 (inf allowed), got {max_distance_m!r}"
        raise InvalidParameterError(msg, name="max_distance_m", value=max_distance_m)
    return d


def check_node(node: Any, n_nodes: int, *, name: str = "node") -> int:
    """Return ``node`` as a dense node index in ``[0, n_nodes)``, else raise."""
    try:
        if isinstance(node, bool | np.bool_):
            raise TypeError
        i = operator.index(node)
    except TypeError:
        msg = f"{name} must be an integer node index in [0, {n_nodes}), got {node!r}"
        raise InvalidParameterError(msg, name=name, value=node) from None
    if not 0 <= i < n_nodes:
        msg = f"{name} must be a node index in [0, {n_nodes}), got {i}"
        raise InvalidParameterError(msg, name=name, value=node)
    return i
