"""Own responder positions, chosen statuses and capabilities: one store protocol, two stores.

:class:`PositionStore` is to responder state what
:class:`~kayou_dispatch.lifecycle.CommandLog` is to the lifecycle: the one way the engine
(and the server's :class:`~kayou_dispatch.server._batch.FixBatcher`) writes a fix, a chosen
status, capabilities or a removal. :class:`LocalPositionStore` keeps them in this
process's :class:`~kayou_dispatch.spatial.ResponderIndex`; :class:`RedisPositionStore`
also writes them to :class:`~kayou_dispatch.shared.RedisPositions` (authoritative: it
refuses older fixes) and follows what other processes wrote through a
:class:`~kayou_dispatch.shared.PositionMirror`.

Who decides a responder's status is not this module's call: the lifecycle
(:meth:`~kayou_dispatch.lifecycle.Dispatcher.set_responder_status`) decides; a store only
records what it is told. Values arrive validated by the engine (capabilities against its
registry); the index validates coordinates, ids and numbers before anything is written.

Every fix goes through two steps, so a caller may group many fixes into one shared write:
:meth:`PositionStore.apply_fix` applies it to the local index (validating it) and returns
a :class:`FixRow`; :meth:`PositionStore.publish` writes rows to the shared store and
returns, per row, whether it is the newest fix anywhere. One fix alone is
:meth:`PositionStore.write` (``publish([apply_fix(fix)])[0]``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kayou_dispatch.shared import PositionMirror, RedisPositions
from kayou_dispatch.shared.positions import check_ids
from kayou_dispatch.spatial import ResponderIndex, Status

__all__ = ["Fix", "FixRow", "LocalPositionStore", "PositionStore", "RedisPositionStore"]


class Fix(NamedTuple):
    """One phone's fix, as received (``ts=None``: now, by the store's clock).

    An input record, not a result: a named tuple because it is built for every fix on the
    hottest path (a frozen dataclass costs ~2 µs to build, this ~0.3 µs).
    """

    responder_id: str
    lat: float
    lng: float
    ts: float | None = None
    heading: float | None = None
    speed_kph: float | None = None
    capabilities: frozenset[str] | None = None  # replaced with the fix, when given


@dataclass(frozen=True, slots=True)
class FixRow:
    """A fix applied locally (stamped), with the local index's verdict: ready to publish."""

    fix: Fix
    ts: float
    applied: bool  # not older than what the index held


@runtime_checkable
class PositionStore(Protocol):
    """Where responder state is written and read back (see the module docstring)."""

    @property
    def index(self) -> ResponderIndex:
        """The local index every read and ranking uses."""
        ...

    @property
    def shared(self) -> bool:
        """Whether other processes share this state."""
        ...

    def apply_fix(self, fix: Fix) -> FixRow:
        """Apply one fix to the local index; return the row to :meth:`publish`."""
        ...

    def publish(self, rows: Sequence[FixRow]) -> list[bool]:
        """Write applied rows where every process sees them; per row: the newest anywhere."""
        ...

    def write(self, fix: Fix) -> bool:
        """Apply and publish one fix (``publish([apply_fix(fix)])[0]``, maybe faster)."""
        ...

    def update_positions(
        self,
        ids: Sequence[str] | NDArray[Any],
        lats: ArrayLike,
        lngs: ArrayLike,
        *,
        ts: float | ArrayLike | None = None,
        headings: ArrayLike | None = None,
    ) -> int:
        """Apply and publish many fixes (all or none valid); return how many were newest."""
        ...

    def set_status(self, responder_id: str, status: Status) -> None:
        """Record a status the lifecycle allowed."""
        ...

    def set_capabilities(self, responder_id: str, capabilities: frozenset[str]) -> None:
        """Replace a responder's capabilities."""
        ...

    def remove(self, responder_id: str) -> None:
        """Forget a responder (everywhere, for a shared store)."""
        ...

    def catch_up(self) -> list[str]:
        """Apply what other processes wrote; return the ids they removed."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


class LocalPositionStore:
    """Responder state in this process only: its :class:`ResponderIndex`.

    Examples
    --------
    >>> store = LocalPositionStore(ResponderIndex(clock=lambda: 5.0))
    >>> store.publish([store.apply_fix(Fix("r1", 60.17, 24.94, speed_kph=30.0))])
    [True]
    >>> store.index.get("r1").speed_kph, store.apply_fix(Fix("r1", 60.0, 24.0, ts=1.0)).applied
    (30.0, False)
    """

    def __init__(self, index: ResponderIndex) -> None:
        self._index = index

    @property
    def index(self) -> ResponderIndex:
        """The local index."""
        return self._index

    @property
    def shared(self) -> bool:
        """``False``: this process only."""
        return False

    def _stamp(self, ts: Any) -> Any:
        return ts

    def _check_ids(self, ids: Sequence[str] | NDArray[Any]) -> None:
        """Ids the index takes are fine here."""

    def apply_fix(self, fix: Fix) -> FixRow:
        """Apply one fix to the index (which validates it); return it as a row."""
        self._check_ids([fix.responder_id])
        ts = self._stamp(fix.ts)
        applied = self._index.update_position(
            fix.responder_id,
            fix.lat,
            fix.lng,
            ts=ts,
            heading=fix.heading,
            speed_kph=fix.speed_kph,
            capabilities=fix.capabilities,
        )
        return FixRow(fix, math.nan if ts is None else float(ts), applied)

    def publish(self, rows: Sequence[FixRow]) -> list[bool]:
        """Nothing to share: each row's local verdict."""
        return [r.applied for r in rows]

    def write(self, fix: Fix) -> bool:
        """Apply one fix to the index (the single-fix hot path: no row is built)."""
        return self._index.update_position(
            fix.responder_id,
            fix.lat,
            fix.lng,
            ts=fix.ts,
            heading=fix.heading,
            speed_kph=fix.speed_kph,
            capabilities=fix.capabilities,
        )

    def update_positions(
        self,
        ids: Sequence[str] | NDArray[Any],
        lats: ArrayLike,
        lngs: ArrayLike,
        *,
        ts: float | ArrayLike | None = None,
        headings: ArrayLike | None = None,
    ) -> int:
        """Apply many fixes (see :meth:`ResponderIndex.update_positions`), then publish them."""
        self._check_ids(ids)
        ts = self._stamp(ts)
        applied = self._index.update_positions(ids, lats, lngs, ts=ts, headings=headings)
        return self._publish_many(ids, lats, lngs, ts, headings, applied)

    def _publish_many(
        self, ids: Any, lats: Any, lngs: Any, ts: Any, headings: Any, applied: int
    ) -> int:
        """Share validated rows (nothing to share: the local count)."""
        return applied

    def set_status(self, responder_id: str, status: Status) -> None:
        """Record a status in the index."""
        self._index.set_status(responder_id, status)

    def set_capabilities(self, responder_id: str, capabilities: frozenset[str]) -> None:
        """Replace a responder's capabilities in the index."""
        self._index.set_capabilities(responder_id, capabilities)

    def remove(self, responder_id: str) -> None:
        """Forget a responder (``UnknownResponderError`` when the index lacks it)."""
        self._index.remove(responder_id)

    def catch_up(self) -> list[str]:
        """Nothing to follow."""
        return []

    def close(self) -> None:
        """Nothing to release."""


