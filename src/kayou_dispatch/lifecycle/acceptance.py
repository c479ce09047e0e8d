"""Learn how each responder answers offers: counts, P(accept) and delays, shrunk to the crowd.

The lifecycle's reducer (:func:`~kayou_dispatch.lifecycle.state.apply_record`) reports every
offer's end to an :class:`AcceptanceTally` -- accepted, declined, timed out or withdrawn,
with the delay since the offer -- so the tally is rebuilt exactly by replaying the journal
(or a shared Redis log), and every process sharing a log learns the same numbers.
:meth:`AcceptanceTally.stats` turns the counts into a :class:`ResponderStats`.

Estimates
---------
Volunteers differ (published community-responder systems see 17-47 % of alerted
volunteers answer) and most have few offers, so each responder's raw rate is shrunk
towards the population's (empirical Bayes, a beta-binomial model). With ``A``, ``D``,
``T`` the accepted, declined and timed-out offers (``n = A + D + T``; a withdrawn offer
was never answered and counts in none of them):

- population: ``p_all = (A_all + 1) / (n_all + 2)``; per incident kind
  ``p_kind = (A_kind + m p_all) / (n_kind + m)``;
- a responder over all kinds: ``p_r = (A_r + m p_all) / (n_r + m)``;
- a responder on one kind: its prior is the kind's rate tilted by the responder's own
  log-odds, ``prior = expit(logit p_kind + logit p_r - logit p_all)``, and
  ``p_rk = (A_rk + m prior) / (n_rk + m)``.

A responder with no offers gets exactly ``p_kind`` (``p_all`` over all kinds): a new
volunteer is neither punished nor favoured. ``m`` (the prior's weight in offers) is the
method-of-moments estimate of the beta prior's ``alpha + beta`` from the spread of
responders' rates: with ``rho = 1 / (m + 1)`` the intra-responder correlation,
``E[sum_i n_i (r_i - p)^2] = p (1 - p) (K - 1 + rho (N - K))`` over ``K`` responders
with ``N`` offers in all; solved for ``rho`` and clipped so ``m`` stays in
``[MIN_PRIOR_OFFERS, MAX_PRIOR_OFFERS]`` (:data:`DEFAULT_PRIOR_OFFERS` until at least two
responders have answered and the rates are not all equal to 0 or 1).

When an offer is not accepted, the chance it timed out rather than was declined is shrunk
the same way (``q_r = (T_r + m q_all) / (D_r + T_r + m)``, ``q_all`` Laplace), so
``p_accept + p_decline + p_timeout = 1``. Delays are log-normal: the mean of
``log1p(delay_s)`` of a responder's accepts (declines) is shrunk towards the population's
with :data:`DELAY_PRIOR_ANSWERS` pseudo-answers, and the median is ``expm1`` of it
(:data:`DEFAULT_DELAY_S` before anybody has answered).

Examples
--------
>>> tally = AcceptanceTally()
>>> tally.observe("r1", "breakdown", "accepted", delay_s=12.0)
>>> tally.observe("r1", "breakdown", "declined", delay_s=5.0)
>>> tally.observe("r2", "medical", "timed_out", delay_s=30.0)
>>> s = tally.stats("r1")
>>> (s.offers, s.accepted, s.declined, s.timed_out), round(s.p_accept, 3)
((2, 1, 1, 0), 0.404)
>>> new = tally.stats("r9", kind="breakdown")
>>> new.offers, new.p_accept == tally.population("breakdown")
(0, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.matching.expected import Odds

__all__ = [
    "AcceptanceTally",
    "DEFAULT_DELAY_S",
    "DEFAULT_PRIOR_OFFERS",
    "DELAY_PRIOR_ANSWERS",
    "estimate_prior_offers",
    "MAX_PRIOR_OFFERS",
    "MIN_PRIOR_OFFERS",
    "Outcome",
    "OUTCOMES",
    "ResponderStats",
]

Outcome = Literal["accepted", "declined", "timed_out", "withdrawn"]

#: How an offer can end.
OUTCOMES: tuple[str, ...] = ("accepted", "declined", "timed_out", "withdrawn")

#: The prior's weight, in offers, until the population says more.
DEFAULT_PRIOR_OFFERS = 10.0
#: Bounds of the estimated prior weight (a crowd of near-identical volunteers must not
#: freeze every estimate at the mean; a very mixed one must not trust two offers).
MIN_PRIOR_OFFERS = 2.0
MAX_PRIOR_OFFERS = 50.0
#: Pseudo-answers pulling a responder's delay towards the population's.
DELAY_PRIOR_ANSWERS = 5.0
#: The median answer delay assumed before anybody answered, seconds.
DEFAULT_DELAY_S = 20.0


@dataclass(slots=True)
class _Counts:
    """Outcome counts and summed ``log1p`` delays of one cell (mutable, internal)."""

    accepted: int = 0
    declined: int = 0
    timed_out: int = 0
    withdrawn: int = 0
    accept_log: float = 0.0
    decline_log: float = 0.0

    @property
    def answered(self) -> int:
        """Offers that ended by the responder's doing (accept, decline or time-out)."""
        return self.accepted + self.declined + self.timed_out

    def add(self, outcome: str, delay_s: float) -> None:
        if outcome == "accepted":
            self.accepted += 1
            self.accept_log += math.log1p(delay_s)
        elif outcome == "declined":
            self.declined += 1
            self.decline_log += math.log1p(delay_s)
        elif outcome == "timed_out":
            self.timed_out += 1
        else:
            self.withdrawn += 1


