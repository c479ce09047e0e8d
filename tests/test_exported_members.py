import importlib

import pytest

import kayou_dispatch

MODULES = [
    "kayou_dispatch",
    "kayou_dispatch.datasets",
    "kayou_dispatch.engine",
    "kayou_dispatch.errors",
    "kayou_dispatch.geo",
    "kayou_dispatch.lifecycle",
    "kayou_dispatch.lifecycle.assign",
    "kayou_dispatch.lifecycle.dispatcher",
    "kayou_dispatch.lifecycle.journal",
    "kayou_dispatch.lifecycle.records",
    "kayou_dispatch.lifecycle.runcards",
    "kayou_dispatch.matching",
    "kayou_dispatch.matching._validate",
    "kayou_dispatch.matching.candidates",
    "kayou_dispatch.matching.explain",
    "kayou_dispatch.matching.matrix",
    "kayou_dispatch.matching.rank",
    "kayou_dispatch.network",
    "kayou_dispatch.network._arrays",
    "kayou_dispatch.network._graph",
    "kayou_dispatch.network._nx",
    "kayou_dispatch.network._twins",
    "kayou_dispatch.network._validate",
    "kayou_dispatch.network.osm",
    "kayou_dispatch.network.paths",
    "kayou_dispatch.network.profiles",
    "kayou_dispatch.network.snap",
    "kayou_dispatch.network.trips",
    "kayou_dispatch.server",
    "kayou_dispatch.server._auth",
    "kayou_dispatch.server._batch",
    "kayou_dispatch.server._console",
    "kayou_dispatch.server._events",
    "kayou_dispatch.server._models",
    "kayou_dispatch.server._routing",
    "kayou_dispatch.server.app",
    "kayou_dispatch.simulation",
    "kayou_dispatch.simulation.demand",
    "kayou_dispatch.simulation.fleet",
    "kayou_dispatch.simulation.metrics",
    "kayou_dispatch.simulation.plots",
    "kayou_dispatch.simulation.policies",
    "kayou_dispatch.simulation.replay",
    "kayou_dispatch.simulation.report",
    "kayou_dispatch.simulation.roads",
    "kayou_dispatch.simulation.runner",
    "kayou_dispatch.simulation.scenario",
    "kayou_dispatch.shared",
    "kayou_dispatch.shared._client",
    "kayou_dispatch.shared.log",
    "kayou_dispatch.shared.mirror",
    "kayou_dispatch.shared.positions",
    "kayou_dispatch.spatial",
    "kayou_dispatch.spatial.cover",
    "kayou_dispatch.spatial.index",
    "kayou_dispatch.spatial.responders",
    "kayou_dispatch.store",
    "kayou_dispatch.web",
    "kayou_dispatch.web._assets",
    "kayou_dispatch.web._geometry",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_sorted_case_insensitively(name):
    mod = importlib.import_module(name)
    assert list(mod.__all__) == sorted(mod.__all__, key=str.lower)


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name):
    mod = importlib.import_module(name)
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert missing == []
    assert len(set(mod.__all__)) == len(mod.__all__)


def test_public_functions_and_classes_are_exported():
    for name in dir(kayou_dispatch):
        obj = getattr(kayou_dispatch, name)
        if name.startswith("_") or not callable(obj):
            continue
        if getattr(obj, "__module__", "").startswith("kayou_dispatch"):
            assert name in kayou_dispatch.__all__, name