class RedisPositionStore(LocalPositionStore):
    """Responder state shared through Redis, mirrored into this process's index.

    Parameters
    ----------
    positions
        The shared store.
    index
        This process's index (loaded from ``positions`` at once).
    clock
        Stamps fixes given without ``ts`` (Redis compares timestamps across processes).

    Raises
    ------
    SharedStateError
        When Redis fails.
    """

    def __init__(
        self, positions: RedisPositions, index: ResponderIndex, *, clock: Callable[[], float]
    ) -> None:
        super().__init__(index)
        self._clock = clock
        self._removed: deque[str] = deque()  # appended by the mirror, drained by catch_up
        self.mirror = PositionMirror(positions, index, on_remove=self._removed.append)
        self.positions = positions

    @property
    def shared(self) -> bool:
        """``True``: other processes share this state."""
        return True

    def _stamp(self, ts: Any) -> Any:
        return float(self._clock()) if ts is None else ts

    def _check_ids(self, ids: Sequence[str] | NDArray[Any]) -> None:
        check_ids(ids)  # what the shared store cannot hold (tabs, newlines)

    def publish(self, rows: Sequence[FixRow]) -> list[bool]:
        """Write rows to Redis in one round trip; per row, whether Redis took it (newest)."""
        if not rows:
            return []
        fixes = [r.fix for r in rows]
        done = self.positions.write(
            [f.responder_id for f in fixes],
            np.array([f.lat for f in fixes], dtype=np.float64),
            np.array([f.lng for f in fixes], dtype=np.float64),
            np.array([r.ts for r in rows], dtype=np.float64),
            np.array([_nan(f.heading) for f in fixes], dtype=np.float64),
            np.array([_nan(f.speed_kph) for f in fixes], dtype=np.float64),
        )
        for f in fixes:
            if f.capabilities is not None:  # after the fix: Redis needs the responder
                self.positions.set_capabilities(f.responder_id, f.capabilities)
        return [bool(x) for x in done.tolist()]

    def write(self, fix: Fix) -> bool:
        """Apply one fix here, then write it to Redis; whether it is the newest anywhere."""
        return self.publish([self.apply_fix(fix)])[0]

    def _publish_many(
        self, ids: Any, lats: Any, lngs: Any, ts: Any, headings: Any, applied: int
    ) -> int:
        """Write rows the index validated to Redis in one round trip; how many were newest."""
        n = len(ids)
        as_array = lambda x: np.broadcast_to(np.asarray(x, dtype=np.float64), (n,))  # noqa: E731
        hd = None if headings is None else as_array(headings)
        done = self.positions.write(
            [str(i) for i in ids], as_array(lats), as_array(lngs), as_array(ts), hd
        )
        return int(done.sum())

    def set_status(self, responder_id: str, status: Status) -> None:
        """Record a status in the index and in Redis."""
        super().set_status(responder_id, status)
        self.positions.set_status(responder_id, status.value)

    def set_capabilities(self, responder_id: str, capabilities: frozenset[str]) -> None:
        """Replace capabilities in the index and in Redis."""
        super().set_capabilities(responder_id, capabilities)
        self.positions.set_capabilities(responder_id, capabilities)

    def remove(self, responder_id: str) -> None:
        """Forget a responder here and in Redis (other processes forget it as they follow)."""
        self._check_ids([responder_id])
        known = responder_id in self._index
        gone = self.positions.remove(responder_id)
        if known or not gone:  # else: not loaded here yet (its removal comes back to us)
            super().remove(responder_id)  # UnknownResponderError when nobody had it

    def catch_up(self) -> list[str]:
        """Apply what other processes wrote; return the ids they removed meanwhile."""
        self.mirror.catch_up()
        removed = []
        while self._removed:  # popleft is atomic: safe while another thread appends
            removed.append(self._removed.popleft())
        return removed

    def close(self) -> None:
        """Close the Redis client's connections."""
        self.positions.close()
