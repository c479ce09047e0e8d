"""Define run cards: what each kind of incident needs, how many units, and how offers go out.

A run card is data. :data:`DEFAULT_RUN_CARDS` is the library's table; a host passes its
own cards to :class:`~kayou_dispatch.lifecycle.Dispatcher` (or calls ``set_run_card``)
to override a kind or add one.

=========== ============================ ========== ========= ======= =========
kind        units (needs of each)        mode       timeout_s fan_out max_eta_s
=========== ============================ ========== ========= ======= =========
rollover    crane, helper, helper        broadcast  60        3       3600
collision   tow, first_aid, helper       broadcast  45        3       3600
fire        helper, helper, helper       broadcast  30        3       1800
medical     first_aid, helper            broadcast  30        3       1800
breakdown   mechanic                     sequential 90        1       3600
tyre        tyre                         sequential 90        1       3600
fuel        fuel                         sequential 90        1       3600
stuck       tow, helper                  sequential 90        1       3600
directions  helper                       sequential 60        1       900
other       helper                       sequential 90        1       3600
=========== ============================ ========== ========= ======= =========

A "helper" unit needs no capability: any available driver will do (every truck carries
an extinguisher, so a fire needs drivers first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.lifecycle._validate import check_seconds
from kayou_dispatch.lifecycle.burden import MAX_WINDOW_S
from kayou_dispatch.matching.expected import Objective, check_objective
from kayou_dispatch.matching.waves import check_target
from kayou_dispatch.spatial.responders import parse_capabilities

__all__ = [
    "DEFAULT_OFFER_TIMEOUT_S",
    "DEFAULT_RUN_CARDS",
    "normalize_needs",
    "OFFER_MODES",
    "RARE_CAPABILITIES",
    "RunCard",
    "unit_needs_for",
]

OfferMode = Literal["sequential", "broadcast"]

#: The offer modes a run card may use.
OFFER_MODES: tuple[str, ...] = ("broadcast", "sequential")

#: Capabilities few responders have; ``assign_batch(coverage_margin_s=...)`` guards them.
RARE_CAPABILITIES: frozenset[str] = frozenset({"crane", "heavy_tow"})

#: A run card's offer time-out unless it says otherwise, seconds.
DEFAULT_OFFER_TIMEOUT_S = 90.0

#: Upper bound on units per incident (a guard against typos such as ``units=300``).
MAX_UNITS = 50


def normalize_needs(needs: Any, *, name: str = "needs") -> frozenset[str]:
    """Return one unit's needs as a frozenset of non-empty strings.

    A single string is one capability.

    Raises
    ------
    InvalidParameterError
        When ``needs`` is not an iterable of non-empty strings.

    Examples
    --------
    >>> sorted(normalize_needs(["tow", "crane"])), normalize_needs("tow"), normalize_needs(())
    (['crane', 'tow'], frozenset({'tow'}), frozenset())
    """
    return parse_capabilities(needs, name=name)


def _check_positive(name: str, value: Any, *, allow_none: bool = False) -> float | None:
    return check_seconds(name, value, allow_none=allow_none, positive=True)


@dataclass(frozen=True, slots=True)
class RunCard:
    """What one kind of incident gets by default.

    Parameters
    ----------
    needs
        One entry per unit: the capabilities that unit must have (an iterable of strings;
        empty for a helper). The number of units is ``len(needs)``, at least one.
    mode
        ``"sequential"``: one offer per missing unit at a time, cascading to the next
        candidate on decline or time-out. ``"broadcast"``: ``fan_out`` offers per missing
        unit at once; the first acceptances fill the units and the rest are withdrawn.
    offer_timeout_s
        How long an offer stays open.
    fan_out
        Offers per missing unit in broadcast mode (ignored, and stored as 1, in sequential).
    max_eta_s
        Candidates farther than this (by the ranker's ETA) are not offered; ``None``: no limit.
    objective
        ``"eta"``: offer the fastest by road first. ``"expected"``: the shortest expected
        time until help arrives, learned declines and time-outs included (see
        :mod:`kayou_dispatch.matching.expected`).
    accept_target
        Broadcast only. ``None``: ``fan_out`` offers per missing unit. A probability in
        ``(0, 1)``: each wave is the fewest candidates that, with the offers still open,
        make the chance that enough accept within the time-out reach it (learned chances,
        :mod:`kayou_dispatch.matching.waves`); a later wave is at least as large as the
        offers that failed before it; every other offer is withdrawn once filled.
    max_wave
        With ``accept_target``: at most this many offers open at once per kind of unit.
    max_offers_per_window
        Fair burden: a volunteer who had this many offers (of any kind) in the last
        ``offer_window_s`` is not offered this kind (``None``: no limit). See
        :mod:`kayou_dispatch.lifecycle.burden`.
    offer_window_s
        The rolling window of that limit, seconds (at most 7 days).
    driving
        Whether the task means driving (then a volunteer due a rest is not offered it).
    team_first_s
        Teams: for this many seconds after dispatch begins, offers go only to members of
        the mutual-aid team that covers the incident; then, or at once when no member is
        free to be offered, to everyone (``None``: everyone from the start; see
        :mod:`kayou_dispatch.lifecycle.teams`).
    prefer_same_carriageway_s
        Divided roads: a helper upstream on the incident's own carriageway (its fastest
        route stays on that one-way motorway or trunk road, no exit, no turning round) is
        offered before a faster one elsewhere unless that one is faster by more than this
        many seconds (``None``: plain order; see
        :mod:`kayou_dispatch.matching.carriageway`).

    Examples
    --------
    >>> card = RunCard(needs=[["crane"], [], []], mode="broadcast", offer_timeout_s=60)
    >>> card.units, card.needs[0], card.fan_out
    (3, frozenset({'crane'}), 3)
    """

    needs: tuple[frozenset[str], ...]
    mode: OfferMode = "sequential"
    offer_timeout_s: float = DEFAULT_OFFER_TIMEOUT_S
    fan_out: int = 3
    max_eta_s: float | None = 3600.0
    objective: Objective = "eta"
    accept_target: float | None = None
    max_wave: int = 20
    max_offers_per_window: int | None = None
    offer_window_s: float = 3600.0
    driving: bool = True
    team_first_s: float | None = None
    prefer_same_carriageway_s: float | None = None

    def __post_init__(self) -> None:
        raw = self.needs
        if isinstance(raw, str) or not isinstance(raw, Iterable):
            msg = f"needs must be a sequence with one set of capabilities per unit, got {raw!r}"
            raise InvalidParameterError(msg, name="needs", value=raw)
        needs = tuple(normalize_needs(u) for u in raw)
        if not 1 <= len(needs) <= MAX_UNITS:
            msg = f"a run card needs 1 to {MAX_UNITS} units, got {len(needs)}"
            raise InvalidParameterError(msg, name="needs", value=raw)
        if self.mode not in OFFER_MODES:
            msg = f"mode must be one of {OFFER_MODES}, got {self.mode!r}"
            raise InvalidParameterError(msg, name="mode", value=self.mode)
        fan = self.fan_out
        if not isinstance(fan, int) or isinstance(fan, bool) or fan < 1:
            msg = f"fan_out must be an integer >= 1, got {fan!r}"
            raise InvalidParameterError(msg, name="fan_out", value=fan)
        object.__setattr__(self, "needs", needs)
        object.__setattr__(
            self, "offer_timeout_s", _check_positive("offer_timeout_s", self.offer_timeout_s)
        )
        object.__setattr__(
            self, "max_eta_s", _check_positive("max_eta_s", self.max_eta_s, allow_none=True)
        )
        if self.mode == "sequential":
            object.__setattr__(self, "fan_out", 1)
        object.__setattr__(self, "objective", check_objective(self.objective))
        if self.accept_target is not None:
            if self.mode != "broadcast":
                msg = "accept_target sizes broadcast waves; this run card is sequential"
                raise InvalidParameterError(msg, name="accept_target", value=self.accept_target)
            object.__setattr__(self, "accept_target", check_target(self.accept_target))
        wave = self.max_wave
        if not isinstance(wave, int) or isinstance(wave, bool) or wave < 1:
            msg = f"max_wave must be an integer >= 1, got {wave!r}"
            raise InvalidParameterError(msg, name="max_wave", value=wave)
        limit = self.max_offers_per_window
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
        ):
            msg = f"max_offers_per_window must be None or an integer >= 1, got {limit!r}"
            raise InvalidParameterError(msg, name="max_offers_per_window", value=limit)
        window = _check_positive("offer_window_s", self.offer_window_s)
        if window is None or window > MAX_WINDOW_S:
            msg = f"offer_window_s must be at most {MAX_WINDOW_S:g} s (7 days), got {window!r}"
            raise InvalidParameterError(msg, name="offer_window_s", value=self.offer_window_s)
        object.__setattr__(self, "offer_window_s", window)
        if not isinstance(self.driving, bool):
            msg = f"driving must be True or False, got {self.driving!r}"
            raise InvalidParameterError(msg, name="driving", value=self.driving)
        for name in ("team_first_s", "prefer_same_carriageway_s"):
            value = check_seconds(name, getattr(self, name), allow_none=True)
            object.__setattr__(self, name, value)

    @property
    def units(self) -> int:
        """How many responders the kind needs."""
        return len(self.needs)


def unit_needs_for(
    card: RunCard, *, needs: Any = None, units: Any = None
) -> tuple[frozenset[str], ...]:
    """Return the needs of each unit of an incident from its run card and overrides.

    Parameters
    ----------
    card
        The kind's run card.
    needs
        ``None``: the card's needs. Capabilities (``{"tow"}``, ``"tow"``; ``()`` for none):
        the same needs for every unit. One set per unit (``[["crane"], [], []]``): per-unit
        needs, and ``units`` (if given) must match.
    units
        ``None``: the card's (or ``len(needs)`` per unit). With the card's needs, fewer
        units keep the card's first units and more repeat its last one.

    Raises
    ------
    InvalidParameterError
        Bad needs or units (not an integer in ``[1, 50]``, or disagreeing with needs).

    Examples
    --------
    >>> card = DEFAULT_RUN_CARDS["rollover"]
    >>> [sorted(n) for n in unit_needs_for(card, units=4)]
    [['crane'], [], [], []]
    >>> unit_needs_for(card, needs=())
    (frozenset(), frozenset(), frozenset())
    >>> unit_needs_for(card, needs=[["tow"], []])
    (frozenset({'tow'}), frozenset())
    """
    if units is not None and (
        not isinstance(units, int | np.integer)
        or isinstance(units, bool)
        or not 1 <= units <= MAX_UNITS
    ):
        msg = f"units must be an integer in [1, {MAX_UNITS}] (or None), got {units!r}"
        raise InvalidParameterError(msg, name="units", value=units)
    if needs is None:
        base = list(card.needs)
        if units is None:
            return tuple(base)
        return tuple(base[:units] + [base[-1]] * (int(units) - len(base)))
    if isinstance(needs, str):
        flat = normalize_needs(needs)
    else:
        try:
            items = list(needs)
        except TypeError:
            msg = f"needs must be capabilities or one set of capabilities per unit: {needs!r}"
            raise InvalidParameterError(msg, name="needs", value=needs) from None
        if all(isinstance(n, str) for n in items):
            flat = normalize_needs(items)
        else:
            per_unit = tuple(normalize_needs(n, name="needs") for n in items)
            if units is not None and units != len(per_unit):
                msg = f"needs lists {len(per_unit)} units but units={units}"
                raise InvalidParameterError(msg, name="needs", value=needs)
            if not 1 <= len(per_unit) <= MAX_UNITS:
                msg = f"needs must list 1 to {MAX_UNITS} units, got {len(per_unit)}"
                raise InvalidParameterError(msg, name="needs", value=needs)
            return per_unit
    return (flat,) * (card.units if units is None else int(units))


def _card(needs: list[list[str]], mode: OfferMode, timeout_s: float, max_eta_s: float) -> RunCard:
    return RunCard(
        needs=tuple(frozenset(n) for n in needs),
        mode=mode,
        offer_timeout_s=timeout_s,
        fan_out=3 if mode == "broadcast" else 1,
        max_eta_s=max_eta_s,
    )


#: The library's run cards by kind (read-only; see the module docstring for the table).
DEFAULT_RUN_CARDS: Mapping[str, RunCard] = MappingProxyType(
    {
        "rollover": _card([["crane"], [], []], "broadcast", 60.0, 3600.0),
        "collision": _card([["tow"], ["first_aid"], []], "broadcast", 45.0, 3600.0),
        "fire": _card([[], [], []], "broadcast", 30.0, 1800.0),
        "medical": _card([["first_aid"], []], "broadcast", 30.0, 1800.0),
        "breakdown": _card([["mechanic"]], "sequential", 90.0, 3600.0),
        "tyre": _card([["tyre"]], "sequential", 90.0, 3600.0),
        "fuel": _card([["fuel"]], "sequential", 90.0, 3600.0),
        "stuck": _card([["tow"], []], "sequential", 90.0, 3600.0),
        "directions": _card([[]], "sequential", 60.0, 900.0),
        "other": _card([[]], "sequential", 90.0, 3600.0),
    }
)
