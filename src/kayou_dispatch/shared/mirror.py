"""Keep a process's local index in step with the positions every process shares in Redis.

A :class:`~kayou_dispatch.engine.DispatchEngine` built with ``redis=`` writes every fix,
status and capability change to Redis (authoritative: it refuses older fixes) and to its
own index. Its :class:`PositionMirror` loads every responder once, then follows the
change stream: before it ranks (or reads a responder) it applies what other processes
wrote since, so its index holds what Redis holds at that moment, and ranking stays the
exact road-ETA ranking over every shared responder -- at the cost of one round trip.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable

from kayou_dispatch.errors import KayouDispatchError, UnknownResponderError
from kayou_dispatch.shared.positions import Fixes, Meta, PulledRows, RedisPositions, Removed
from kayou_dispatch.spatial import ResponderIndex, Status

__all__ = ["PositionMirror"]

_log = logging.getLogger(__name__)

#: Statuses a responder chooses itself (the others come from the lifecycle).
CHOSEN = frozenset({Status.AVAILABLE, Status.OFFLINE})
_CHOSEN_VALUES = frozenset(s.value for s in CHOSEN)
_CHUNK = 500  # change entries read per round trip


class PositionMirror:
    """Mirror the shared positions, statuses and capabilities into a local index.

    Parameters
    ----------
    positions
        The shared store.
    index
        This process's index (loaded from the store at once).
    on_remove
        Called with the id of each responder another process removed (after this index
        forgot it), e.g. so the lifecycle restores an engaged responder's status if it
        reports again.

    Raises
    ------
    SharedStateError
        When Redis fails.
    """

    def __init__(
        self,
        positions: RedisPositions,
        index: ResponderIndex,
        *,
        on_remove: Callable[[str], object] | None = None,
    ) -> None:
        self.positions = positions
        self.index = index
        self._on_remove = on_remove
        self._lock = threading.Lock()
        self._cursor = ""
        self.reloads = 0
        self._reload()

    @property
    def cursor(self) -> str:
        """Id of the last change entry applied."""
        return self._cursor

    def _reload(self) -> None:
        self._cursor = self.positions.tip()  # first: changes from now on are replayed too
        for rows in self.positions.snapshot():
            self._apply_rows(rows)
        self.reloads += 1

    def _apply_fixes(self, fixes: Fixes) -> None:
        if not len(fixes):
            return
        # Another process accepted these (by its clock): no future-ts check here.
        self.index._update_positions(
            fixes.ids, fixes.lat, fixes.lng, fixes.ts, fixes.heading, check_future=False
        )
        # The bulk form carries no speeds: a fix that has one (the last of its id) is
        # applied again, whole, so speed_kph reads the same in every process.
        last = {rid: i for i, rid in enumerate(fixes.ids)}
        for rid, i in last.items():
            speed = float(fixes.speed_kph[i])
            if not math.isnan(speed):
                heading = float(fixes.heading[i])
                self.index.update_position(
                    rid,
                    float(fixes.lat[i]),
                    float(fixes.lng[i]),
                    ts=float(fixes.ts[i]),
                    heading=None if math.isnan(heading) else heading,
                    speed_kph=speed,
                )

    def _apply_removed(self, change: Removed) -> None:
        rid = change.responder_id
        try:
            held = self.index.get(rid)
        except UnknownResponderError:
            held = None
        if held is None:
            pass
        elif held.ts <= change.ts:
            self.index.remove(rid)
        else:
            # A newer fix came after (it made the responder anew in Redis): keep it, and
            # take its chosen status and capabilities from Redis, not from the metas of the
            # responder removed (applied before this entry).
            rows = self.positions.pull(ids=[rid])
            for status, caps in zip(rows.status, rows.capabilities, strict=True):
                self._apply_meta(Meta(rid, status, caps))
        if self._on_remove is not None:
            self._on_remove(rid)

    def _apply_meta(self, meta: Meta) -> None:
        try:
            held = self.index.get(meta.responder_id)
        except UnknownResponderError:  # pragma: no cover - removed locally meanwhile
            return
        if meta.capabilities != held.capabilities:
            self.index.set_capabilities(meta.responder_id, meta.capabilities)
        # Only a status the responder chose; never over a lifecycle status (offered...).
        chosen = meta.status in _CHOSEN_VALUES and held.status in CHOSEN
        if chosen and held.status.value != meta.status:
            self.index.set_status(meta.responder_id, Status(meta.status))

    def _apply_rows(self, rows: PulledRows) -> None:
        self._apply_fixes(rows.fixes)
        for rid, status, caps in zip(rows.fixes.ids, rows.status, rows.capabilities, strict=True):
            self._apply_meta(Meta(rid, status, caps))

    def catch_up(self) -> int:
        """Apply the changes other processes wrote since the last call; return how many.

        Reloads everything when the stream no longer holds the last change applied. A
        change that cannot be decoded or applied is skipped (with a logged error): the
        cursor always moves past it.
        """
        with self._lock:
            n = 0
            while True:
                changes, cursor, more, gap = self.positions.changes(self._cursor, _CHUNK)
                if gap:
                    self._reload()
                    return n
                for change in changes:
                    try:
                        if isinstance(change, Fixes):
                            self._apply_fixes(change)
                        elif isinstance(change, Removed):
                            self._apply_removed(change)
                        else:
                            self._apply_meta(change)
                    except KayouDispatchError as exc:  # decoded, yet refused: skip it
                        _log.error("skipped a position change the index refused: %s", exc)
                n += len(changes)
                self._cursor = cursor
                if not more:
                    return n
