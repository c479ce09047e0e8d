"""Share dispatch state between server processes through Redis (the ``redis`` extra).

:class:`RedisLog` is the command log every process applies in one order (incidents,
offers, assignments, with atomic claims); :class:`RedisPositions` holds positions as a
hash per responder plus H3 cell sets and a change stream that :class:`PositionMirror`
follows into each process's index. ``DispatchEngine(network, redis=URL)`` wires both;
``kayou-dispatch serve --redis URL`` runs a server on them. See ``docs/scaling.md``.
"""

from kayou_dispatch.shared.log import RedisLog
from kayou_dispatch.shared.mirror import PositionMirror
from kayou_dispatch.shared.positions import Fixes, Meta, PulledRows, RedisPositions, Removed

__all__ = [
    "Fixes",
    "Meta",
    "PositionMirror",
    "PulledRows",
    "RedisLog",
    "RedisPositions",
    "Removed",
]
