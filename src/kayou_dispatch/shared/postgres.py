"""Share one dispatch state between processes: the command log as a PostgreSQL table.

The system of record for the lifecycle (the ``postgresql`` extra, psycopg 3). Every
process serving the same incidents runs its own
:class:`~kayou_dispatch.lifecycle.Dispatcher` on one :class:`PostgresLog`, exactly as on a
:class:`~kayou_dispatch.shared.RedisLog`: the table is the single order of all commands
and each process applies it in that order. Unlike Redis (asynchronous replication), a
commit with ``synchronous_commit = on`` is on disk -- and on a synchronous standby, when
one is configured -- before the command is acknowledged. Tables (created when missing;
one database holds many logs, one per ``log`` name)::

    kayou_logs(log PRIMARY KEY, tip, format)          -- the fence: the last txn
    kayou_commands(log, txn, at, name, subject,       -- the snapshot plus the tail
                   responder_id, request_id, records jsonb)
    kayou_archive(log, txn, at, name, subject, ...)   -- records compacted away

A command runs in one transaction (READ COMMITTED, the session's
``idle_in_transaction_session_timeout`` is the lock's time-to-live):

1. ``SELECT tip FROM kayou_logs WHERE log = … FOR UPDATE`` -- exclusive access: other
   processes' commands wait on the row lock (``lock_timeout``: ``lock_wait_s``);
2. ``SELECT … FROM kayou_commands WHERE txn > <last seen>`` -- apply what others appended;
3. decide locally, then ``UPDATE kayou_logs SET tip = tip + 1 WHERE tip = <the tip we
   caught up to>`` -- the fence: refused when another process appended first (a stalled
   holder's session is ended by the server after the time-to-live, its lock passes on,
   and its own append then fails) -- ``INSERT`` the row, ``NOTIFY kayou_log``, ``COMMIT``.

Followers ``LISTEN kayou_log`` on a second connection (:meth:`PostgresLog.wait`).

Compaction
----------
:meth:`PostgresLog.compact` archives every incident closed (resolved or cancelled) for
longer than a retention window: its records move to ``kayou_archive``, rows left empty
are deleted, and request ids of archived incidents are forgotten with them. What stays in
``kayou_commands`` is a snapshot (the records of every incident still live or recently
closed, in their order) plus the tail; replaying it gives the same state as replaying
everything, less the archived incidents (the reducer's state is per incident, and a
closed incident engages nobody), so a restart reads only that. Each read is one
consistent snapshot (``REPEATABLE READ``), so a compaction never shows half of itself.

Why this file is long (over 600 lines): the fenced append, the follower (LISTEN/NOTIFY
and polling), compaction with its archive, and the snapshot-plus-tail restart all depend
on one table schema and one set of transaction rules; they are one class so that those
rules are written once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kayou_dispatch.errors import InvalidParameterError, SharedStateError
from kayou_dispatch.lifecycle.journal import JournalRow
from kayou_dispatch.shared.log import _name, _records, _text

if TYPE_CHECKING:
    import psycopg

__all__ = ["Compaction", "PostgresLog"]

_log = logging.getLogger(__name__)

FORMAT_VERSION = "1"
CHANNEL = "kayou_log"
_PAGE = 20_000
_CLOSED = ("resolved", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kayou_logs(
    log text PRIMARY KEY,
    tip bigint NOT NULL DEFAULT 0,
    format text NOT NULL
);
CREATE TABLE IF NOT EXISTS kayou_commands(
    log text NOT NULL,
    txn bigint NOT NULL,
    at double precision NOT NULL,
    name text NOT NULL,
    subject text,
    responder_id text,
    request_id text,
    records jsonb NOT NULL,
    PRIMARY KEY (log, txn)
);
-- The commands' columns (LIKE copies names, types and NOT NULL; not the key), and when.
CREATE TABLE IF NOT EXISTS kayou_archive(
    LIKE kayou_commands,
    archived_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS kayou_archive_txn ON kayou_archive(log, txn);
"""

