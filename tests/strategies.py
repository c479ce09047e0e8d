"""Shared hypothesis strategies for the test suite."""

from hypothesis import strategies as st

lat_values = st.floats(min_value=-90.0, max_value=90.0, allow_nan=False)
lng_values = st.floats(min_value=-180.0, max_value=180.0, allow_nan=False)


def latlngs():
    """Any valid WGS-84 point, poles and antimeridian included."""
    return st.tuples(lat_values, lng_values)


def china_points():
    """Points well inside mainland China (east and central), where GCJ-02 applies."""
    return st.tuples(
        st.floats(min_value=23.0, max_value=41.0),
        st.floats(min_value=102.0, max_value=119.0),
    )


def random_cloud(rng, n, center, spread_m):
    """``n`` numpy-random points around ``center``, wrapping the antimeridian."""
    import numpy as np

    lat0, lng0 = center
    lat = np.clip(lat0 + rng.uniform(-spread_m, spread_m, n) / 111_195.0, -90.0, 90.0)
    coslat = np.maximum(0.01, np.cos(np.radians(lat)))
    dx = rng.uniform(-spread_m, spread_m, n)
    lng = (lng0 + dx / (111_195.0 * coslat) + 180.0) % 360.0 - 180.0
    return lat, lng


# --- road graphs ---------------------------------------------------------------------------

GRID_DEG = 0.001  # about 111 m between neighbouring grid cells


@st.composite
def road_graphs(draw, *, max_nodes=12, max_edges=30, lat0=22.70, lng0=114.20, shapes=True):
    """Random directed road graphs in the osmnx convention (a networkx ``MultiDiGraph``).

    Nodes sit on distinct cells of a ~100 m grid (so no two are within a metre) and carry
    scattered integer ids; edges may be one-way, parallel, self loops or zero-weight, and
    parts of the graph may be disconnected. Some edges get a bent ``geometry``.
    """
    import networkx as nx
    import shapely

    n = draw(st.integers(min_value=2, max_value=max_nodes))
    cells = draw(st.lists(st.integers(0, 99), min_size=n, max_size=n, unique=True))
    ids = draw(st.lists(st.integers(1, 10**12), min_size=n, max_size=n, unique=True))
    g = nx.MultiDiGraph(crs="epsg:4326")
    for node_id, cell in zip(ids, cells, strict=True):
        g.add_node(node_id, y=lat0 + (cell // 10) * GRID_DEG, x=lng0 + (cell % 10) * GRID_DEG)
    weights = st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=500.0, allow_nan=False))
    edges = draw(
        st.lists(
            st.tuples(st.sampled_from(ids), st.sampled_from(ids), weights, st.booleans()),
            min_size=1,
            max_size=max_edges,
        )
    )
    for a, b, w, bent in edges:
        ya, xa = g.nodes[a]["y"], g.nodes[a]["x"]
        yb, xb = g.nodes[b]["y"], g.nodes[b]["x"]
        data = {"travel_time": w, "length": 1.0 + w * 10.0}
        if shapes and bent and a != b:
            # One shape point off the straight line, a quarter cell to the side.
            my, mx = (ya + yb) / 2 + GRID_DEG / 4, (xa + xb) / 2 - GRID_DEG / 4
            data["geometry"] = shapely.LineString([(xa, ya), (mx, my), (xb, yb)])
        g.add_edge(a, b, **data)
    return g


def offsets_m():
    """A small displacement in degrees (up to ~30 m) to put a point beside a road."""
    return st.tuples(
        st.floats(min_value=-3e-4, max_value=3e-4), st.floats(min_value=-3e-4, max_value=3e-4)
    )
