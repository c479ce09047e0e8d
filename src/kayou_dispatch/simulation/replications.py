"""Replicate a simulated day: several seeds, every policy on the same days, CIs and pairs.

Replication ``r`` runs every policy on the scenario with seed ``seed_r`` (drawn from the
scenario's seed), so in one replication all policies see the same requests and the same
fleet (common random numbers); the replications differ. Each metric is reported as the
mean over replications with a 95 % Student-t confidence interval, and each policy's paired
difference to the first policy (per replication, then mean and CI of the differences):
pairing removes the day-to-day variation both policies share, so the paired interval is
much narrower than the two separate ones.

Replications run in parallel worker processes (``jobs``), each loading the network once.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import stats
from tqdm import tqdm

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.network import EdgeArrays, RoadNetwork
from kayou_dispatch.simulation.policies import Policy
from kayou_dispatch.simulation.runner import SimulationResult, simulate
from kayou_dispatch.simulation.scenario import Scenario

__all__ = [
    "replicate",
    "replication_seeds",
    "Replications",
    "summarize_replications",
]


@dataclass(frozen=True, eq=False)
class Replications:
    """Every policy's result in every replication.

    Attributes
    ----------
    scenario
        The scenario (its seed is the master seed).
    seeds
        The scenario seed of each replication.
    policies
        Policy names, in the order given (the first is the baseline of paired differences).
    results
        ``results[r][i]``: replication ``r``, policy ``i``.
    wall_s
        Wall time of the whole run (all replications, in parallel).
    """

    scenario: Scenario
    seeds: tuple[int, ...]
    policies: tuple[str, ...]
    results: tuple[tuple[SimulationResult, ...], ...]
    wall_s: float

    def first(self) -> list[SimulationResult]:
        """The first replication's results (one per policy)."""
        return list(self.results[0])


def replication_seeds(seed: int, replications: int) -> tuple[int, ...]:
    """Return the scenario seed of each replication (the first is ``seed`` itself).

    Examples
    --------
    >>> replication_seeds(0, 3)[0], len(set(replication_seeds(0, 5)))
    (0, 5)
    """
    rng = np.random.default_rng([seed, 14])
    out = [seed]
    while len(out) < replications:  # one draw at a time: 3 seeds are the first 3 of 5
        s = int(rng.integers(1, 2**31))
        if s not in out:
            out.append(s)
    return tuple(out[:replications])


def _check(replications: Any, jobs: Any) -> tuple[int, int]:
    if isinstance(replications, bool) or not isinstance(replications, int) or replications < 1:
        msg = f"replications must be a whole number >= 1, got {replications!r}"
        raise InvalidParameterError(msg, name="replications", value=replications)
    if jobs is None:
        jobs = os.cpu_count() or 1
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        msg = f"jobs must be a whole number >= 1 or None, got {jobs!r}"
        raise InvalidParameterError(msg, name="jobs", value=jobs)
    return replications, jobs


_WORKER: dict[str, RoadNetwork] = {}


def _init_worker(arrays: EdgeArrays) -> None:
    _WORKER["net"] = RoadNetwork.from_arrays(arrays)


def _run_one(scenario: Scenario, policy: Policy, track_every_s: float | None) -> SimulationResult:
    return simulate(_WORKER["net"], scenario, policy, track_every_s=track_every_s)