@dataclass(frozen=True, slots=True)
class ResponderStats:
    """How one responder answers offers, counted and estimated.

    Attributes
    ----------
    responder_id
        The responder.
    kind
        The incident kind the counts and estimates are for (``None``: every kind).
    offers
        Offers made to it (``accepted + declined + timed_out + withdrawn + pending``).
    accepted, declined, timed_out
        How those offers ended.
    withdrawn
        Offers withdrawn before it answered (the incident was filled or closed); they
        count in no estimate.
    pending
        Offers outstanding now (0 or 1).
    p_accept
        Estimated chance it accepts an offer (shrunk towards the population, see
        :mod:`kayou_dispatch.lifecycle.acceptance`).
    p_decline, p_timeout
        Estimated chances it declines, or lets the offer time out
        (``p_accept + p_decline + p_timeout == 1``).
    accept_delay_s, decline_delay_s
        Estimated median delay from offer to accept (decline), seconds.
    prior_offers
        The weight of the population prior, in offers (``m``): its own record counts for
        more than the population once it has answered more than this many offers.
    """

    responder_id: str
    kind: str | None
    offers: int
    accepted: int
    declined: int
    timed_out: int
    withdrawn: int
    pending: int
    p_accept: float
    p_decline: float
    p_timeout: float
    accept_delay_s: float
    decline_delay_s: float
    prior_offers: float


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _expit(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _shrunk(hits: int, trials: int, prior: float, weight: float) -> float:
    if trials == 0:
        return prior  # exactly: no record, no change
    return (hits + weight * prior) / (trials + weight)


def estimate_prior_offers(cells: list[tuple[int, int]]) -> float:
    """Estimate the beta prior's weight ``m`` from ``(accepted, answered)`` per responder.

    Method of moments on the beta-binomial (see the module docstring), clipped to
    ``[MIN_PRIOR_OFFERS, MAX_PRIOR_OFFERS]``; :data:`DEFAULT_PRIOR_OFFERS` when fewer than
    two responders answered or the pooled rate is 0 or 1.

    Examples
    --------
    >>> estimate_prior_offers([(9, 10), (1, 10), (9, 10), (1, 10)])  # very mixed
    2.0
    >>> estimate_prior_offers([(5, 10), (5, 10), (5, 10)])  # identical
    50.0
    >>> estimate_prior_offers([(1, 1)])
    10.0
    """
    used = [(a, n) for a, n in cells if n > 0]
    k = len(used)
    total = sum(n for _, n in used)
    if k < 2 or total <= k:
        return DEFAULT_PRIOR_OFFERS
    p = sum(a for a, _ in used) / total
    if not 0.0 < p < 1.0:
        return DEFAULT_PRIOR_OFFERS
    spread = sum(n * (a / n - p) ** 2 for a, n in used)
    rho = (spread / (p * (1.0 - p)) - (k - 1)) / (total - k)
    lo, hi = 1.0 / (MAX_PRIOR_OFFERS + 1.0), 1.0 / (MIN_PRIOR_OFFERS + 1.0)
    rho = min(max(rho, lo), hi)
    return min(max(1.0 / rho - 1.0, MIN_PRIOR_OFFERS), MAX_PRIOR_OFFERS)


class AcceptanceTally:
    """Per responder and incident kind: how its offers ended; the estimates from that.

    Fed by the lifecycle's reducer (one :meth:`observe` per offer that ends), so it is the
    same after a replay of the journal. Not thread-safe on its own: the dispatcher calls
    it under its lock.
    """

    def __init__(self) -> None:
        self._cells: dict[tuple[str, str], _Counts] = {}
        self._by_responder: dict[str, _Counts] = {}
        self._by_kind: dict[str, _Counts] = {}
        self._all = _Counts()
        self._version = 0
        self._prior: tuple[int, float] = (-1, DEFAULT_PRIOR_OFFERS)

    def observe(self, responder_id: str, kind: str, outcome: Outcome, *, delay_s: float) -> None:
        """Count one ended offer: ``outcome`` (one of :data:`OUTCOMES`) after ``delay_s``.

        Raises
        ------
        InvalidParameterError
            For an unknown outcome or a delay that is not finite and >= 0.
        """
        if outcome not in OUTCOMES:
            msg = f"outcome must be one of {OUTCOMES}, got {outcome!r}"
            raise InvalidParameterError(msg, name="outcome", value=outcome)
        d = float(delay_s)
        if not (math.isfinite(d) and d >= 0.0):
            msg = f"delay_s must be finite seconds >= 0, got {delay_s!r}"
            raise InvalidParameterError(msg, name="delay_s", value=delay_s)
        for counts in (
            self._cells.setdefault((responder_id, kind), _Counts()),
            self._by_responder.setdefault(responder_id, _Counts()),
            self._by_kind.setdefault(kind, _Counts()),
            self._all,
        ):
            counts.add(outcome, d)
        self._version += 1

    def clear(self) -> None:
        """Forget everything (before a rebuild from the log)."""
        self.__init__()  # type: ignore[misc]

    def __contains__(self, responder_id: object) -> bool:
        return responder_id in self._by_responder

    def knows_kind(self, kind: str) -> bool:
        """Whether an offer for an incident of ``kind`` has ended."""
        return kind in self._by_kind

    def responders(self) -> list[str]:
        """Every responder that has had an offer end, sorted."""
        return sorted(self._by_responder)

    def prior_offers(self) -> float:
        """The population prior's weight ``m`` (cached until the next :meth:`observe`)."""
        version, m = self._prior
        if version != self._version:
            m = estimate_prior_offers(
                [(c.accepted, c.answered) for c in self._by_responder.values()]
            )
            self._prior = (self._version, m)
        return m

    def population(self, kind: str | None = None) -> float:
        """The population's estimated P(accept), for one kind or (``None``) every kind."""
        p_all = _shrunk(self._all.accepted, self._all.answered, 0.5, 2.0)
        if kind is None:
            return p_all
        c = self._by_kind.get(kind, _Counts())
        return _shrunk(c.accepted, c.answered, p_all, self.prior_offers())

    def stats(
        self, responder_id: str, *, kind: str | None = None, pending: int = 0
    ) -> ResponderStats:
        """The counts and estimates of one responder (zeros and the population if unseen).

        Parameters
        ----------
        responder_id
            The responder.
        kind
            An incident kind (``None``: every kind together).
        pending
            Offers outstanding now (the tally counts ended offers only).
        """
        m = self.prior_offers()
        p_all = self.population()
        mine = self._by_responder.get(responder_id, _Counts())
        p_r = _shrunk(mine.accepted, mine.answered, p_all, m)
        if kind is None:
            counts, p_accept = mine, p_r
        else:
            counts = self._cells.get((responder_id, kind), _Counts())
            p_kind = self.population(kind)
            tilt = _logit(p_r) - _logit(p_all) if mine.answered else 0.0
            prior = _expit(_logit(p_kind) + tilt) if tilt else p_kind
            p_accept = _shrunk(counts.accepted, counts.answered, prior, m)
        # When not accepting: timed out rather than declined (shrunk over every kind).
        every = self._all
        q_all = _shrunk(every.timed_out, every.declined + every.timed_out, 0.5, 2.0)
        q_r = _shrunk(mine.timed_out, mine.declined + mine.timed_out, q_all, m)
        return ResponderStats(
            responder_id=responder_id,
            kind=kind,
            offers=counts.answered + counts.withdrawn + pending,
            accepted=counts.accepted,
            declined=counts.declined,
            timed_out=counts.timed_out,
            withdrawn=counts.withdrawn,
            pending=pending,
            p_accept=p_accept,
            p_decline=(1.0 - p_accept) * (1.0 - q_r),
            p_timeout=(1.0 - p_accept) * q_r,
            accept_delay_s=self._delay(mine.accept_log, mine.accepted, accepts=True),
            decline_delay_s=self._delay(mine.decline_log, mine.declined, accepts=False),
            prior_offers=m,
        )

    def odds(self, responder_id: str, *, kind: str | None, offer_timeout_s: float) -> Odds:
        """How an offer of ``kind`` with this time-out to the responder is likely to go.

        The accept delay is at most the time-out; a failed offer costs the decline delay
        (at most the time-out) or the whole time-out, weighted by their chances.
        """
        s = self.stats(responder_id, kind=kind)
        timeout = float(offer_timeout_s)
        fail = 1.0 - s.p_accept
        fail_s = (s.p_timeout * timeout + s.p_decline * min(s.decline_delay_s, timeout)) / fail
        return Odds(s.p_accept, min(s.accept_delay_s, timeout), fail_s)

    def _delay(self, log_sum: float, answers: int, *, accepts: bool) -> float:
        every = self._all
        pop_sum, pop_n = (
            (every.accept_log, every.accepted) if accepts else (every.decline_log, every.declined)
        )
        default = math.log1p(DEFAULT_DELAY_S)
        pop_mu = (pop_sum + default) / (pop_n + 1)
        mu = (log_sum + DELAY_PRIOR_ANSWERS * pop_mu) / (answers + DELAY_PRIOR_ANSWERS)
        return math.expm1(mu)
