"""Append dispatch outcomes to an SQLite journal and read them back for replay.

One row per acknowledged command, written in a single autocommit ``INSERT`` (WAL mode,
``synchronous=FULL``: the row is on disk when :meth:`Journal.append` returns)::

    commands(txn INTEGER PRIMARY KEY,   -- order of application
             at REAL,                   -- clock time of the command
             name TEXT,                 -- "report_incident", "accept", "tick"...
             subject TEXT,              -- incident id (NULL for tick / assign_batch)
             responder_id TEXT,         -- responder of a responder command, else NULL
             request_id TEXT,           -- idempotency key, else NULL
             records TEXT)              -- JSON list of outcome records

The records are *outcomes* (``{"op": "offer", "incident_id": ..., "responder_id": ...,
"eta_s": ..., "expires_at": ...}``), not just the command: replay re-applies them without
calling the ranker, so it does not depend on ranking being reproducible. A row is all or
nothing, so a crash never leaves half a command.

One process writes a journal: opening it takes an exclusive lock (``flock`` on
``<path>-lock``, which also records the holder's pid) that the process holds while it
has the journal open, and the kernel drops when it dies -- a second process is refused
at start, and a restarted one takes over as soon as the old one is gone, even after
``kill -9``. Within one process several :class:`Journal` objects may share the file (a
host handing over without closing first). A failing disk or database is a
:class:`~kayou_dispatch.errors.SharedStateError`: the command was not acknowledged.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from kayou_dispatch.errors import InvalidParameterError, SharedStateError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, one writer by convention
    fcntl = None  # type: ignore[assignment]

__all__ = ["CommandLog", "Journal", "JournalRow"]

FORMAT_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS commands(
    txn INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    name TEXT NOT NULL,
    subject TEXT,
    responder_id TEXT,
    request_id TEXT,
    records TEXT NOT NULL
);
"""


# Journal locks this process holds: lock path -> [open file, number of Journals using it].
_HELD: dict[str, list[Any]] = {}
_HELD_LOCK = threading.Lock()


def _lock(path: str) -> str:
    """Take (or share, within this process) the exclusive writer lock of a journal."""
    lock_path = os.path.realpath(path) + "-lock"
    with _HELD_LOCK:
        held = _HELD.get(lock_path)
        if held is not None:
            held[1] += 1
            return lock_path
        if fcntl is None:  # pragma: no cover - Windows
            _HELD[lock_path] = [None, 1]
            return lock_path
        try:
            f = open(lock_path, "a+")  # noqa: SIM115 - held open for the process's life
        except OSError as exc:
            msg = f"cannot create the lock file of dispatch journal {path!r}: {exc}"
            raise InvalidParameterError(msg, name="journal", value=path) from exc
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            msg = (
                f"dispatch journal {path!r} is held by another process (pid {holder}); one "
                "process writes a journal at a time -- stop that one first"
            )
            raise InvalidParameterError(msg, name="journal", value=path) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        _HELD[lock_path] = [f, 1]
        return lock_path


def _identity(path: str) -> tuple[int, int] | None:
    """The (device, inode) a path names now (``None``: nothing there)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _unlock(lock_path: str) -> None:
    with _HELD_LOCK:
        held = _HELD.get(lock_path)
        if held is None:
            return
        held[1] -= 1
        if held[1] == 0:
            del _HELD[lock_path]
            if held[0] is not None:
                held[0].close()  # releases the flock


@dataclass(frozen=True, slots=True)
class JournalRow:
    """One journaled command and its outcome records."""

    txn: int
    at: float
    name: str
    subject: str | None
    responder_id: str | None
    request_id: str | None
    records: list[dict[str, Any]]


@runtime_checkable
class CommandLog(Protocol):
    """Where a :class:`~kayou_dispatch.lifecycle.Dispatcher` keeps its commands.

    A dispatcher replays :meth:`rows` once when it starts. Then, around every command,
    it calls :meth:`begin` (exclusive access; rows other processes appended meanwhile, to
    apply first), :meth:`append` (at most once, durable when it returns) and :meth:`end`.
    Reads call :meth:`poll` for rows appended elsewhere. A log private to one process
    (:class:`Journal`) returns no rows from ``begin``/``poll``; a shared one
    (:class:`kayou_dispatch.shared.RedisLog`) is how several processes serve one state.
    """

    def rows(self) -> Iterator[JournalRow]:
        """Yield every command appended so far, in order (and remember where it ended)."""
        ...

    def begin(self) -> list[JournalRow]:
        """Take exclusive access for one command; return the rows appended meanwhile."""
        ...

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
        """Write one command durably (within ``begin``/``end``)."""
        ...

    def end(self) -> None:
        """Give up exclusive access (also after a failed command)."""
        ...

    def poll(self) -> list[JournalRow]:
        """Return the rows appended by others since last seen (no exclusive access)."""
        ...

    def close(self) -> None:
        """Release the log's resources."""
        ...


