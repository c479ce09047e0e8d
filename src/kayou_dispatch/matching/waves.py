"""Size a broadcast ("grab") wave: enough offers that enough accept, with a target chance.

A broadcast offers a unit to several drivers at once; the first to accept take it. With
each driver's own chance ``p_i`` of accepting within the time-out (independent), the
number who accept is Poisson-binomial; :func:`accept_chance` computes
``P(at least need accept)`` exactly by the usual dynamic programme over drivers
(``O(n * need)``). :func:`wave_size` is the fewest candidates, taken in ranking order,
that -- with the offers still outstanding -- bring that chance to a target; a later wave
is at least as large as the offers that already failed (so waves widen geometrically
when drivers keep declining, instead of trickling one by one).

Examples
--------
>>> round(accept_chance([0.5, 0.5], need=1), 2)
0.75
>>> wave_size([], [0.5] * 10, need=1, target=0.95)
5
>>> wave_size([0.99], [0.5] * 10, need=1, target=0.95)
0
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from kayou_dispatch.errors import InvalidParameterError

__all__ = ["accept_chance", "check_target", "wave_size"]


def check_target(target: object, *, name: str = "accept_target") -> float:
    """Return ``target`` as a probability strictly between 0 and 1, else raise.

    Raises
    ------
    InvalidParameterError
        For a target that is not a number in ``(0, 1)`` (naming ``name``).
    """
    try:
        x = float(target)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        x = math.nan
    if isinstance(target, bool) or not 0.0 < x < 1.0:
        msg = f"{name} must be a probability strictly between 0 and 1, got {target!r}"
        raise InvalidParameterError(msg, name=name, value=target)
    return x


def accept_chance(p: Sequence[float], *, need: int) -> float:
    """The chance that at least ``need`` of independent drivers with chances ``p`` accept.

    Examples
    --------
    >>> accept_chance([0.2, 0.9], need=2) == 0.2 * 0.9
    True
    >>> accept_chance([], need=0)
    1.0
    """
    if need <= 0:
        return 1.0
    # dist[j]: chance exactly j accepted so far (j < need); `done` once need is reached.
    dist = [1.0] + [0.0] * (need - 1)
    done = 0.0
    for pi in p:
        done += dist[need - 1] * pi
        for j in range(need - 1, 0, -1):
            dist[j] = dist[j] * (1.0 - pi) + dist[j - 1] * pi
        dist[0] *= 1.0 - pi
    return min(1.0, done)


def wave_size(
    outstanding: Sequence[float],
    candidates: Sequence[float],
    *,
    need: int,
    target: float,
    at_least: int = 0,
) -> int:
    """How many of ``candidates`` (in order) to offer now.

    Parameters
    ----------
    outstanding
        Accept chances of the offers still open for these units.
    candidates
        Accept chances of the candidates not yet offered, best first.
    need
        Units still missing.
    target
        The chance that at least ``need`` accept that the wave must reach.
    at_least
        The smallest wave when one is needed at all (e.g. the offers that already failed).

    Returns
    -------
    int
        0 when the outstanding offers already reach the target; else the fewest
        candidates that do (at least ``at_least``), or all of them when none do.
    """
    if accept_chance(outstanding, need=need) >= target:
        return 0
    ps = list(outstanding)
    for n, pi in enumerate(candidates, start=1):
        ps.append(pi)
        if n >= at_least and accept_chance(ps, need=need) >= target:
            return n
    return len(candidates)
