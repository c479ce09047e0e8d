"""Turn a ``seed`` argument (int, ``None`` or a Generator) into a numpy random Generator."""

from __future__ import annotations

from typing import Any

import numpy as np

from kayou_dispatch.errors import InvalidParameterError

__all__ = ["as_rng"]


def as_rng(seed: Any) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for ``seed``.

    An ``int`` (``>= 0``) gives a fresh, reproducible generator; ``None`` a fresh
    unpredictable one; a ``Generator`` is used as is (and advanced by the caller).

    Examples
    --------
    >>> int(as_rng(7).integers(1000)) == int(as_rng(7).integers(1000))
    True
    >>> g = np.random.default_rng(1)
    >>> as_rng(g) is g
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, int | np.integer) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    msg = f"seed must be a non-negative int, None or a numpy Generator, got {seed!r}"
    raise InvalidParameterError(msg, name="seed", value=seed)
