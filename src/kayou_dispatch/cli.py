"""Run kayou_dispatch from the command line (``kayou-dispatch ...``).

Why this file is long (over 600 lines): it holds the argument parser of every subcommand
(``simulate``, ``serve``, ``gateway``, ``demo``...) with each option's help text, which is
the command line's documentation; each subcommand's work is a call into the package.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

#: ``simulate`` records responder tracks this often (simulated seconds) for replay.html.
REPLAY_EVERY_S = 30.0
#: The policies ``simulate`` compares by default (the first is the baseline).
DEFAULT_POLICIES = ("road-eta/sequential", "straight-line/sequential")



#: The token file's format, shown by ``serve --help`` and ``gateway --help``.
_TOKENS_HELP = """\
token file (--tokens FILE, or the file $KAYOU_TOKENS_FILE names): a JSON object
mapping each bearer token to its role:
  {"<token>": {"role": "dispatcher"},
   "<token>": {"role": "responder", "responder_id": "truck-17"},
   "<token>": {"role": "requester", "requester_id": "shipper-4"}}
A dispatcher acts on everything; a responder on itself and on the offers made
to it; a requester reports incidents and reads the ones it reported. The file
is read once, at start: a missing, unreadable or malformed file, an unknown
role, or a responder or requester token without its id stops with status 2.
Clients send 'Authorization: Bearer <token>'. More: docs/deploy.md."""

def _checked(
    text: str, kind: Callable[[str], float], ok: Callable[[float], bool], allowed: str
) -> Any:
    """``kind(text)`` when it parses and ``ok`` holds; else argparse's error naming ``allowed``."""
    try:
        value = kind(text)
    except ValueError:
        value = math.nan  # fails every ok
    if not ok(value):
        raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    return int(_checked(text, int, lambda v: v >= 1, "a whole number >= 1"))


def _non_negative_int(text: str) -> int:
    return int(_checked(text, int, lambda v: v >= 0, "a whole number >= 0"))


def _positive_float(text: str) -> float:
    return float(_checked(text, float, lambda v: math.isfinite(v) and v > 0, "a number > 0"))


def _hours(text: str) -> float:
    value = _positive_float(text)
    if value > 168:
        raise argparse.ArgumentTypeError(f"hours must be at most 168 (7 days), got {text!r}")
    return value


def _share(text: str) -> float:
    return float(_checked(text, float, lambda v: 0 <= v <= 1, "a share in [0, 1]"))


def _rate(text: str) -> tuple[float, float] | None:
    """``RATE`` or ``RATE,BURST`` requests per second (burst: one second's worth); ``off``."""
    if text.strip().lower() == "off":
        return None
    rate_text, _, burst_text = text.partition(",")
    rate = _positive_float(rate_text)
    burst = _positive_float(burst_text) if burst_text else max(1.0, rate)
    return rate, burst


def _port(text: str) -> int:
    return int(_checked(text, int, lambda v: 0 <= v <= 65535, "a port number 0..65535"))


