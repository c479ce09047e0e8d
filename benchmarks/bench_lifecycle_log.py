"""Restart on the PostgreSQL lifecycle log after 1,000,000 commands: whole log vs compacted.

Starts its own throwaway PostgreSQL (``initdb`` + ``postgres`` on a free loopback port,
``fsync`` and ``synchronous_commit`` on) and measures, from this one Python process:

* ``generate``: a real :class:`~kayou_dispatch.lifecycle.Dispatcher` runs the national
  profile -- an incident every 2.6 s (33,000 a day), each reported and dispatched, accepted,
  departed, arrived and resolved (5 commands), 1,000 incidents live at any time, 5,000
  responders -- and its outcome rows are copied into the log's table (``COPY``, in the
  order they were appended). Default 1,000,000 commands, i.e. 200,000 incidents over
  about six days.
* ``restart (whole log)``: a new dispatcher replaying every row (the time a process needs
  before it can serve, network loading apart).
* ``compact``: :meth:`~kayou_dispatch.shared.PostgresLog.compact` with a retention of 24 h,
  then 6 h (``serve --retention``'s default), then 1 h: every incident resolved longer
  before the last command is archived.
* ``restart (snapshot + tail)``: a new dispatcher on the compacted log after each -- the
  figure the issue bounds (<= 5 s after 1,000,000 commands); its live incidents are checked
  against the whole replay's. What a restart reads is the retention window (about 5
  commands per incident closed within it) plus the live incidents, whatever the total.
* ``append``: commands/s through the log (one dispatcher, every commit durable).

Run ``python benchmarks/bench_lifecycle_log.py [--commands 1000000]``. Seeded, bounded by
sizes, asserts nothing; needs PostgreSQL (Debian ``postgresql``) and the ``postgresql`` extra.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

RESPONDERS = 5_000
LIVE = 1_000  # incidents open at once
EVERY_S = 86_400 / 33_000  # one incident every 2.6 s
RETENTIONS_H = (24, 6, 1)
T0 = 1_700_000_000.0


@dataclass(frozen=True)
class Cand:
    responder_id: str
    eta_s: float


class Capture:
    """A CommandLog that hands its rows to ``sink`` in batches (``COPY`` into PostgreSQL)."""

    def __init__(self, sink: Any, batch: int = 20_000) -> None:
        self.sink, self.batch, self.pending, self.txn = sink, batch, [], 0

    def rows(self) -> Iterator[Any]:
        return iter(())

    def begin(self) -> list[Any]:
        return []

    def append(self, *, at, name, records, subject=None, responder_id=None, request_id=None):
        self.txn += 1
        self.pending.append((self.txn, at, name, subject, responder_id, request_id, records))
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.sink(self.pending)
            self.pending = []

    def end(self) -> None:
        pass

    def poll(self) -> list[Any]:
        return []

    def close(self) -> None:
        self.flush()


def make_dispatcher(journal: Any, clock: list[float], seed: int = 1) -> Any:
    from kayou_dispatch import ResponderIndex
    from kayou_dispatch.lifecycle import Dispatcher, RunCard

    rng = random.Random(seed)
    index = ResponderIndex(clock=lambda: clock[0], position_ttl_s=10**9)
    for i in range(RESPONDERS):
        index.update_position(f"r{i}", 50 + rng.random() * 4, 8 + rng.random() * 6)

    def rank(lat, lng, *, k=10, needs=(), max_eta_s=None, heading=None, exclude=()):
        near = index.nearest(lat, lng, k + len(exclude), needs=needs)
        found = [Cand(n.responder_id, n.distance_m / 20.0) for n in near]
        return [c for c in found if c.responder_id not in exclude][:k]

    card = RunCard(needs=[[]], mode="sequential", offer_timeout_s=120.0)
    return Dispatcher(
        index, rank=rank, clock=lambda: clock[0], run_cards={"breakdown": card}, journal=journal
    )


def generate(url: str, commands: int, log_name: str = "kd") -> float:
    """Run the national profile on a real dispatcher; COPY its rows into the log. Returns now."""
    import psycopg
    from psycopg.types.json import Jsonb

    from kayou_dispatch.shared import PostgresLog

    PostgresLog(url, log=log_name).close()  # the tables
    conn = psycopg.connect(url, autocommit=True)

    def sink(rows: list[Any]) -> None:
        with conn.cursor().copy(
            "COPY kayou_commands (log, txn, at, name, subject, responder_id, request_id, "
            "records) FROM STDIN"
        ) as copy:
            for txn, at, name, subject, rid, req, records in rows:
                copy.write_row((log_name, txn, at, name, subject, rid, req, Jsonb(records)))

    clock = [T0]
    capture = Capture(sink)
    d = make_dispatcher(capture, clock)
    rng = random.Random(2)
    i = 0
    while capture.txn < commands:
        clock[0] = T0 + i * EVERY_S
        iid = f"inc-{i}"
        inc = d.report_incident(
            iid, 50 + rng.random() * 4, 8 + rng.random() * 6, kind="breakdown",
            dispatch=True, request_id=f"{iid}/report",
        )  # fmt: skip
        if inc.offers:
            rid = inc.offers[0].responder_id
            d.accept(iid, rid, request_id=f"{iid}/accept")
            d.depart(iid, rid)
            d.arrive(iid, rid)
        if i >= LIVE:
            old = f"inc-{i - LIVE}"
            if d.incident(old).assigned:
                d.resolve(old, request_id=f"{old}/resolve")
            else:
                d.cancel(old)
        i += 1
    capture.flush()
    conn.execute("UPDATE kayou_logs SET tip = %s WHERE log = %s", (capture.txn, log_name))
    conn.execute("VACUUM ANALYZE kayou_commands")
    conn.close()
    return clock[0]


def timed_restart(url: str, now: float) -> tuple[float, Any]:
    from kayou_dispatch.shared import PostgresLog

    t0 = time.perf_counter()
    d = make_dispatcher(PostgresLog(url), [now])
    return time.perf_counter() - t0, d


def index_only_s(now: float) -> float:
    """What a restart costs without any log (placing the responders): subtracted nowhere."""
    t0 = time.perf_counter()
    make_dispatcher(None, [now])
    return time.perf_counter() - t0


def append_rate(url: str, n: int) -> float:
    from kayou_dispatch.shared import PostgresLog

    clock = [T0]
    d = make_dispatcher(PostgresLog(url, log="append"), clock)
    t0 = time.perf_counter()
    for i in range(n // 2):
        d.report_incident(f"a{i}", 52.0, 10.0, kind="breakdown")
        d.cancel(f"a{i}")
    rate = n / (time.perf_counter() - t0)
    d.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=1_000_000)
    parser.add_argument("--appends", type=int, default=2_000)
    args = parser.parse_args()

    import psycopg

    from kayou_dispatch.shared import PostgresLog
    from kayou_dispatch.shared._cluster import ThrowawayCluster

    cluster = ThrowawayCluster().start()
    try:
        url = cluster.url
        t0 = time.perf_counter()
        now = generate(url, args.commands)
        generate_s = time.perf_counter() - t0
        with psycopg.connect(url) as conn:
            (rows,) = conn.execute("SELECT count(*) FROM kayou_commands").fetchone()
        print(f"generate: {rows:,} commands ({generate_s:.1f} s incl. COPY)")
        base_s = index_only_s(now)
        print(f"index alone (5,000 responders, no log): {base_s:.2f} s")
        whole_s, whole = timed_restart(url, now)
        print(f"restart (whole log, {rows:,} rows): {whole_s:.2f} s")
        live = whole.open_incidents()
        for hours in RETENTIONS_H:
            t0 = time.perf_counter()
            report = PostgresLog(url).compact(closed_before=now - hours * 3600.0)
            compact_s = time.perf_counter() - t0
            print(
                f"compact (retention {hours} h): {compact_s:.1f} s, "
                f"{report.incidents:,} incidents archived, {report.rows_kept:,} rows kept"
            )
            tail_s, tail = timed_restart(url, now)
            same = tail.open_incidents() == live
            print(
                f"  restart (snapshot + tail, {report.rows_kept:,} rows): {tail_s:.2f} s; "
                f"live incidents identical to the whole replay: {same}"
            )
            tail.close()
        whole.close()
        print(f"append: {append_rate(url, args.appends):,.0f} commands/s (one dispatcher)")
    finally:
        cluster.remove()


if __name__ == "__main__":
    main()