def replicate(
    network: RoadNetwork,
    scenario: Scenario,
    policies: Sequence[Policy],
    *,
    replications: int = 5,
    jobs: int | None = None,
    progress: bool = False,
    track_every_s: float | None = None,
) -> Replications:
    """Simulate ``replications`` days under every policy, in parallel processes.

    Parameters
    ----------
    network, scenario, policies
        The roads, the day (its ``seed`` is the master seed) and the policies (at least one;
        the first is the baseline of paired differences).
    replications
        Number of simulated days (each with its own seed; every policy sees each one).
    jobs
        Worker processes (``None``: one per core); ``1`` runs in this process.
    progress
        Show one progress bar over all (replication, policy) runs.
    track_every_s
        Record tracks for the first policy of the first replication (``replay.html``).

    Raises
    ------
    InvalidParameterError
        For bad ``replications``, ``jobs`` or an empty policy list; a network the
        scenario cannot run on (before anything runs).
    """
    n_rep, n_jobs = _check(replications, jobs)
    policies = list(policies)
    if not policies:
        raise InvalidParameterError("give at least one policy", name="policies", value=policies)
    scenario.check_network(network)
    seeds = replication_seeds(scenario.seed, n_rep)
    tasks = [
        (r, i, replace(scenario, seed=s), p, track_every_s if (r, i) == (0, 0) else None)
        for r, s in enumerate(seeds)
        for i, p in enumerate(policies)
    ]
    out: dict[tuple[int, int], SimulationResult] = {}
    t0 = time.perf_counter()
    bar = tqdm(total=len(tasks), unit="run", desc="simulating", disable=not progress)
    n_jobs = min(n_jobs, len(tasks))
    if n_jobs == 1:
        for r, i, sc, p, tr in tasks:
            out[r, i] = simulate(network, sc, p, track_every_s=tr)
            bar.update(1)
    else:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            n_jobs, mp_context=ctx, initializer=_init_worker, initargs=(network.arrays,)
        ) as pool:
            futures = {pool.submit(_run_one, sc, p, tr): (r, i) for r, i, sc, p, tr in tasks}
            for fut in as_completed(futures):
                out[futures[fut]] = fut.result()
                bar.update(1)
    bar.close()
    results = tuple(tuple(out[r, i] for i in range(len(policies))) for r in range(n_rep))
    return Replications(
        scenario, seeds, tuple(p.name for p in policies), results, time.perf_counter() - t0
    )


def _leaves(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}
    for k, v in tree.items():
        if isinstance(v, Mapping):
            out.update(_leaves(v, (*prefix, k)))
        elif v is None or (isinstance(v, int | float) and not isinstance(v, bool)):
            out[(*prefix, k)] = v
    return out


def _ci(values: Sequence[float | None]) -> tuple[float | None, list[float | None]]:
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if not x.size:
        return None, [None, None]
    mean = float(x.mean())
    if x.size < 2:
        return mean, [None, None]
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, [mean - half, mean + half]


def _nest(flat: Mapping[tuple[str, ...], Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in flat.items():
        node = out
        for k in path[:-1]:
            node = node.setdefault(k, {})
        node[path[-1]] = value
    return out


def summarize_replications(reps: Replications) -> dict[str, Any]:
    """Return the ``policies`` and ``paired`` blocks of ``metrics.json``.

    Every numeric metric (nested groups such as ``serious``, ``by_kind``, ``by_hour``
    likewise) becomes ``{"mean", "ci95": [lo, hi], "values": [...]}`` (one value per
    replication; ``None`` where a replication had nothing to measure, e.g. no request of
    a kind); ``paired[name][metric]`` is ``{"mean_diff", "ci95"}`` of that policy minus the
    first, over the replications where both have a value. Intervals need two values.
    """
    flat = [[_leaves(res.metrics) for res in row] for row in reps.results]
    policies: dict[str, Any] = {}
    paired: dict[str, Any] = {}
    keys = sorted({k for row in flat for m in row for k in m})
    for i, name in enumerate(reps.policies):
        summary: dict[tuple[str, ...], Any] = {}
        diffs: dict[tuple[str, ...], Any] = {}
        for key in keys:
            values = [row[i].get(key) for row in flat]
            mean, ci = _ci(values)
            summary[key] = {"mean": mean, "ci95": ci, "values": values}
            if i > 0:
                base = [row[0].get(key) for row in flat]
                d = [
                    v - b
                    for v, b in zip(values, base, strict=True)
                    if v is not None and b is not None
                ]
                mean_d, ci_d = _ci(d)
                diffs[key] = {"mean_diff": mean_d, "ci95": ci_d}
        policies[name] = _nest(summary)
        if i > 0:
            paired[name] = _nest(diffs)
    return {"policies": policies, "paired": paired}
