"""Share one dispatch state between processes: the command log as a Redis stream.

Every process serving the same incidents runs its own
:class:`~kayou_dispatch.lifecycle.Dispatcher` on one :class:`RedisLog`. The log is the
single order of all commands; each process applies it in that order, so all of them hold
the same incidents, offers and assignments.

A command runs in three round trips:

1. ``SET {prefix}:lock <token> NX PX <ttl>`` -- exclusive access (retried until free);
2. ``XRANGE {prefix}:log (<last seen> +`` -- apply what others appended meanwhile;
3. decide locally (ranking, checks), then one Lua script appends the command's outcome
   records *only if* the lock is still ours and the stream's last entry is still the one
   we caught up to, and releases the lock -- an atomic claim: two processes can never
   both act on the same state, so a responder is never assigned twice and an incident
   never over-filled, even when a lock expires under a stalled process (its append is
   refused, and it rebuilds from the log).

A command is acknowledged once its entry is in Redis; with ``appendonly yes`` and
``appendfsync always`` it is on disk, so a Redis restart loses no acknowledged
assignment (:attr:`RedisLog.durable` says whether the server is configured so).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterator
from typing import Any

from kayou_dispatch.errors import InvalidParameterError, SharedStateError
from kayou_dispatch.lifecycle.journal import JournalRow
from kayou_dispatch.shared._client import (
    open_client,
    prefix_for,
    redis_errors,
    wait_for_streams,
    where,
)

__all__ = ["RedisLog"]

_log = logging.getLogger(__name__)

# KEYS: log, lock. ARGV: token, tip we caught up to ('' for an empty log), row JSON.
_APPEND = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('KAYOU_FENCE lost the dispatch lock')
end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local tip = ''
if #last > 0 then tip = last[1][1] end
if tip ~= ARGV[2] then
  return redis.error_reply('KAYOU_FENCE the log moved on (' .. tip .. ')')
end
local id = redis.call('XADD', KEYS[1], '*', 'row', ARGV[3])
redis.call('DEL', KEYS[2])
return id
"""

# KEYS: lock. ARGV: token.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_BATCH = 1000


def _text(value: Any) -> str | None:
    if value is not None and type(value) is not str:
        raise TypeError(f"expected a string or null, got {value!r:.80}")
    return value


def _name(value: Any) -> str:
    if type(value) is not str:
        raise TypeError(f"expected a command name, got {value!r:.80}")
    return value


def _records(value: Any) -> list[dict[str, Any]]:
    if type(value) is not list or not all(
        type(r) is dict and type(r.get("op")) is str and type(r.get("incident_id")) is str
        for r in value
    ):
        raise TypeError(f"records must be a list of objects with op and incident_id: {value!r:.80}")
    return value