class Journal:
    """An append-only SQLite log of dispatch outcomes (a :class:`CommandLog`).

    Parameters
    ----------
    path
        The database file; created when missing.

    Raises
    ------
    InvalidParameterError
        When the file is not a journal of this format, or another process holds it (see
        the module docstring: one writer per journal, by lock).

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "dispatch.db")
    >>> j = Journal(path)
    >>> j.append(at=1.0, name="cancel", subject="inc-1", records=[{"op": "cancel"}])
    >>> [(r.txn, r.name, r.records) for r in j.rows()]
    [(1, 'cancel', [{'op': 'cancel'}])]
    >>> j.close()
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock_path: str | None = _lock(self.path)
        try:
            self._open()
        except BaseException:
            self._release()
            raise

    def _open(self) -> None:
        self._last_txn: int | None = None
        try:
            # Our caller serialises every use under its own lock.
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0.5
            )
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('format', ?)", (FORMAT_VERSION,)
            )
            version = self._db.execute("SELECT value FROM meta WHERE key='format'").fetchone()[0]
            self._file = _identity(self.path)
        except sqlite3.DatabaseError as exc:
            msg = f"cannot open dispatch journal {self.path!r}: {exc}"
            raise InvalidParameterError(msg, name="journal", value=self.path) from exc
        if str(mode).lower() != "wal" or version != FORMAT_VERSION:
            self._db.close()
            msg = (
                f"dispatch journal {self.path!r} has format {version!r} (mode {mode!r}); "
                f"this version reads format {FORMAT_VERSION!r} in WAL mode"
            )
            raise InvalidParameterError(msg, name="journal", value=self.path)

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
        """Write one command durably (returns once it is on disk).

        Raises
        ------
        SharedStateError
            When SQLite fails (disk full, I/O error...): the command is not acknowledged.
        """
        with self._errors("appending a command"):
            cur = self._db.execute(
                "INSERT INTO commands(at, name, subject, responder_id, request_id, records) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (at, name, subject, responder_id, request_id, json.dumps(records)),
            )
        self._last_txn = int(cur.lastrowid or 0)

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            msg = f"dispatch journal {self.path!r} failed while {doing}: {exc}"
            raise SharedStateError(msg, store=self.path) from exc

    @property
    def last_txn(self) -> int | None:
        """The transaction this process last appended (``None`` before its first)."""
        return self._last_txn

    def ping(self) -> None:
        """Check that the journal answers and is still the file at its path.

        A journal whose file was deleted or replaced under the running process would
        go on taking commands into a file no restart replays: as bad as a failed disk.

        Raises
        ------
        SharedStateError
            When SQLite fails, or the path no longer names the file this journal writes.
        """
        with self._errors("answering a check"):
            self._db.execute("SELECT value FROM meta WHERE key='format'").fetchone()
        if _identity(self.path) != self._file:
            msg = (
                f"dispatch journal {self.path!r} is no longer the file this process "
                "writes (deleted, moved or replaced): commands would be lost on restart"
            )
            raise SharedStateError(msg, store=self.path)

    def begin(self) -> list[JournalRow]:
        """Nothing to catch up on: one process writes a journal."""
        return []

    def end(self) -> None:
        """Nothing to release."""

    def poll(self) -> list[JournalRow]:
        """Nothing to catch up on: one process writes a journal."""
        return []

    def rows(self) -> Iterator[JournalRow]:
        """Yield every command in the order it was applied.

        Raises
        ------
        SharedStateError
            When SQLite fails while reading.
        """
        with self._errors("reading the commands"):
            cur = self._db.execute(
                "SELECT txn, at, name, subject, responder_id, request_id, records "
                "FROM commands ORDER BY txn"
            )
            for txn, at, name, subject, rid, req, records in cur:
                yield JournalRow(txn, at, name, subject, rid, req, json.loads(records))

    def __len__(self) -> int:
        with self._errors("counting the commands"):
            return int(self._db.execute("SELECT count(*) FROM commands").fetchone()[0])

    def _release(self) -> None:
        lock_path, self._lock_path = self._lock_path, None
        if lock_path is not None:
            _unlock(lock_path)

    def close(self) -> None:
        """Close the database and release the writer lock (once no Journal here uses it)."""
        self._db.close()
        self._release()
