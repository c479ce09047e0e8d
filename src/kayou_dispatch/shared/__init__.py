"""Share dispatch state between server processes: Redis and PostgreSQL.

:class:`RedisLog` (the ``redis`` extra) and :class:`PostgresLog` (the ``postgresql``
extra, the system of record) are command logs every process applies in one order
(incidents, offers, assignments, with atomic claims); :class:`RedisPositions` holds
positions as a hash per responder plus H3 cell sets and a change stream that
:class:`PositionMirror` follows into each process's index. ``DispatchEngine(network,
redis=URL)`` wires the Redis ones; ``lifecycle="postgresql://…"`` moves the lifecycle to
PostgreSQL; ``kayou-dispatch serve --redis URL --lifecycle URL`` runs a server on them.
See ``docs/scaling.md``.

Why the PostgreSQL log lives here, not in :mod:`kayou_dispatch.lifecycle`: like the Redis
log it is state several processes share (a client of a server, with its own failure
modes); the lifecycle package keeps the logic and the one-process SQLite journal.
"""

from kayou_dispatch.shared.log import RedisLog
from kayou_dispatch.shared.mirror import PositionMirror
from kayou_dispatch.shared.positions import Fixes, Meta, PulledRows, RedisPositions, Removed
from kayou_dispatch.shared.postgres import Compaction, PostgresLog

__all__ = [
    "Compaction",
    "Fixes",
    "Meta",
    "PositionMirror",
    "PostgresLog",
    "PulledRows",
    "RedisLog",
    "RedisPositions",
    "Removed",
]
