"""Say what a ranking asks for, once: :class:`RankQuery`, the options of every ranker.

``DispatchEngine.rank`` and ``explain``, the lifecycle's ranker calls and the simulation's
policies all take the same options -- ``k``, ``needs``, ``max_eta_s``, ``heading``,
``exclude`` -- and validate them here, in one place. Keyword arguments keep working
everywhere (``engine.rank(lat, lng, k=3)``); a :class:`RankQuery` carries them as one
value (``engine.rank(lat, lng, query=q)``), and :meth:`RankQuery.options` turns one back
into the keyword arguments of a host's ranker (:class:`~kayou_dispatch.lifecycle.RankFunction`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.matching._validate import check_exclude, check_k, check_max_eta_s, check_needs

__all__ = ["RankQuery"]


@dataclass(frozen=True, slots=True)
class RankQuery:
    """The options of one ranking (validated and normalised on creation).

    Attributes
    ----------
    k
        How many candidates at most (an int >= 1).
    needs
        Capabilities every candidate must have.
    max_eta_s
        Leave out candidates slower than this (``None``: no limit).
    heading
        The incident vehicle's travel direction, degrees clockwise from north (``None``:
        unknown).
    exclude
        Responder ids to skip (e.g. those who declined).

    Raises
    ------
    InvalidParameterError
        For a bad ``k``, ``needs``, ``max_eta_s``, ``heading`` or ``exclude``.

    Examples
    --------
    >>> q = RankQuery(k=3, needs=["tow"])
    >>> q.k, sorted(q.needs), q.max_eta_limit_s
    (3, ['tow'], inf)
    >>> q.options()["needs"], q.replace(k=1).k
    (('tow',), 1)
    """

    k: int = 10
    needs: frozenset[str] = frozenset()
    max_eta_s: float | None = None
    heading: float | None = None
    exclude: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "k", check_k(self.k))
        setattr_(self, "needs", check_needs(self.needs, None))
        cap = check_max_eta_s(self.max_eta_s)
        setattr_(self, "max_eta_s", None if self.max_eta_s is None else cap)
        setattr_(self, "exclude", check_exclude(self.exclude))
        if self.heading is not None:
            h = self.heading
            try:
                x = float(h)
            except (TypeError, ValueError):
                x = math.nan
            if isinstance(h, bool | str) or not math.isfinite(x):
                msg = f"heading must be None or finite degrees, got {h!r}"
                raise InvalidParameterError(msg, name="heading", value=h)
            setattr_(self, "heading", x)

    @classmethod
    def of(
        cls,
        query: RankQuery | None = None,
        *,
        k: int = 10,
        needs: Iterable[str] = (),
        max_eta_s: float | None = None,
        heading: float | None = None,
        exclude: Iterable[str] = (),
    ) -> RankQuery:
        """The query given, or one built from the keyword options (not both).

        Raises
        ------
        InvalidParameterError
            When ``query`` is given together with an option, or is not a RankQuery.
        """
        if query is None:
            return cls(k, frozenset(needs), max_eta_s, heading, frozenset(exclude))
        if not isinstance(query, RankQuery):
            msg = f"query must be a RankQuery or None, got {type(query).__name__}"
            raise InvalidParameterError(msg, name="query", value=query)
        given = (k, tuple(needs), max_eta_s, heading, tuple(exclude))
        if given != (10, (), None, None, ()):
            msg = "give query= or the rank options (k, needs, max_eta_s...), not both"
            raise InvalidParameterError(msg, name="query", value=query)
        return query

    @property
    def max_eta_limit_s(self) -> float:
        """``max_eta_s`` as a number (``inf`` for no limit)."""
        return math.inf if self.max_eta_s is None else self.max_eta_s

    def options(self) -> dict[str, Any]:
        """The keyword arguments of a ranker: ``rank(lat, lng, **query.options())``."""
        return {
            "k": self.k,
            "needs": tuple(sorted(self.needs)),
            "max_eta_s": self.max_eta_s,
            "heading": self.heading,
            "exclude": tuple(sorted(self.exclude)),
        }

    def replace(self, **changes: Any) -> RankQuery:
        """A copy with some options changed (validated again)."""
        return dataclasses.replace(self, **changes)
