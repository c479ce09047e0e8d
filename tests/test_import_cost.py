"""Importing the package stays quick: heavy dependencies load only where they are used."""

import subprocess
import sys

LAZY = ("networkx", "scipy.optimize")


def test_import_does_not_load_what_only_some_calls_need():
    code = (
        "import sys, kayou_dispatch\n"
        f"print(','.join(m for m in {LAZY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_lazy_parts_still_work():
    import networkx as nx

    from kayou_dispatch import RoadNetwork
    from kayou_dispatch.matching.assign import solve_slots

    g = nx.MultiDiGraph(crs="epsg:4326")
    g.add_node(1, y=0.0, x=0.0)
    g.add_node(2, y=0.0, x=0.001)
    g.add_edge(1, 2, length=111.0, travel_time=10.0)
    net = RoadNetwork.from_networkx(g)
    assert net.to_networkx().number_of_edges() == 1
    import numpy as np

    assert solve_slots(np.array([[1.0, 2.0]]), weights=np.ones(1)) == [(0, 0)]
