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
import threading

from kayou_dispatch.errors import KayouDispatchError, UnknownResponderError
from kayou_dispatch.shared.positions import Fixes, Meta, PulledRows, RedisPositions
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

    Raises
    ------
    SharedStateError
        When Redis fails.
    """

    def __init__(self, positions: RedisPositions, index: ResponderIndex) -> None:
        self.positions = positions
        self.index = index
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
        if len(fixes):
            # Another process accepted these (by its clock): no future-ts check here.
            self.index._update_positions(
                fixes.ids, fixes.lat, fixes.lng, fixes.ts, fixes.heading, check_future=False
            )

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
                        else:
                            self._apply_meta(change)
                    except KayouDispatchError as exc:  # decoded, yet refused: skip it
                        _log.error("skipped a position change the index refused: %s", exc)
                n += len(changes)
                self._cursor = cursor
                if not more:
                    return n
