"""Run kayou_dispatch from the command line (``kayou-dispatch ...``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


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
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover - argparse exits first
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
