"""Order candidates by the expected time until help arrives, declines and time-outs included.

Ranking by road ETA offers the nearest driver first, even one who rarely answers. Here each
candidate ``i`` also has :class:`Odds`: ``p_i`` the chance it accepts an offer within the
time-out, ``a_i`` its accept delay, and ``f_i`` the time a failed offer to it costs (its
decline delay, or the whole time-out when it never answers). A sequential cascade that
offers ``1, 2, ..., n`` in turn brings help after

    E[T] = sum_i S_{i-1} (p_i (a_i + eta_i) + (1 - p_i) f_i) + S_n L,
    S_i = (1 - p_1) ... (1 - p_i),

``L`` being whatever follows when all of them fail (the same for every order). Swapping
neighbours ``i, j`` changes ``E[T]`` only through ``c_i + (1 - p_i) c_j`` versus
``c_j + (1 - p_j) c_i`` (``c_i = p_i (a_i + eta_i) + (1 - p_i) f_i``), so ``i`` goes first
exactly when ``c_i / p_i < c_j / p_j``: sorting by

    expected_s = eta_s + a + f (1 - p) / p

minimises ``E[T]`` (an exchange argument, as Smith's rule). ``expected_s`` reads as the
expected time to help from a cascade of candidates like this one: ``(1 - p) / p`` failed
offers of ``f`` seconds each, then the accept delay and the drive. A certain
(``p = 1``) candidate's ``expected_s`` is its ETA plus its accept delay.

:func:`rank_expected` turns an exact ETA ranking into the exact top ``k`` by
``expected_s``: since ``expected_s >= eta_s``, a candidate the ETA ranking has not reached
yet (ETA at least the last one's) cannot beat a ``expected_s`` below that ETA; the ETA
ranking is asked for twice as many until the ``k``-th best ``expected_s`` is below the
last ETA seen, or every candidate was seen.

Examples
--------
>>> expected_s(120.0, Odds(p_accept=0.5, accept_delay_s=10.0, fail_s=30.0))
160.0
>>> near, sure = (60.0, Odds(0.1, 5.0, 90.0)), (200.0, Odds(0.9, 5.0, 20.0))
>>> expected_s(*near), round(expected_s(*sure), 1)  # the sure one goes first
(875.0, 207.2)
>>> [round(cascade_time_s(order, tail_s=0.0), 1) for order in ([near, sure], [sure, near])]
[255.3, 195.2]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.matching.rank import Candidate

__all__ = [
    "cascade_time_s",
    "check_objective",
    "expected_s",
    "ExpectedCandidate",
    "Objective",
    "OBJECTIVES",
    "Odds",
    "order_by_expected",
    "rank_expected",
]

Objective = Literal["eta", "expected"]

#: The ranking objectives: road ETA alone, or expected time until help arrives.
OBJECTIVES: tuple[str, ...] = ("eta", "expected")


def check_objective(objective: object) -> Objective:
    """Return ``objective`` if it is one of :data:`OBJECTIVES`, else raise.

    Raises
    ------
    InvalidParameterError
        For anything else.
    """
    if objective == "eta":
        return "eta"
    if objective == "expected":
        return "expected"
    msg = f"objective must be one of {OBJECTIVES}, got {objective!r}"
    raise InvalidParameterError(msg, name="objective", value=objective)


@dataclass(frozen=True, slots=True)
class Odds:
    """How an offer to one responder is likely to go.

    Attributes
    ----------
    p_accept
        Chance it accepts within the time-out, in ``(0, 1]``.
    accept_delay_s
        Delay from the offer to its accept, seconds.
    fail_s
        Time a failed offer to it costs (decline delay or time-out), seconds.
    """

    p_accept: float
    accept_delay_s: float
    fail_s: float


def expected_s(eta_s: float, odds: Odds) -> float:
    """The expected time to help of one candidate: ``eta + a + f (1 - p) / p``.

    ``inf`` when ``p_accept`` is 0 (it never helps). See the module docstring.
    """
    p = odds.p_accept
    if p <= 0.0:
        return math.inf
    return eta_s + odds.accept_delay_s + odds.fail_s * (1.0 - p) / p


def cascade_time_s(order: Sequence[tuple[float, Odds]], *, tail_s: float) -> float:
    """Expected time until help arrives when offering ``(eta_s, odds)`` in this order.

    Sequential offers, one at a time; ``tail_s`` is the time to help after all of them
    failed. The slow, obvious sum of the module docstring (the tests' oracle).
    """
    total, survive = 0.0, 1.0
    for eta, odds in order:
        p = odds.p_accept
        total += survive * (p * (odds.accept_delay_s + eta) + (1.0 - p) * odds.fail_s)
        survive *= 1.0 - p
    return total + survive * tail_s


@dataclass(frozen=True, slots=True)
class ExpectedCandidate(Candidate):
    """A :class:`~kayou_dispatch.Candidate` ranked by expected time to help.

    Attributes
    ----------
    expected_s
        ``eta_s + accept_delay_s + fail_s (1 - p_accept) / p_accept``: see
        :mod:`kayou_dispatch.matching.expected`.
    p_accept
        The responder's estimated chance to accept (for the incident's kind).
    """

    expected_s: float = math.inf
    p_accept: float = 0.0


class _Ranked(Protocol):
    @property
    def responder_id(self) -> str: ...

    @property
    def eta_s(self) -> float: ...


C = TypeVar("C", bound=_Ranked)


def order_by_expected(
    fetch: Callable[[int], Sequence[C]],
    odds_of: Callable[[Sequence[str]], Sequence[Odds]],
    *,
    k: int,
) -> list[tuple[C, float, Odds]]:
    """Return the exact top ``k`` of an ETA ranking re-ordered by expected time to help.

    Parameters
    ----------
    fetch
        ``fetch(n)``: the ``n`` best candidates by road ETA (exact, sorted by ETA; fewer when
        fewer qualify), anything with ``responder_id`` and ``eta_s``.
    odds_of
        The :class:`Odds` of each of these responder ids.
    k
        How many to return at most.

    Returns
    -------
    list of (candidate, expected_s, odds)
        Sorted by ``expected_s``, ties by ``responder_id``: the same as scoring every
        qualifying candidate and sorting. Candidates that never accept
        (``expected_s == inf``) are left out.
    """
    ask = k
    while True:
        found = list(fetch(ask))
        odds = odds_of([c.responder_id for c in found])
        scored = sorted(
            ((c, expected_s(float(c.eta_s), o), o) for c, o in zip(found, odds, strict=True)),
            key=lambda t: (t[1], t[0].responder_id),
        )
        top = [t for t in scored if math.isfinite(t[1])][:k]
        if len(found) < ask:  # every qualifying candidate seen
            return top
        # Candidates not fetched have eta_s >= the last one's, so expected_s >= it too.
        bound = float(found[-1].eta_s)
        if len(top) == k and top[-1][1] < bound:
            return top
        ask *= 2


def rank_expected(
    fetch: Callable[[int], Sequence[Candidate]],
    odds_of: Callable[[Sequence[str]], Sequence[Odds]],
    *,
    k: int,
) -> list[ExpectedCandidate]:
    """:func:`order_by_expected` for :class:`~kayou_dispatch.Candidate` rankings.

    Returns
    -------
    list of ExpectedCandidate
        The candidates with their ``expected_s`` and ``p_accept``, best first.
    """
    names = [f.name for f in dataclasses.fields(Candidate)]
    return [
        ExpectedCandidate(
            **{n: getattr(c, n) for n in names}, expected_s=score, p_accept=odds.p_accept
        )
        for c, score, odds in order_by_expected(fetch, odds_of, k=k)
    ]