# The incidents whose last record is a close (resolved or cancelled) before the cutoff.
_GONE = """
CREATE TEMP TABLE kayou_gone ON COMMIT DROP AS
SELECT iid FROM (
    SELECT DISTINCT ON (r.value->>'incident_id')
           r.value->>'incident_id' AS iid, r.value AS last, c.at AS at
    FROM kayou_commands c, jsonb_array_elements(c.records) WITH ORDINALITY AS r(value, o)
    WHERE c.log = %(log)s
    ORDER BY r.value->>'incident_id', c.txn DESC, r.o DESC
) AS last
WHERE last->>'op' = 'close' AND last->>'status' = ANY(%(closed)s) AND at < %(cutoff)s
"""

# For every row touching an archived incident: its archived and its remaining records.
_SPLIT = """
CREATE TEMP TABLE kayou_split ON COMMIT DROP AS
SELECT c.txn,
       jsonb_agg(r.value ORDER BY r.o) FILTER (WHERE g.iid IS NOT NULL) AS gone,
       coalesce(jsonb_agg(r.value ORDER BY r.o) FILTER (WHERE g.iid IS NULL), '[]') AS kept
FROM kayou_commands c
CROSS JOIN LATERAL jsonb_array_elements(c.records) WITH ORDINALITY AS r(value, o)
LEFT JOIN kayou_gone g ON g.iid = r.value->>'incident_id'
WHERE c.log = %(log)s
GROUP BY c.txn
HAVING bool_or(g.iid IS NOT NULL)
"""


@dataclass(frozen=True, slots=True)
class Compaction:
    """What one :meth:`PostgresLog.compact` did."""

    incidents: int  # incidents archived
    records: int  # records moved to the archive
    rows_deleted: int  # commands left without records, deleted
    rows_kept: int  # commands left in the log (the snapshot plus the tail)


class _Connections:
    """A log's two connections: commands and reads, and the follower's ``LISTEN``."""

    def __init__(self) -> None:
        self.command: psycopg.Connection[Any] | None = None
        self.listener: psycopg.Connection[Any] | None = None

    def close(self) -> None:
        for conn in (self.command, self.listener):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        self.command = self.listener = None


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - the extra is installed for tests
        msg = "the PostgreSQL log needs psycopg: pip install 'kayou-dispatch[postgresql]'"
        raise InvalidParameterError(msg, name="lifecycle", value="postgresql") from exc
    return psycopg


def is_postgres_url(value: Any) -> bool:
    """Whether ``value`` is a ``postgresql://`` (or ``postgres://``) URL."""
    return isinstance(value, str) and value.startswith(("postgresql://", "postgres://"))


def _where(url: str) -> tuple[str, dict[str, Any]]:
    """The server for messages (``postgresql://user@host:port/db``, no password)."""
    psycopg = _import_psycopg()
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        msg = f"lifecycle must be a valid postgresql:// URL: {exc}"
        raise InvalidParameterError(msg, name="lifecycle", value="postgresql://…") from None
    user = f"{info['user']}@" if info.get("user") else ""
    host = info.get("host") or "localhost"
    port = info.get("port") or 5432
    return f"postgresql://{user}{host}:{port}/{info.get('dbname') or ''}", info