def _build_parser() -> argparse.ArgumentParser:
    from kayou_dispatch import __version__

    parser = argparse.ArgumentParser(
        prog="kayou-dispatch",
        description="Decide who goes when a truck driver is in trouble.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="index simulated responders in an H3 grid and find who is near a breakdown",
        description="Index simulated responders in an H3 grid and query them.",
    )
    demo.add_argument(
        "--responders", type=_positive_int, default=100_000, help="how many (default 100000)"
    )
    demo.add_argument(
        "--minutes", type=_positive_int, default=10, help="simulated minutes (default 10)"
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    sim = sub.add_parser(
        "simulate",
        help="simulate a day of help requests on real roads and compare dispatch policies",
        description="Simulate help requests and responders on a road network with the real "
        "DispatchEngine, compare dispatch policies, write metrics.json, incidents.csv, plots "
        "and replay.html (the first policy's day on a map, with a time slider).",
    )
    sim.add_argument(
        "--network",
        default="default",
        help="'default' (bundled Lower Saxony region, 94k nodes, A2/A7/A39), 'helsinki' "
        "(bundled city centre; with --serious-on-highway 0), an OSM extract "
        "(.osm.pbf/.osm/.osm.bz2) or a saved network (.npz)",
    )
    sim.add_argument("--hours", type=_hours, default=24.0, help="simulated hours (24; at most 168)")
    sim.add_argument(
        "--responders", type=_positive_int, default=300, help="volunteer drivers online (300)"
    )
    sim.add_argument(
        "--service-vehicles",
        type=_non_negative_int,
        default=12,
        help="tow/crane/mechanic units waiting at depots (12)",
    )
    sim.add_argument(
        "--share",
        type=_positive_float,
        default=0.03,
        help="the region's share of national demand (0.03 = 90 serious + 900 ordinary a day: "
        "Lower Saxony's share of Germany's motorways, area and people)",
    )
    sim.add_argument(
        "--serious-on-highway",
        type=_share,
        default=0.7,
        metavar="SHARE",
        help="share of serious requests on motorway/trunk roads (0.7; 0 for a city network)",
    )
    sim.add_argument(
        "--policy",
        nargs="+",
        default=list(DEFAULT_POLICIES),
        metavar="NAME",
        help="policies to compare, or 'all'; the first is the baseline of paired differences "
        f"(default: {' '.join(DEFAULT_POLICIES)})",
    )
    sim.add_argument(
        "--replications",
        type=_positive_int,
        default=5,
        help="simulated days, each with its own seed, every policy on each (5)",
    )
    sim.add_argument(
        "--jobs",
        type=_positive_int,
        default=None,
        help="worker processes for the replications (default: the core count)",
    )
    sim.add_argument(
        "--coverage-every",
        type=_positive_float,
        default=900.0,
        metavar="SECONDS",
        help="how often the coverage probe looks for main roads with nobody within 15 min (900)",
    )
    sim.add_argument("--seed", type=_non_negative_int, default=0, help="master random seed (0)")
    sim.add_argument("--out", default="out", help="output folder (out)")
    sim.add_argument("--no-plots", action="store_true", help="skip the PNG plots")

    serve = sub.add_parser(
        "serve",
        help="run the HTTP API (needs the 'server' extra)",
        description="Serve a DispatchEngine over HTTP with uvicorn: the /v1 API, live events "
        "at /v1/events, docs at /docs.",
        epilog=_TOKENS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "--network",
        default="default",
        help="'default' (bundled Lower Saxony region), 'helsinki' (bundled city centre), an OSM "
        "extract or a saved network (.npz)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8080, help="port (8080; 0: any free one)")
    serve.add_argument(
        "--tokens", default=None, help="token file (JSON); default: $KAYOU_TOKENS_FILE"
    )
    serve.add_argument("--journal", default=None, help="SQLite journal of lifecycle commands")
    serve.add_argument(
        "--capabilities",
        default=None,
        metavar="FILE",
        help="capability registry (a JSON list of names): needs and responders' capabilities "
        "outside it are refused (default: any names)",
    )
    serve.add_argument(
        "--redis",
        default=None,
        help="share state with other servers through Redis (redis://host:port/db, or any "
        "node of a Redis Cluster: keys then carry the prefix's hash tag, {kd}; "
        "redis-cluster://host:port demands a cluster and refuses a single server)",
    )
    serve.add_argument("--redis-prefix", default="kd", help="key prefix of the shared state (kd)")
    serve.add_argument(
        "--lifecycle",
        default=None,
        metavar="URL",
        help="keep the lifecycle's commands in PostgreSQL, shared with every server naming it "
        "(postgresql://user@host:port/db; the 'postgresql' extra); with --redis, positions "
        "stay in Redis",
    )
    serve.add_argument(
        "--retention",
        type=_positive_float,
        default=21_600.0,
        metavar="SECONDS",
        help="with --lifecycle: incidents closed longer ago are archived (kayou_archive) and "
        "a restart replays only the rest; compacted every 10 minutes (21600 = 6 h)",
    )
    serve.add_argument(
        "--shard",
        default=None,
        metavar="NAME",
        help="serve one shard of --shards: its cells plus the road-network margin that ranks "
        "across its border (exact within the map's max_eta_s)",
    )
    serve.add_argument(
        "--shards",
        default=None,
        metavar="FILE",
        help="the shard map (shards.json; see docs/scaling.md), with --shard",
    )
    serve.add_argument(
        "--rate-limit",
        type=_rate,
        default=(20_000.0, 40_000.0),
        metavar="RATE[,BURST]",
        help="requests per second per token, bursts up to BURST (default: RATE); 'off'; "
        "over it: 429 with Retry-After (20000,40000)",
    )
    serve.add_argument(
        "--ip-rate-limit",
        type=_rate,
        default=None,
        metavar="RATE[,BURST]",
        help="requests per second per client address, with a token or not (default: off; "
        "behind a proxy, limit there)",
    )
    serve.add_argument(
        "--run-cards",
        default=None,
        metavar="FILE",
        help="run cards by incident kind (JSON: {kind: {needs, mode, offer_timeout_s, ...}}, "
        "the fields of RunCard), replacing the library's for those kinds",
    )
    serve.add_argument(
        "--tick-interval",
        type=_positive_float,
        default=1.0,
        help="seconds between offer-expiry ticks (1)",
    )
    serve.add_argument(
        "--header-timeout",
        type=_positive_float,
        default=10.0,
        help="seconds a connection may take to send a request head (10); then it is closed",
    )
    serve.add_argument(
        "--body-timeout",
        type=_positive_float,
        default=30.0,
        help="seconds a request may take to send its body (30); then it is closed",
    )
    serve.add_argument(
        "--timeout-keep-alive",
        type=_positive_float,
        default=5.0,
        help="seconds an idle keep-alive connection stays open (5)",
    )
    serve.add_argument(
        "--max-connections",
        type=_positive_int,
        default=900,
        help="open connections at most (900: below the usual 1024-descriptor limit); more "
        "are closed at once",
    )
    serve.add_argument(
        "--access-log", action="store_true", help="log every HTTP request (to standard error)"
    )
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines as text (default) or JSON objects, one a line",
    )
    serve.add_argument(
        "--graceful-timeout",
        type=_positive_float,
        default=30.0,
        help="on SIGTERM/SIGINT, seconds to let requests in flight finish (30); new "
        "connections are refused meanwhile",
    )

    gateway = sub.add_parser(
        "gateway",
        help="route the /v1 API to the shards of a shard map (needs the 'server' extra)",
        description="Serve the /v1 API of 'serve' in front of shard processes: each fix, "
        "incident and ranking goes to the shard that owns its H3 cell.",
        epilog=_TOKENS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gateway.add_argument("--shards", required=True, metavar="FILE", help="the shard map")
    gateway.add_argument(
        "--tokens", default=None, help="token file (JSON); default: $KAYOU_TOKENS_FILE"
    )
    gateway.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    gateway.add_argument("--port", type=_port, default=8080, help="port (8080; 0: any free one)")
    gateway.add_argument(
        "--shard-timeout",
        type=_positive_float,
        default=5.0,
        metavar="SECONDS",
        help="a shard slower than this gets its requests answered 503 with Retry-After (5)",
    )

    bench = sub.add_parser("bench", help="run the benchmarks in benchmarks/ (from a checkout)")
    bench.add_argument("names", nargs="*", help="benchmark names (default: all)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "demo":
        from kayou_dispatch._demo import run_demo

        return run_demo(n_responders=args.responders, seed=args.seed, minutes=args.minutes)
    if args.command == "simulate":
        return _simulate(parser, args)
    if args.command == "serve":
        return _serve(parser, args)
    if args.command == "gateway":
        return _gateway(parser, args)
    if args.command == "bench":
        return _bench(parser, args.names)
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover - argparse exits first
    return 2


def _load(parser: argparse.ArgumentParser, spec: str) -> Any:
    from kayou_dispatch import KayouDispatchError, RoadNetwork, load_network
    from kayou_dispatch.datasets import BUNDLED_NETWORKS

    if spec == "default" or spec in BUNDLED_NETWORKS:
        return load_network(spec)
    path = Path(spec)
    if not path.exists():
        names = ", ".join(["default", *BUNDLED_NETWORKS])
        parser.error(f"--network: no such file {spec!r} (give a bundled name: {names}; or a path)")
    try:
        if path.suffix == ".npz":
            return RoadNetwork.load(path)
        return RoadNetwork.from_osm(path)
    except KayouDispatchError as exc:
        parser.error(f"--network: {exc}")


def _check_out(parser: argparse.ArgumentParser, out: str) -> list[Path]:
    """Make sure the output folder can be written, before anything else; return the
    folders this created (removed again if a later check fails)."""
    import tempfile

    folder = Path(out)
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".kayou-write-test-"):
            pass
    except OSError as exc:
        _remove(created)
        parser.error(f"--out: cannot write to {out!r} ({exc.strerror or exc})")
    return created


def _remove(folders: list[Path]) -> None:
    for p in folders:  # deepest first
        with contextlib.suppress(OSError):
            p.rmdir()


def _simulate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    # The cheap checks come first (argparse already checked the numbers), so bad input
    # fails fast; then the folder; then what needs the library, undoing the folder on error.
    created = _check_out(parser, args.out)
    try:
        return _simulate_checked(parser, args)
    except SystemExit:
        _remove(created)
        raise


def _simulate_checked(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from kayou_dispatch import KayouDispatchError
    from kayou_dispatch.simulation import Scenario, get_policies, replicate
    from kayou_dispatch.simulation.report import format_summary, write_outputs

    try:  # every check before any work starts
        policies = get_policies(args.policy)
        scenario = Scenario(
            hours=args.hours,
            responders=args.responders,
            service_vehicles=args.service_vehicles,
            share=args.share,
            seed=args.seed,
            serious_on_highway=args.serious_on_highway,
            coverage_every_s=args.coverage_every,
        )
    except KayouDispatchError as exc:
        parser.error(str(exc))
    if not args.no_plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error(
                "plots need matplotlib: pip install 'kayou-dispatch[plot]' (or pass --no-plots)"
            )
    t0 = time.perf_counter()
    network = _load(parser, args.network)
    try:
        scenario.check_network(network)
    except KayouDispatchError as exc:
        parser.error(f"--network: {exc}")
    print(f"network: {network} ({time.perf_counter() - t0:.1f} s)")
    share = scenario.hours / 24
    print(
        f"scenario: {scenario.hours:g} h, {scenario.responders} volunteers + "
        f"{scenario.service_vehicles} service vehicles, "
        f"~{scenario.serious_per_day * share:.0f} serious + "
        f"~{scenario.ordinary_per_day * share:.0f} ordinary requests a replication; "
        f"{args.replications} replications x {len(policies)} policies"
    )
    reps = replicate(
        network,
        scenario,
        policies,
        replications=args.replications,
        jobs=args.jobs,
        progress=True,
        track_every_s=REPLAY_EVERY_S,
    )
    files = write_outputs(args.out, network, scenario, reps, plots=not args.no_plots)
    print(format_summary(reps))
    runs = [r for row in reps.results for r in row]
    n_rep = len(reps.results)
    per_policy = ", ".join(
        f"{name} {sum(row[i].metrics['simulator']['wall_s'] for row in reps.results) / n_rep:.1f} s"
        for i, name in enumerate(reps.policies)
    )
    print(
        f"wall: {reps.wall_s:.1f} s for {len(runs)} runs "
        f"({reps.wall_s / len(reps.results):.1f} s per replication of {len(policies)} policies "
        f"in parallel); one run: {per_policy}"
    )
    print(f"wrote {', '.join(str(f) for f in files)}")
    return 0


def _registry(parser: argparse.ArgumentParser, spec: str | None) -> list[str] | None:
    """The capability names of a ``--capabilities`` file (``None`` without one)."""
    import json

    if spec is None:
        return None
    try:
        names = json.loads(Path(spec).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        parser.error(f"--capabilities: cannot read {spec!r}: {exc}")
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        parser.error(f"--capabilities: {spec!r} must hold a JSON list of non-empty names")
    return names


def _run_cards(parser: argparse.ArgumentParser, spec: str | None) -> dict[str, Any] | None:
    """The run cards of a ``--run-cards`` file, by kind (``None`` without one)."""
    import json

    from kayou_dispatch import KayouDispatchError
    from kayou_dispatch.lifecycle import RunCard

    if spec is None:
        return None
    try:
        data = json.loads(Path(spec).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        parser.error(f"--run-cards: cannot read {spec!r}: {exc}")
    if not isinstance(data, dict) or not data:
        parser.error(f"--run-cards: {spec!r} must hold a JSON object of kind -> run card")
    cards = {}
    for kind, fields in data.items():
        if not isinstance(fields, dict):
            parser.error(f"--run-cards: the card of {kind!r} must be an object, got {fields!r}")
        try:
            cards[str(kind)] = RunCard(**fields)
        except TypeError as exc:  # an unknown field, or needs missing
            parser.error(f"--run-cards: the card of {kind!r}: {exc}")
        except KayouDispatchError as exc:
            parser.error(f"--run-cards: the card of {kind!r}: {exc}")
    return cards


def _failed_option(args: argparse.Namespace, exc: Exception) -> str:
    """Which option a start-up failure is about (``"--lifecycle: "``, ``"--redis: "``, ...)."""
    store = str(getattr(exc, "store", "") or "")
    if args.lifecycle is not None and (
        getattr(exc, "name", None) in ("lifecycle", "log")
        or store.startswith(("postgresql://", "postgres://"))
    ):
        return "--lifecycle: "
    return "--redis: " if args.redis else ""


def _announce_log(logger: logging.Logger, log: Any) -> None:
    """Log the shared command log, and whether an acknowledged command is on disk."""
    from kayou_dispatch.shared import PostgresLog

    if isinstance(log, PostgresLog):
        note = "" if log.durable else " (NOT durable: set fsync on, synchronous_commit on)"
        logger.info("lifecycle log %s name %r%s", log.store, log.log, note)
        return
    note = "" if log.durable else " (NOT durable: set appendonly yes, appendfsync always)"
    logger.info("shared state %s prefix %r%s", log.store, log.prefix, note)


def _start_compaction(engine: Any, retention_s: float) -> threading.Event:
    """Compact a PostgreSQL lifecycle log in a background thread; set the event to stop."""
    from kayou_dispatch.shared import PostgresLog

    stop = threading.Event()
    log = engine.shared_log
    if isinstance(log, PostgresLog):
        # Its own connection: compaction never waits on the engine's command connection.
        own = log.clone()

        def run() -> None:
            try:
                own.compact_every(retention_s=retention_s, clock=engine.clock, stop=stop)
            finally:
                own.close()

        threading.Thread(target=run, name="kayou-compaction", daemon=True).start()
    return stop


def _serve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from kayou_dispatch import DispatchEngine, KayouDispatchError

    if args.redis is not None and args.journal is not None:
        parser.error("--journal and --redis exclude each other: the Redis log is the journal")
    if args.lifecycle is not None and args.journal is not None:
        parser.error("--journal and --lifecycle exclude each other: the lifecycle log is one")
    tokens = _server_tokens(parser, "serve", args.tokens)
    import uvicorn
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    from kayou_dispatch.server import create_app
    from kayou_dispatch.server._limits import guarded
    from kayou_dispatch.server._logs import announced_server, configure_logging

    capabilities = _registry(parser, args.capabilities)
    run_cards = _run_cards(parser, args.run_cards)
    shard_map = _shard_map(parser, args)
    network = _load(parser, args.network)
    prefix, lifecycle = args.redis_prefix, args.lifecycle
    if shard_map is not None:
        network, prefix, lifecycle = _shard_parts(parser, args, shard_map, network)
    try:
        engine = DispatchEngine(
            network,
            journal=args.journal,
            redis=args.redis,
            redis_prefix=prefix,
            capabilities=capabilities,
            lifecycle=lifecycle,
        )
    except KayouDispatchError as exc:
        parser.error(f"{_failed_option(args, exc)}{exc}")
    for kind, card in (run_cards or {}).items():
        engine.set_run_card(kind, card)
    if shard_map is not None:
        engine.serve_shard(
            shard_map.reach_cells(args.shard),
            resolution=shard_map.resolution,
            max_eta_s=shard_map.max_eta_s,
            owns=shard_map.ticks_for(args.shard),
        )
    configure_logging(log_format=args.log_format, access_log=args.access_log)
    logger = logging.getLogger("kayou_dispatch.serve")
    log = engine.shared_log
    if log is not None:
        _announce_log(logger, log)
    stop_compaction = _start_compaction(engine, args.retention)
    app = create_app(
        engine,
        auth=tokens,
        tick_interval_s=args.tick_interval,
        rate_limit=args.rate_limit,
        ip_rate_limit=args.ip_rate_limit,
        access_log=args.access_log,
    )
    logger.info("%s, %d tokens", network, len(tokens))
    try:
        protocol = guarded(
            AutoHTTPProtocol,
            header_timeout_s=args.header_timeout,
            body_timeout_s=args.body_timeout,
            max_connections=args.max_connections,
        )
        config = uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            http=protocol,
            timeout_keep_alive=args.timeout_keep_alive,
            timeout_graceful_shutdown=args.graceful_timeout,
            log_config=None,  # configure_logging did it
            access_log=False,
        )
        announced_server(uvicorn.Server)(config).run()
    finally:
        stop_compaction.set()
        engine.close()
        logger.info("stopped")
    return 0


def _server_tokens(parser: argparse.ArgumentParser, command: str, path: str | None) -> Any:
    """The bearer tokens of ``--tokens``; stop with the install hint without the server extra."""
    from kayou_dispatch import KayouDispatchError

    try:
        import uvicorn  # noqa: F401  (the caller's; checked here with the rest of the extra)

        from kayou_dispatch.server import load_tokens
    except ImportError:
        parser.error(f"{command} needs the server extra: pip install 'kayou-dispatch[server]'")
    try:
        return load_tokens(path)
    except KayouDispatchError as exc:
        parser.error(f"--tokens: {exc}")


def _read_shard_map(parser: argparse.ArgumentParser, path: str, shard: str | None = None) -> Any:
    """The validated shard map in ``path`` (naming ``shard``, when given); else stop."""
    from kayou_dispatch import KayouDispatchError
    from kayou_dispatch.shared.shards import load_shard_map

    try:
        shard_map = load_shard_map(path)
        if shard is not None:
            shard_map.shard(shard)
    except KayouDispatchError as exc:
        parser.error(f"--shards: {exc}")
    return shard_map


def _shard_map(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Any:
    """The validated shard map of ``--shards`` with ``--shard`` (``None`` without both)."""
    if (args.shard is None) != (args.shards is None):
        parser.error("--shard NAME and --shards FILE go together")
    if args.shards is None:
        return None
    return _read_shard_map(parser, args.shards, args.shard)


def _shard_parts(
    parser: argparse.ArgumentParser, args: argparse.Namespace, shard_map: Any, network: Any
) -> tuple[Any, str, Any]:
    """One shard's network (its reach plus the snap margin), key prefix and national log."""
    from kayou_dispatch import KayouDispatchError
    from kayou_dispatch.shared.shards import SNAP_M, clip_network

    try:
        shard_map.check_covers(network)
        reach = shard_map.reach_cells(args.shard)
        clipped = clip_network(network, reach, margin_m=SNAP_M)
    except KayouDispatchError as exc:
        parser.error(f"--shards: {exc}")
    prefix = args.redis_prefix
    if prefix == "kd":  # the default: the shard's own prefix (its hash tag: one slot range)
        prefix = shard_map.shard(args.shard).redis_prefix
    lifecycle = args.lifecycle
    if lifecycle is not None:
        # One national log, whatever the shard's key prefix.
        try:
            from kayou_dispatch.shared import PostgresLog

            lifecycle = PostgresLog(lifecycle, log="kd")
        except KayouDispatchError as exc:
            parser.error(f"--lifecycle: {exc}")
    return clipped, prefix, lifecycle


def _gateway(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    tokens = _server_tokens(parser, "gateway", args.tokens)
    import uvicorn

    from kayou_dispatch.server._gateway import create_gateway
    from kayou_dispatch.server._logs import announced_server, configure_logging

    shard_map = _read_shard_map(parser, args.shards)
    configure_logging(log_format="text", access_log=False)
    logger = logging.getLogger("kayou_dispatch.gateway")
    logger.info("%r, %d tokens", shard_map, len(tokens))
    app = create_gateway(shard_map, tokens, timeout_s=args.shard_timeout)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_config=None, access_log=False)
    announced_server(uvicorn.Server)(config).run()
    return 0


def _bench(parser: argparse.ArgumentParser, names: Sequence[str]) -> int:
    folder = Path.cwd() / "benchmarks"
    scripts = sorted(folder.glob("bench_*.py"))
    if not scripts:
        parser.error("no benchmarks/ folder here: run 'kayou-dispatch bench' from a checkout")
    if names:
        wanted = {n.removeprefix("bench_").removesuffix(".py") for n in names}
        unknown = wanted - {p.stem.removeprefix("bench_") for p in scripts}
        if unknown:
            parser.error(
                f"unknown benchmark(s) {sorted(unknown)}; have "
                f"{[p.stem.removeprefix('bench_') for p in scripts]}"
            )
        scripts = [p for p in scripts if p.stem.removeprefix("bench_") in wanted]
    status = 0
    for script in scripts:
        print(f"== {script.name}", flush=True)
        status |= subprocess.run([sys.executable, str(script)], check=False).returncode
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