class RedisLog:
    """A :class:`~kayou_dispatch.lifecycle.CommandLog` in Redis, shared by processes.

    Parameters
    ----------
    redis
        A ``redis://host:port/db`` URL or a ``redis.Redis`` client.
    prefix
        Key prefix: ``{prefix}:log`` (a stream) and ``{prefix}:lock``. One prefix is one
        dispatch state; shards use one each (a ``{hash tag}`` keeps a shard in one Redis
        Cluster slot, see ``docs/scaling.md``).
    lock_ttl_s
        How long a process may hold exclusive access before others may take it (its
        append is then refused).
    lock_wait_s
        How long a command waits for exclusive access before failing with
        :class:`~kayou_dispatch.errors.SharedStateError`.

    Raises
    ------
    InvalidParameterError
        For a bad URL, prefix or times.

    Examples
    --------
    Two engines on one Redis share incidents (see ``tests/shared``)::

        engine_a = DispatchEngine(network, redis="redis://127.0.0.1:6379/0")
        engine_b = DispatchEngine(network, redis="redis://127.0.0.1:6379/0")
    """

    def __init__(
        self,
        redis: Any,
        *,
        prefix: str = "kd",
        lock_ttl_s: float = 5.0,
        lock_wait_s: float = 10.0,
    ) -> None:
        self._r = open_client(redis)
        self.prefix = prefix = prefix_for(self._r, prefix)
        for name, value in (("lock_ttl_s", lock_ttl_s), ("lock_wait_s", lock_wait_s)):
            if not isinstance(value, int | float) or not 0.01 <= value <= 3600:
                msg = f"{name} must be between 0.01 and 3600 seconds, got {value!r}"
                raise InvalidParameterError(msg, name=name, value=value)
        self._ttl_ms = int(lock_ttl_s * 1000)
        self._wait_s = float(lock_wait_s)
        self._key = f"{prefix}:log"
        self._lock_key = f"{prefix}:lock"
        self._append = self._r.register_script(_APPEND)
        self._release = self._r.register_script(_RELEASE)
        self._last = ""  # id of the last entry applied ("" before the first)
        self._count = 0
        self._token: str | None = None

    @property
    def store(self) -> str:
        """The Redis server, for messages (no password)."""
        return where(self._r)

    @property
    def durable(self) -> bool:
        """Whether Redis fsyncs every write (``appendonly yes``, ``appendfsync always``).

        ``False`` also when the server does not let us ask (``CONFIG`` disabled).
        """
        with redis_errors(self._r, "reading its persistence settings"):
            try:
                cfg = self._r.config_get("append*")
            except Exception:  # managed Redis often forbids CONFIG
                return False
        return cfg.get("appendonly") == "yes" and cfg.get("appendfsync") == "always"

    @property
    def last_txn(self) -> int:
        """The number of the entry last read or appended (events' ``seq`` comes from it)."""
        return self._count

    def ping(self) -> None:
        """Check that Redis answers now (else :class:`SharedStateError`)."""
        with redis_errors(self._r, "answering a ping"):
            self._r.ping()

    def __len__(self) -> int:
        with redis_errors(self._r, "counting the dispatch log"):
            return int(self._r.xlen(self._key))

    def _decode(self, entries: list[Any], count: int) -> list[JournalRow]:
        """Rows of a page, numbered from ``count + 1``; undecodable entries are skipped.

        Every process skips the same entries (they do not decode anywhere), so they all
        still hold one state; the error is logged so an operator sees what was written.
        """
        rows = []
        for entry_id, fields in entries:
            try:
                data = json.loads(fields[b"row"])
                row = JournalRow(
                    count + 1,
                    float(data["at"]),
                    _name(data["name"]),
                    _text(data["subject"]),
                    _text(data["responder_id"]),
                    _text(data["request_id"]),
                    _records(data["records"]),
                )
            except (KeyError, TypeError, ValueError) as exc:
                _log.error(
                    "skipped an undecodable entry %s of %s: %s: %s",
                    entry_id,
                    self._key,
                    type(exc).__name__,
                    exc,
                )
                continue
            count += 1
            rows.append(row)
        return rows

    def _read_after(self, last: str) -> list[JournalRow]:
        """Every entry after ``last``; the cursor moves only once all of them were read.

        Pages are read into locals and committed together at the end: a failure on any
        page leaves the cursor where it was, so the next read starts over from there and
        nothing is skipped (a dropped page would let this process act on a stale state).
        """
        rows: list[JournalRow] = []
        count = self._count
        with redis_errors(self._r, "reading the dispatch log"):
            while True:
                lo = f"({last}" if last else "-"
                entries: list[Any] = (
                    self._r.xrange(self._key, min=lo, max="+", count=_BATCH) or []
                )
                page = self._decode(entries, count)
                rows.extend(page)
                count += len(page)
                if entries:
                    last = entries[-1][0].decode()
                if len(entries) < _BATCH:
                    break
        self._last, self._count = last, count
        return rows

    def rows(self) -> Iterator[JournalRow]:
        """Yield every command in the log, in order (a dispatcher's start-up replay)."""
        self._last, self._count = "", 0
        yield from self._read_after("")

    def begin(self) -> list[JournalRow]:
        """Take the dispatch lock; return the commands others appended meanwhile.

        Raises
        ------
        SharedStateError
            When Redis fails or the lock stays taken for ``lock_wait_s``.
        """
        token = secrets.token_hex(12)
        deadline = time.monotonic() + self._wait_s
        pause = 0.0002
        with redis_errors(self._r, "taking the dispatch lock"):
            while not self._r.set(self._lock_key, token, nx=True, px=self._ttl_ms):
                if time.monotonic() > deadline:
                    msg = (
                        f"the dispatch lock {self._lock_key!r} on {self.store} stayed taken "
                        f"for {self._wait_s} s; another process is stuck or too busy"
                    )
                    raise SharedStateError(msg, store=self.store)
                time.sleep(pause)
                pause = min(pause * 2, 0.005)
        self._token = token
        try:
            return self._read_after(self._last)
        except BaseException:
            self.end()
            raise

    def append(
        self,
        *,
        at: float,
        name: str,
        records: list[dict[str, Any]],
        subject: str | None = None,
        responder_id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        """Append one command (only while holding the lock, and only onto the known tip).

        Raises
        ------
        SharedStateError
            When the lock was lost or the log moved on (the command is not acknowledged),
            or Redis fails.
        """
        if self._token is None:
            msg = "append outside begin()/end(): the dispatch lock is not held"
            raise SharedStateError(msg, store=self.store)
        row = {
            "at": at,
            "name": name,
            "subject": subject,
            "responder_id": responder_id,
            "request_id": request_id,
            "records": records,
        }
        with redis_errors(self._r, "appending to the dispatch log"):
            new_id = self._append(
                keys=[self._key, self._lock_key],
                args=[self._token, self._last, json.dumps(row, separators=(",", ":"))],
            )
        self._token = None  # the script released the lock
        self._last = new_id.decode() if isinstance(new_id, bytes) else str(new_id)
        self._count += 1

    def end(self) -> None:
        """Release the lock if this process still holds it (no-op after an append)."""
        token, self._token = self._token, None
        if token is not None:
            try:
                with redis_errors(self._r, "releasing the dispatch lock"):
                    self._release(keys=[self._lock_key], args=[token])
            except SharedStateError:
                _log.warning("could not release %s; it expires by itself", self._lock_key)

    def poll(self) -> list[JournalRow]:
        """Return the commands appended since last seen (no lock)."""
        return self._read_after(self._last)

    def wait(self, timeout_s: float = 1.0) -> bool:
        """Block until the log has entries not yet seen (or ``timeout_s``); say whether it has.

        A host's follower thread calls this, then :meth:`Dispatcher.refresh`.
        """
        return wait_for_streams(self._r, {self._key: self._last}, timeout_s)

    def close(self) -> None:
        """Release the lock if held and close the client's connections."""
        self.end()
        self._r.close()

    def __repr__(self) -> str:
        return f"RedisLog({self.store!r}, prefix={self.prefix!r})"