class PostgresLog:
    """A :class:`~kayou_dispatch.lifecycle.CommandLog` in PostgreSQL, shared by processes.

    Parameters
    ----------
    url
        A ``postgresql://user:password@host:port/dbname`` URL (libpq's keywords may follow
        ``?``); the tables are created when missing.
    log
        The log's name in the database (one per dispatch region or deployment).
    lock_ttl_s
        How long a process may hold exclusive access idle before the server ends its
        session (its lock passes on; its append is refused).
    lock_wait_s
        How long a command waits for exclusive access before failing with
        :class:`~kayou_dispatch.errors.SharedStateError`.
    connect_timeout_s
        How long to wait for the server to answer a connection.

    Raises
    ------
    InvalidParameterError
        For a URL that is not a PostgreSQL URL, a bad name or times, or a table of another
        format.
    SharedStateError
        When the server cannot be reached or refuses (at start: before serving anything).

    Examples
    --------
    Two engines on one database share incidents (see ``tests/shared``)::

        engine_a = DispatchEngine(network, lifecycle="postgresql://kayou@db:5432/dispatch")
        engine_b = DispatchEngine(network, lifecycle="postgresql://kayou@db:5432/dispatch")
    """

    def __init__(
        self,
        url: str,
        *,
        log: str = "kd",
        lock_ttl_s: float = 5.0,
        lock_wait_s: float = 10.0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self._pg = _import_psycopg()
        if not is_postgres_url(url):
            msg = f"lifecycle must be a postgresql:// URL, got {url!r:.80}"
            raise InvalidParameterError(msg, name="lifecycle", value=url)
        self.store, info = _where(url)
        if not isinstance(log, str) or not 1 <= len(log) <= 64 or not log.isprintable():
            msg = f"log must be a name of 1-64 printable characters, got {log!r}"
            raise InvalidParameterError(msg, name="log", value=log)
        for name, value in (
            ("lock_ttl_s", lock_ttl_s),
            ("lock_wait_s", lock_wait_s),
            ("connect_timeout_s", connect_timeout_s),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (0.01 <= value <= 3600)
            ):
                msg = f"{name} must be between 0.01 and 3600 seconds, got {value!r}"
                raise InvalidParameterError(msg, name=name, value=value)
        self.log = log
        self._url = url
        self._options: dict[str, Any] = {
            "log": log,
            "lock_ttl_s": lock_ttl_s,
            "lock_wait_s": lock_wait_s,
            "connect_timeout_s": connect_timeout_s,
        }
        self._connect_s = max(1, round(connect_timeout_s))
        self._settings = {
            "synchronous_commit": "on",
            "lock_timeout": f"{int(lock_wait_s * 1000)}ms",
            "idle_in_transaction_session_timeout": f"{max(1, int(lock_ttl_s * 1000))}ms",
        }
        del info
        self._mutex = threading.RLock()  # the command connection, one user at a time
        self._listen_mutex = threading.Lock()
        self._conns = _Connections()
        # A log dropped without close() still closes its connections (no ResourceWarning).
        weakref.finalize(self, self._conns.close)
        self._last = 0  # txn of the last row applied (0 before the first)
        self._held = False  # inside begin()/end(): the row lock is ours
        with self._mutex:
            self._open()

    def clone(self) -> PostgresLog:
        """Return another log on the same server and name, with its own connections."""
        return PostgresLog(self._url, **self._options)

    # -- connections ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except self._pg.Error as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            msg = f"shared state {self.store} failed while {doing}: {text}"
            raise SharedStateError(msg, store=self.store) from exc

    def _connect(self) -> psycopg.Connection[Any]:
        conn = self._pg.connect(
            self._url,
            autocommit=True,
            connect_timeout=self._connect_s,
            application_name="kayou-dispatch",
        )
        for key, value in self._settings.items():
            conn.execute(f"SET {key} = '{value}'")  # our own constants, not user input
        return conn

    def _connection(self) -> psycopg.Connection[Any]:
        """The command connection, reconnected when the old one broke (server restart)."""
        conn = self._conns.command
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
            self._conns.command = None
            self._held = False
            self._conns.command = conn = self._connect()
        return conn

    def _open(self) -> None:
        with self._errors("connecting (and creating the log's tables)"):
            conn = self._connection()
            with conn.transaction():
                # Two processes starting at once must not race on CREATE TABLE.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('kayou_dispatch schema'))")
                conn.execute(_SCHEMA)
                conn.execute(
                    "INSERT INTO kayou_logs(log, tip, format) VALUES (%s, 0, %s) "
                    "ON CONFLICT (log) DO NOTHING",
                    (self.log, FORMAT_VERSION),
                )
                row = conn.execute(
                    "SELECT format FROM kayou_logs WHERE log = %s", (self.log,)
                ).fetchone()
        if row is None or row[0] != FORMAT_VERSION:
            msg = (
                f"dispatch log {self.log!r} on {self.store} has format {row and row[0]!r}; "
                f"this version reads format {FORMAT_VERSION!r}"
            )
            raise InvalidParameterError(msg, name="lifecycle", value=self.store)

    # -- checks --------------------------------------------------------------------------

    @property
    def durable(self) -> bool:
        """Whether a commit is on disk when acknowledged (``fsync`` and ``synchronous_commit``)."""
        with self._mutex, self._errors("reading its durability settings"):
            conn = self._connection()
            fsync = conn.execute("SHOW fsync").fetchone()
            sync = conn.execute("SHOW synchronous_commit").fetchone()
        return bool(fsync and sync and fsync[0] == "on" and sync[0] in ("on", "remote_apply"))

    @property
    def last_txn(self) -> int:
        """The transaction last read or appended (events' ``seq`` comes from it)."""
        return self._last

    def ping(self) -> None:
        """Check that the server answers now (else :class:`SharedStateError`)."""
        with self._mutex, self._errors("answering a check"):
            if self._held:
                return  # inside a command, which is itself a check
            self._connection().execute("SELECT 1").fetchone()

    def __len__(self) -> int:
        with self._mutex, self._errors("counting the dispatch log"):
            row = (
                self._connection()
                .execute("SELECT count(*) FROM kayou_commands WHERE log = %s", (self.log,))
                .fetchone()
            )
        return int(row[0]) if row else 0

    # -- reading -------------------------------------------------------------------------

    def _decode(self, raw: list[tuple[Any, ...]]) -> list[JournalRow]:
        """Rows of a page; undecodable ones are skipped (by every reader alike), and logged."""
        rows = []
        # Records come as text and are decoded in one call per page (a restart's cost is
        # mostly per-row overhead); jsonb guarantees each text is valid JSON.
        decoded = json.loads("[" + ",".join(r[6] for r in raw) + "]")
        for (txn, at, name, subject, rid, req, _), records in zip(raw, decoded, strict=True):
            try:
                row = JournalRow(
                    int(txn),
                    float(at),
                    _name(name),
                    _text(subject),
                    _text(rid),
                    _text(req),
                    _records(records),
                )
            except (TypeError, ValueError) as exc:
                _log.error("skipped an undecodable row %s of log %r: %s", txn, self.log, exc)
                continue
            rows.append(row)
        return rows

    def _pages(self, conn: psycopg.Connection[Any], last: int, tip: int) -> Iterator[list[Any]]:
        while last < tip:
            raw = conn.execute(
                "SELECT txn, at, name, subject, responder_id, request_id, records::text "
                "FROM kayou_commands WHERE log = %s AND txn > %s AND txn <= %s "
                "ORDER BY txn LIMIT %s",
                (self.log, last, tip, _PAGE),
            ).fetchall()
            if not raw:
                return
            last = int(raw[-1][0])
            yield raw
            if len(raw) < _PAGE:
                return

    def _tip(self, conn: psycopg.Connection[Any], *, lock: bool = False) -> int:
        row = conn.execute(
            "SELECT tip FROM kayou_logs WHERE log = %s" + (" FOR UPDATE" if lock else ""),
            (self.log,),
        ).fetchone()
        if row is None:
            msg = f"dispatch log {self.log!r} vanished from {self.store} (table dropped?)"
            raise SharedStateError(msg, store=self.store)
        return int(row[0])

    def _iter_after(self, last: int) -> Iterator[JournalRow]:
        """Every row after ``last`` up to the tip, read in one snapshot; then move the cursor.

        Page by page (a restart never holds the whole log in memory). The cursor moves to
        the tip (rows compacted away below it are not waited for) only once everything was
        read: a failure leaves it where it was.
        """
        with self._mutex, self._errors("reading the dispatch log"):
            conn = self._connection()
            nested = self._held  # inside begin(): already in the locked transaction
            with contextlib.ExitStack() as stack:
                if not nested:
                    stack.enter_context(conn.transaction())
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    # A reader holds no lock: its consumer may take its time between pages
                    # (a long replay) without the server ending the session.
                    conn.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
                tip = self._tip(conn)
                for raw in self._pages(conn, last, tip):
                    yield from self._decode(raw)
        self._last = max(tip, last)

    def _read_after(self, last: int) -> list[JournalRow]:
        return list(self._iter_after(last))

    def rows(self) -> Iterator[JournalRow]:
        """Yield every command in the log (the snapshot, then the tail), in order."""
        self._last = 0
        yield from self._iter_after(0)

    def poll(self) -> list[JournalRow]:
        """Return the commands appended since last seen (no lock)."""
        return self._read_after(self._last)

    # -- commands ------------------------------------------------------------------------

    def begin(self) -> list[JournalRow]:
        """Take the log's row lock; return the commands others appended meanwhile.

        Raises
        ------
        SharedStateError
            When the server fails or the lock stays taken for ``lock_wait_s``.
        """
        with self._mutex:
            if self._held:
                self.end()
            with self._errors("taking the dispatch lock"):
                conn = self._connection()
                conn.execute("BEGIN")
                try:
                    self._tip(conn, lock=True)
                except BaseException:
                    self._rollback(conn)
                    raise
            self._held = True
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
        """Append one command (only while holding the lock, only onto the known tip).

        Returns once the commit is durable (``synchronous_commit = on``).

        Raises
        ------
        SharedStateError
            When the lock was lost or the log moved on (the command is not acknowledged),
            or the server fails (the command may or may not have landed: the dispatcher
            rebuilds from the log before its next command).
        """
        with self._mutex:
            if not self._held:
                msg = "append outside begin()/end(): the dispatch lock is not held"
                raise SharedStateError(msg, store=self.store)
            self._held = False
            conn = self._conns.command
            # Never reconnect here: a new session holds no lock, and without its
            # transaction the fence, the row and the notification would not be one commit.
            if (
                conn is None
                or conn.closed
                or conn.broken
                or conn.info.transaction_status != self._pg.pq.TransactionStatus.INTRANS
            ):
                msg = (
                    f"the connection to {self.store} was lost during the command; it was not "
                    "appended (not acknowledged)"
                )
                raise SharedStateError(msg, store=self.store)
            with self._errors("appending to the dispatch log"):
                try:
                    moved = conn.execute(
                        "UPDATE kayou_logs SET tip = tip + 1 WHERE log = %s AND tip = %s "
                        "RETURNING tip",
                        (self.log, self._last),
                    ).fetchone()
                    if moved is None:
                        self._rollback(conn)
                        msg = (
                            f"append refused: dispatch log {self.log!r} on {self.store} moved "
                            f"on past txn {self._last} (another process appended first)"
                        )
                        raise SharedStateError(msg, store=self.store)
                    txn = int(moved[0])
                    conn.execute(
                        "INSERT INTO kayou_commands(log, txn, at, name, subject, responder_id, "
                        "request_id, records) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        (
                            self.log,
                            txn,
                            at,
                            name,
                            subject,
                            responder_id,
                            request_id,
                            self._pg.types.json.Jsonb(records),
                        ),
                    )
                    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, self.log))
                    conn.execute("COMMIT")
                except BaseException:
                    self._rollback(conn)
                    raise
            self._last = txn

    def _rollback(self, conn: psycopg.Connection[Any]) -> None:
        if not conn.closed and not conn.broken:
            try:
                conn.execute("ROLLBACK")
            except self._pg.Error:
                _log.warning("could not roll back on %s; the server ends it", self.store)

    def end(self) -> None:
        """Give the lock back if still held (no-op after an append)."""
        with self._mutex:
            if self._held:
                self._held = False
                conn = self._conns.command
                if conn is not None:
                    self._rollback(conn)

    # -- following -----------------------------------------------------------------------

    def wait(self, timeout_s: float = 1.0) -> bool:
        """Block until the log has rows not yet seen (or ``timeout_s``); say whether it has.

        A host's follower thread calls this, then :meth:`Dispatcher.refresh`.

        Raises
        ------
        SharedStateError
            When the server fails.
        """
        with self._listen_mutex, self._errors("waiting for new commands"):
            conn = self._conns.listener
            if conn is None or conn.closed or conn.broken:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                self._conns.listener = None
                conn = self._connect()
                conn.execute(f"LISTEN {CHANNEL}")
                self._conns.listener = conn
            # LISTEN is in place before the tip is read: nothing can slip between.
            if self._tip(conn) > self._last:
                return True
            deadline = time.monotonic() + timeout_s
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                for note in conn.notifies(timeout=left, stop_after=1):
                    if note.payload == self.log:
                        return True

    # -- compaction ----------------------------------------------------------------------

    def compact(self, *, closed_before: float) -> Compaction:
        """Archive every incident resolved or cancelled before ``closed_before`` (clock time).

        One transaction (commands go on meanwhile: they cannot touch an incident resolved
        or cancelled; two compactions of one log take turns): the archived
        incidents' records move to ``kayou_archive``, rows left without records are
        deleted, and the request ids of rows about archived incidents are dropped with them
        (a retry after the retention window is a new request). Processes already running
        keep the archived incidents in memory until they restart.

        Parameters
        ----------
        closed_before
            Clock time (the engine's clock, as the rows' ``at``): incidents whose closing
            command is older are archived. A host passes ``now - retention_s``.

        Raises
        ------
        SharedStateError
            When the server fails (nothing was compacted).
        """
        if isinstance(closed_before, bool) or not isinstance(closed_before, int | float):
            msg = f"closed_before must be a clock time in seconds, got {closed_before!r}"
            raise InvalidParameterError(msg, name="closed_before", value=closed_before)
        params = {"log": self.log, "closed": list(_CLOSED), "cutoff": float(closed_before)}
        with self._mutex, self._errors("compacting the dispatch log"):
            if self._held:
                self.end()
            conn = self._connection()
            with conn.transaction():
                # Not the log's lock: commands go on meanwhile (none can touch an incident
                # closed for good). One compaction of a log at a time, though.
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('kayou_dispatch compaction ' || %s))",
                    (self.log,),
                )
                conn.execute(_GONE, params)
                conn.execute("ANALYZE kayou_gone")
                conn.execute(_SPLIT, params)
                conn.execute("CREATE UNIQUE INDEX ON kayou_split(txn)")
                conn.execute("ANALYZE kayou_split")
                gone = conn.execute("SELECT count(*) FROM kayou_gone").fetchone()
                moved = conn.execute(
                    "INSERT INTO kayou_archive(log, txn, at, name, subject, responder_id, "
                    "request_id, records) "
                    "SELECT c.log, c.txn, c.at, c.name, c.subject, c.responder_id, "
                    "c.request_id, s.gone FROM kayou_commands c JOIN kayou_split s "
                    "ON c.txn = s.txn WHERE c.log = %(log)s "
                    "RETURNING jsonb_array_length(records)",
                    params,
                ).fetchall()
                deleted = conn.execute(
                    "DELETE FROM kayou_commands c USING kayou_split s WHERE c.log = %(log)s "
                    "AND c.txn = s.txn AND s.kept = '[]'::jsonb",
                    params,
                ).rowcount
                conn.execute(
                    "UPDATE kayou_commands c SET records = s.kept FROM kayou_split s "
                    "WHERE c.log = %(log)s AND c.txn = s.txn",
                    params,
                )
                # A request id names its command's incident: it goes with the incident.
                conn.execute(
                    "UPDATE kayou_commands SET request_id = NULL WHERE log = %(log)s AND "
                    "request_id IS NOT NULL AND subject IN (SELECT iid FROM kayou_gone)",
                    params,
                )
                kept = conn.execute(
                    "SELECT count(*) FROM kayou_commands WHERE log = %(log)s", params
                ).fetchone()
        return Compaction(
            incidents=int(gone[0]) if gone else 0,
            records=sum(int(n) for (n,) in moved),
            rows_deleted=int(deleted),
            rows_kept=int(kept[0]) if kept else 0,
        )

    def compact_every(
        self,
        *,
        retention_s: float,
        clock: Any,
        interval_s: float = 600.0,
        stop: threading.Event,
    ) -> None:
        """Compact now and every ``interval_s`` until ``stop`` is set (a host's thread).

        Archives incidents closed more than ``retention_s`` before ``clock()``. A failed
        compaction is logged and retried at the next interval (it changes nothing).
        """
        for name, value in (("retention_s", retention_s), ("interval_s", interval_s)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                msg = f"{name} must be a positive number of seconds, got {value!r}"
                raise InvalidParameterError(msg, name=name, value=value)
        while not stop.is_set():
            try:
                done = self.compact(closed_before=float(clock()) - float(retention_s))
            except SharedStateError as exc:
                _log.warning("compaction of %r failed, retrying later: %s", self.log, exc)
            else:
                if done.incidents:
                    _log.info(
                        "archived %d incidents of %r (%d records); %d commands kept",
                        done.incidents,
                        self.log,
                        done.records,
                        done.rows_kept,
                    )
            stop.wait(interval_s)

    # -- closing -------------------------------------------------------------------------

    def close(self) -> None:
        """Give the lock back if held and close both connections."""
        with self._mutex:
            with contextlib.suppress(Exception):
                self.end()
            self._conns.close()

    def __repr__(self) -> str:
        return f"PostgresLog({self.store!r}, log={self.log!r})"
