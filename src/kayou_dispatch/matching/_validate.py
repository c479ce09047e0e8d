"""Check the options of ranking and matching and raise the library's typed errors."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.spatial.responders import parse_capabilities

__all__ = ["check_exclude", "check_k", "check_max_eta_s", "check_needs"]


def check_k(k: Any) -> int:
    """Return ``k`` as an int >= 1, else raise :class:`InvalidParameterError`."""
    if not isinstance(k, int | np.integer) or isinstance(k, bool | np.bool_) or k < 1:
        msg = f"k must be an integer >= 1, got {k!r}"
        raise InvalidParameterError(msg, name="k", value=k)
    return int(k)


def check_max_eta_s(max_eta_s: Any) -> float:
    """Return ``max_eta_s`` as seconds >= 0 (``None``: ``inf``), else raise."""
    if max_eta_s is None:
        return math.inf
    try:
        x = float(max_eta_s)
    except (TypeError, ValueError):
        x = math.nan
    if isinstance(max_eta_s, bool) or not x >= 0.0:
        msg = f"max_eta_s must be None or a number of seconds >= 0, got {max_eta_s!r}"
        raise InvalidParameterError(msg, name="max_eta_s", value=max_eta_s)
    return x


def check_needs(
    needs: Iterable[str] | str, registry: frozenset[str] | None, *, name: str = "needs"
) -> frozenset[str]:
    """Return ``needs`` as a frozenset of capability names known to ``registry`` (if any)."""
    out = parse_capabilities(needs, name=name)
    if registry is not None and not out <= registry:
        unknown = sorted(out - registry)
        msg = f"unknown capabilities {unknown} in {name}; allowed: {sorted(registry)}"
        raise InvalidParameterError(msg, name=name, value=unknown)
    return out


def check_exclude(exclude: Iterable[str] | str) -> frozenset[str]:
    """Return ``exclude`` as a frozenset of responder ids."""
    return parse_capabilities(exclude, name="exclude")
