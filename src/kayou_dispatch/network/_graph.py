"""Hold a road network and answer snapping and travel-time queries on it.

:class:`RoadNetwork` is built once from :class:`~kayou_dispatch.network.EdgeArrays` (every
source goes through :meth:`RoadNetwork.from_arrays`) and queried many times. Inside, nodes are
dense indices ``0..n-1``; the source's node ids live in :attr:`RoadNetwork.node_ids` and are
translated only by :meth:`RoadNetwork.node_index`. Derived structures (sparse graphs, the
spatial index) are built lazily on first use, so loading a saved network stays fast.

Why this file is long (over 600 lines): :class:`RoadNetwork` is the public facade of the
road layer, so it carries the numpydoc, validation and doctests of every public method
(construction, persistence, snapping, times, routes, the overlay); each method is a few
lines that delegate to the modules that do the work (``paths``, ``trips``, ``snap``,
``overlay``, ``_persist``, ``osm``).
"""

from __future__ import annotations

import math
import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from kayou_dispatch.errors import InvalidParameterError, NetworkLoadError, OffNetworkError
from kayou_dispatch.geo import validate_latlng, validate_latlng_array
from kayou_dispatch.network._arrays import (
    ARRAY_FIELDS,
    FORMAT_VERSION,
    EdgeArrays,
    load_saved,
    save_arrays,
)
from kayou_dispatch.network._grid import SegmentGrid
from kayou_dispatch.network._nodegrid import NodeGrid
from kayou_dispatch.network._nx import arrays_from_networkx, arrays_to_networkx
from kayou_dispatch.network._persist import dump, fingerprint, restore
from kayou_dispatch.network._twins import twin_edges
from kayou_dispatch.network._validate import (
    check_heading,
    check_headings,
    check_max_distance_m,
    check_node,
)
from kayou_dispatch.network.overlay import OVERLAY_VERSION, CellOverlay
from kayou_dispatch.network.overlay_tree import OverlayTree
from kayou_dispatch.network.paths import CSRGraph, Route
from kayou_dispatch.network.profiles import Profile, get_profile
from kayou_dispatch.network.snap import SegmentIndex, Snap, SnapArrays
from kayou_dispatch.network.trips import DestinationTree, snap_row

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["DEFAULT_MAX_DISTANCE_M", "RoadNetwork"]

#: How far a point may be from the nearest (qualifying) road when snapping, by default.
#: Point-to-point queries (``travel_time``, ``route``, ``travel_times_to``) always use it.
DEFAULT_MAX_DISTANCE_M = 1000.0
# Bounded searches run on the subgraph of the nodes within reach instead of the whole graph
# when that is cheaper: scipy's search initialises every node (about 3 ns each), while
# cutting out a subgraph costs about 40 times that per node cut out (measured on Lower
# Saxony, 94k nodes). So: networks this large, and at most 1 / _LOCAL_SHARE of them in reach.
_LOCAL_MIN_NODES = 100_000
_LOCAL_SHARE = 40


def _largest_component(arrays: EdgeArrays) -> tuple[EdgeArrays, int, int]:
    n = arrays.n_nodes
    adj = csr_matrix((np.ones(arrays.n_edges), (arrays.u, arrays.v)), shape=(n, n))
    _, labels = connected_components(adj, directed=True, connection="strong")
    keep_label = int(np.argmax(np.bincount(labels)))
    keep_node = labels == keep_label
    keep_edge = keep_node[arrays.u] & keep_node[arrays.v]
    dropped_nodes = int(n - keep_node.sum())
    dropped_edges = int(arrays.n_edges - keep_edge.sum())
    if dropped_nodes == 0 and dropped_edges == 0:
        return arrays, 0, 0
    kept = arrays.subset(keep_node, keep_edge)
    return kept, dropped_nodes, dropped_edges


class RoadNetwork:
    """A directed road network with snapping and exact shortest travel times.

    Build one with :meth:`from_arrays`, :meth:`from_networkx`, :meth:`from_osm` or
    :meth:`load`; the constructor itself is private.

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.MultiDiGraph(crs="epsg:4326")
    >>> G.add_node(1, y=22.70, x=114.20)
    >>> G.add_node(2, y=22.70, x=114.21)
    >>> _ = G.add_edge(1, 2, length=1027.0, travel_time=60.0)
    >>> net = RoadNetwork.from_networkx(G)
    >>> net.n_nodes, net.n_edges
    (2, 1)
    >>> round(net.travel_time(22.7001, 114.2025, 22.7001, 114.2075), 1)
    30.0
    """

    def __init__(self, arrays: EdgeArrays, *, _token: object = None) -> None:
        if _token is not _PRIVATE:
            msg = "build a RoadNetwork with from_arrays, from_networkx, from_osm or load"
            raise InvalidParameterError(msg, name="arrays", value=type(arrays).__name__)
        self._arrays = arrays

    # --- construction -------------------------------------------------------------------

    @classmethod
    def from_arrays(cls, arrays: EdgeArrays, *, largest_component: bool = False) -> RoadNetwork:
        """Build a network from arrays; the one constructor every source goes through.

        Parameters
        ----------
        arrays
            The graph; it is validated first.
        largest_component
            Keep only the largest strongly connected component (a vehicle can drive between
            any two of its nodes). What was dropped is counted in :attr:`dropped_nodes`,
            :attr:`dropped_edges` and :attr:`meta`.

        Raises
        ------
        NetworkLoadError
            When the arrays are inconsistent or hold no road.

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[7, 8, 9], lat=[0.0, 0.0, 0.01],
        ...                         lng=[0.0, 0.001, 0.0], u=[0, 1, 0], v=[1, 0, 2],
        ...                         length_m=[111.2, 111.2, 1112.0],
        ...                         travel_time_s=[10.0, 10.0, 90.0])
        >>> net = RoadNetwork.from_arrays(a, largest_component=True)
        >>> net.n_nodes, net.dropped_nodes, net.dropped_edges
        (2, 1, 1)
        """
        if not isinstance(arrays, EdgeArrays):
            msg = f"expected EdgeArrays, got {type(arrays).__name__}"
            raise NetworkLoadError(msg, source=arrays)
        arrays.validate(source=arrays.meta.get("source"))
        dropped_nodes = dropped_edges = 0
        if largest_component:
            arrays, dropped_nodes, dropped_edges = _largest_component(arrays)
        meta = dict(arrays.meta)
        if largest_component:
            meta["largest_component"] = True
            meta["dropped_nodes"] = dropped_nodes
            meta["dropped_edges"] = dropped_edges
        return cls(_frozen(arrays, meta), _token=_PRIVATE)

    @classmethod
    def from_networkx(
        cls,
        G: Any,  # noqa: N803 - networkx's and osmnx's name for a graph
        *,
        weight: str = "travel_time",
        largest_component: bool = False,
        profile: str | Profile = "truck",
    ) -> RoadNetwork:
        """Build a network from a networkx graph in the osmnx convention.

        Nodes need ``y`` (lat) and ``x`` (lng) in WGS-84 degrees. Each edge's travel time is
        its ``weight`` attribute as given; without one it is derived from ``speed_kph``, else
        from the profile's speed for its ``highway`` class (the first drivable one of a list)
        and ``maxspeed``. A missing ``length`` is measured along ``geometry`` (a LineString
        in ``(lng, lat)`` order, kept as the edge's shape) or between the nodes. Undirected
        graphs get every edge both ways. Every node and edge is kept unless
        ``largest_component``; edges keep their order in ``G.edges`` (edge ``i`` of the
        network is the ``i``-th, each undirected edge followed by its reverse). Integer node
        labels become :attr:`node_ids`; any other labels (and ids beyond int64) are replaced
        by their position in ``G.nodes``.

        Parameters
        ----------
        G
            A ``DiGraph``, ``MultiDiGraph``, ``Graph`` or ``MultiGraph``.
        weight
            Name of the edge attribute holding travel time in seconds.
        largest_component
            See :meth:`from_arrays`.
        profile
            Vehicle profile used only for edges without a travel time or speed.

        Raises
        ------
        NetworkLoadError
            For an empty graph, nodes without coordinates, negative or NaN lengths or
            weights, or edges whose travel time cannot be worked out.

        Examples
        --------
        >>> import networkx as nx
        >>> G = nx.Graph()
        >>> G.add_node("a", y=0.0, x=0.0)
        >>> G.add_node("b", y=0.0, x=0.01)
        >>> G.add_edge("a", "b", highway="residential")
        >>> net = RoadNetwork.from_networkx(G)
        >>> net.n_edges, round(float(net.edge_travel_time_s[0]), 1)  # 1112 m at 20 km/h
        (2, 200.2)
        """
        prof = get_profile(profile)
        if not isinstance(weight, str):
            msg = f"weight must be an edge attribute name, got {weight!r}"
            raise InvalidParameterError(msg, name="weight", value=weight)
        arrays = arrays_from_networkx(G, weight=weight, profile=prof)
        return cls.from_arrays(arrays, largest_component=largest_component)

    @classmethod
    def from_osm(
        cls,
        path: str | os.PathLike[str],
        *,
        profile: str | Profile = "truck",
        bbox: tuple[float, float, float, float] | None = None,
    ) -> RoadNetwork:
        """Read an OpenStreetMap extract and keep its largest strongly connected component.

        Parameters
        ----------
        path
            An ``.osm.pbf`` or ``.osm`` file.
        profile
            Vehicle profile deciding which roads count and how fast they are.
        bbox
            Optional ``(min_lat, min_lng, max_lat, max_lng)`` to cut the extract.

        Raises
        ------
        NetworkLoadError
            When the file cannot be read or holds no drivable road.
        """
        from kayou_dispatch.network.osm import read_osm  # type: ignore[import-not-found,unused-ignore]

        arrays = read_osm(path, profile=profile, bbox=bbox)
        return cls.from_arrays(arrays, largest_component=True)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RoadNetwork:
        """Read a network written by :meth:`save`.

        Raises
        ------
        NetworkLoadError
            When the file is missing, unreadable or of another format version, or when the
            search structures saved with it do not match its graph.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.001],
        ...                         u=[0], v=[1], length_m=[111.2], travel_time_s=[10.0])
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = pathlib.Path(d) / "net.npz"
        ...     RoadNetwork.from_arrays(a).save(p)
        ...     RoadNetwork.load(p).n_edges
        1
        """
        arrays, extra = load_saved(path)
        net = cls(_frozen(arrays, arrays.meta), _token=_PRIVATE)
        if extra:
            net._restore_derived(extra, source=path)
        return net

    def save(
        self, path: str | os.PathLike[str], *, compress: bool = False, derived: bool = True
    ) -> None:
        """Write the network to one ``.npz`` file (read it back with :meth:`load`).

        Parameters
        ----------
        path
            Where to write.
        compress
            Compress the file (for files that are shipped or sent).
        derived
            Also write every structure the queries use (edge twins, sparse graphs, the
            snapping grid, the node grid; built first if they were not yet), so the loaded
            network answers its first query at once instead of building them (seconds to
            minutes on millions of nodes). About 800 bytes per node more on disk. They are
            tied to the graph by a fingerprint: :meth:`load` refuses a file whose graph was
            changed after they were written.

        Raises
        ------
        InvalidParameterError
            When ``path`` is not a path.
        """
        if not isinstance(path, str | os.PathLike):
            msg = f"path must be a str or os.PathLike, got {type(path).__name__}"
            raise InvalidParameterError(msg, name="path", value=path)
        save_arrays(
            path, self._arrays, compress=compress, extra=self._derived() if derived else None
        )

    # The structures built from the arrays that the query path needs, saved with them.
    _DERIVED = (("_graph", CSRGraph), ("_segments", SegmentIndex), ("_nodes", NodeGrid))
    _NESTED = (CSRGraph, SegmentIndex, SegmentGrid, NodeGrid)

    def _graph_arrays(self) -> dict[str, NDArray[Any]]:
        return {name: getattr(self._arrays, name) for name in ARRAY_FIELDS}

    def _derived(self) -> dict[str, NDArray[Any]]:
        out: dict[str, NDArray[Any]] = {
            "derived/fingerprint": np.array(fingerprint(self._graph_arrays(), FORMAT_VERSION)),
            "derived/edge_twin": self.edge_twin,
        }
        shared = self._graph_arrays()
        for name, _ in self._DERIVED:
            dump(getattr(self, name), f"derived/{name}", out, self._NESTED, shared)
        if self.overlay is not None:
            out["derived/overlay_fingerprint"] = np.array(self._overlay_fingerprint())
            dump(self.overlay, "derived/_overlay", out, (CellOverlay,), shared)
        return out

    def _overlay_fingerprint(self) -> str:
        return fingerprint(self._graph_arrays(), FORMAT_VERSION) + f"/overlay{OVERLAY_VERSION}"

    def _restore_derived(self, extra: dict[str, NDArray[Any]], *, source: object) -> None:
        # Derived structures are used only when they were built from exactly these arrays.
        saved = str(extra.get("derived/fingerprint", ""))
        if saved != fingerprint(self._graph_arrays(), FORMAT_VERSION):
            msg = (
                f"{source!r}: the saved search structures do not match the saved graph (the "
                "file was edited or written by another version); save the network again"
            )
            raise NetworkLoadError(msg, source=source)
        try:
            twin = extra["derived/edge_twin"]
            shared = self._graph_arrays()
            restored = {
                name: restore(kind, f"derived/{name}", extra, self._NESTED, shared)
                for name, kind in self._DERIVED
            }
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"{source!r}: the saved search structures are incomplete ({exc})"
            raise NetworkLoadError(msg, source=source) from None
        if twin.shape != (self.n_edges,):
            msg = f"{source!r}: the saved edge twins do not fit the graph"
            raise NetworkLoadError(msg, source=source)
        self.__dict__["edge_twin"] = twin
        self.__dict__.update(restored)
        if "derived/_overlay/__class__" in extra:
            self._restore_overlay(extra, source=source)

    def _restore_overlay(self, extra: dict[str, NDArray[Any]], *, source: object) -> None:
        # The hierarchy is used only when it was built from exactly this graph, by this version.
        if str(extra.get("derived/overlay_fingerprint", "")) != self._overlay_fingerprint():
            msg = (
                f"{source!r}: the saved cell overlay does not match the saved graph (the file "
                "was edited or written by another version); build it again (build_overlay)"
            )
            raise NetworkLoadError(msg, source=source)
        try:
            ov = restore(CellOverlay, "derived/_overlay", extra, (CellOverlay,))
            missing = [name for name in CellOverlay.FIELDS if name not in vars(ov)]
            if missing:
                raise KeyError(", ".join(missing))
            fits = ov.cell_of.shape == (self.n_nodes,) and ov.perm.shape == (self.n_nodes,)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            msg = f"{source!r}: the saved cell overlay is incomplete ({exc})"
            raise NetworkLoadError(msg, source=source) from None
        if not fits:
            msg = f"{source!r}: the saved cell overlay does not fit the graph"
            raise NetworkLoadError(msg, source=source)
        self.__dict__["overlay"] = ov

    def to_networkx(self) -> nx.MultiDiGraph:
        """Return the network as an osmnx-style ``MultiDiGraph`` keyed by :attr:`node_ids`.

        Nodes get ``y``, ``x``; edges ``length``, ``travel_time``, ``highway`` (when known)
        and ``geometry`` (when the edge has shape points); the graph ``crs="epsg:4326"``.

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.001],
        ...                         u=[0], v=[1], length_m=[111.2], travel_time_s=[10.0])
        >>> G = RoadNetwork.from_arrays(a).to_networkx()
        >>> G.edges[1, 2, 0]["travel_time"], G.graph["crs"]
        (10.0, 'epsg:4326')
        """
        return arrays_to_networkx(self._arrays)

    # --- properties ---------------------------------------------------------------------

    @property
    def arrays(self) -> EdgeArrays:
        """The network's arrays (treat as read-only)."""
        return self._arrays

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return self._arrays.n_nodes

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return self._arrays.n_edges

    @property
    def meta(self) -> dict[str, Any]:
        """Provenance (source, profile, dropped counts...), a copy."""
        return dict(self._arrays.meta)

    @property
    def dropped_nodes(self) -> int:
        """Nodes dropped by ``largest_component`` when the network was built."""
        return int(self._arrays.meta.get("dropped_nodes", 0))

    @property
    def dropped_edges(self) -> int:
        """Edges dropped by ``largest_component`` when the network was built."""
        return int(self._arrays.meta.get("dropped_edges", 0))

    @property
    def node_ids(self) -> NDArray[np.int64]:
        """The source's node id of each dense node index."""
        return self._arrays.node_id

    @property
    def node_lat(self) -> NDArray[np.float64]:
        """Latitude of each node."""
        return self._arrays.lat

    @property
    def node_lng(self) -> NDArray[np.float64]:
        """Longitude of each node."""
        return self._arrays.lng

    @property
    def edge_u(self) -> NDArray[np.int64]:
        """Tail node of each edge."""
        return self._arrays.u

    @property
    def edge_v(self) -> NDArray[np.int64]:
        """Head node of each edge."""
        return self._arrays.v

    @property
    def edge_length_m(self) -> NDArray[np.float64]:
        """Length of each edge."""
        return self._arrays.length_m

    @property
    def edge_travel_time_s(self) -> NDArray[np.float64]:
        """Travel time of each edge."""
        return self._arrays.travel_time_s

    @cached_property
    def edge_twin(self) -> NDArray[np.int64]:
        """The twin of each edge (the same two-way road the other way), ``-1`` where none.

        Twins share their shape, reversed; one-way roads and divided carriageways (separate
        geometries) have none. A point on a two-way road is on both twins.

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[1, 2, 3], lat=[0.0, 0.0, 0.0],
        ...                         lng=[0.0, 0.001, 0.002], u=[0, 1, 1], v=[1, 0, 2],
        ...                         length_m=[111.2, 111.2, 111.2],
        ...                         travel_time_s=[10.0, 10.0, 10.0])
        >>> RoadNetwork.from_arrays(a).edge_twin.tolist()
        [1, 0, -1]
        """
        out = twin_edges(self._arrays)
        out.flags.writeable = False
        return out

    def node_latlng(self, node: int) -> tuple[float, float]:
        """Return ``(lat, lng)`` of a dense node index."""
        i = check_node(node, self.n_nodes)
        return float(self._arrays.lat[i]), float(self._arrays.lng[i])

    @cached_property
    def _id_order(self) -> NDArray[np.intp]:
        return np.argsort(self._arrays.node_id, kind="stable")

    def node_index(self, node_id: int) -> int:
        """Return the dense index of a source node id (the one id-to-index translation).

        Raises
        ------
        InvalidParameterError
            When the network has no such node id.

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[70, 40], lat=[0.0, 0.0], lng=[0.0, 0.001],
        ...                         u=[0], v=[1], length_m=[111.2], travel_time_s=[10.0])
        >>> RoadNetwork.from_arrays(a).node_index(40)
        1
        """
        ids = self._arrays.node_id
        order = self._id_order
        try:
            key = np.int64(node_id)
        except (TypeError, ValueError, OverflowError):
            key = None
        if key is not None:
            k = int(np.searchsorted(ids, key, sorter=order))
            if k < order.shape[0] and ids[order[k]] == key and key == node_id:
                return int(order[k])
        msg = f"the network has no node with id {node_id!r}"
        raise InvalidParameterError(msg, name="node_id", value=node_id)

    @cached_property
    def max_speed_mps(self) -> float:
        """The fastest edge speed, ``max(length / travel_time)``, m/s (a lower-bound helper).

        ``inf`` when some edge of positive length takes no time.
        """
        ln = self._arrays.length_m
        tt = self._arrays.travel_time_s
        if ((tt == 0) & (ln > 0)).any():
            return math.inf
        pos = tt > 0
        with np.errstate(over="ignore"):  # a subnormal travel time: inf is the right bound
            return float((ln[pos] / tt[pos]).max()) if pos.any() else 0.0

    @cached_property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(min_lat, min_lng, max_lat, max_lng)`` of every node and shape point."""
        a = self._arrays
        lats = np.concatenate((a.lat, a.geom_lat))
        lngs = np.concatenate((a.lng, a.geom_lng))
        return float(lats.min()), float(lngs.min()), float(lats.max()), float(lngs.max())

    # --- lazily built structures --------------------------------------------------------

    @cached_property
    def _graph(self) -> CSRGraph:
        a = self._arrays
        return CSRGraph(a.n_nodes, a.u, a.v, a.travel_time_s)

    @cached_property
    def _nodes(self) -> NodeGrid:
        return NodeGrid(self._arrays.lat, self._arrays.lng)

    @cached_property
    def _segments(self) -> SegmentIndex:
        a = self._arrays
        return SegmentIndex(
            a.lat, a.lng, a.u, a.v, a.geom_offsets, a.geom_lat, a.geom_lng, twin=self.edge_twin
        )

    # --- the hierarchy for long searches -------------------------------------------------

    overlay: CellOverlay | None = None
    """The cell overlay long searches use (:meth:`build_overlay`), ``None`` until built."""

    def build_overlay(
        self, *, cell_nodes: int = 1500, resolution: int | None = None, progress: bool = False
    ) -> CellOverlay:
        """Build the cell overlay that makes long rankings cheap, and keep it.

        Built once per network (seconds to a minute per million nodes here) and
        saved with it by :meth:`save`; responders moving never touch it. Rankings whose
        search would settle many nodes (a rural incident whose helpers are far) then run
        through it, with the same results (see :mod:`~kayou_dispatch.network.overlay`),
        where it pays: when its graph has at most a quarter of the roads' edges (real road
        networks; not street grids, whose cells' cliques outgrow the grid).

        Parameters
        ----------
        cell_nodes
            About how many nodes a cell holds (picks an H3 resolution).
        resolution
            The cells' H3 resolution instead (0-15).
        progress
            Show a progress bar.

        Raises
        ------
        InvalidParameterError
            When ``cell_nodes`` or ``resolution`` is out of range.

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[1, 2, 3], lat=[0.0, 0.0, 0.0],
        ...                         lng=[0.0, 0.05, 0.1], u=[0, 1], v=[1, 2],
        ...                         length_m=[5560.0] * 2, travel_time_s=[300.0] * 2)
        >>> net = RoadNetwork.from_arrays(a)
        >>> net.build_overlay(resolution=6).n_cells >= 2
        True
        """
        ov = CellOverlay(
            self._arrays, self._graph, cell_nodes=cell_nodes, resolution=resolution,
            progress=progress,
        )
        self.__dict__["overlay"] = ov
        return ov

    def _overlay_tree(self, destination: Snap, limit_s: float) -> OverlayTree:
        # The overlay's answer to tree_to_snapped (only with an overlay, a checked snap).
        assert self.overlay is not None
        return OverlayTree(
            self._arrays, self._graph, self.edge_twin, self.overlay, destination, limit_s=limit_s
        )

    # --- snapping -----------------------------------------------------------------------

    def snap_many(
        self,
        lats: ArrayLike,
        lngs: ArrayLike,
        *,
        headings: ArrayLike | None = None,
        max_distance_m: float = DEFAULT_MAX_DISTANCE_M,
        measure_far: bool = True,
    ) -> SnapArrays:
        """Snap many points at once (vectorised); off-network rows are marked, not raised.

        Parameters
        ----------
        lats, lngs
            Points, WGS-84 degrees.
        headings
            Optional travel direction per point, degrees clockwise from north; a row then
            only snaps to edges whose bearing is within 60 degrees of it.
        max_distance_m
            Rows farther than this from every qualifying road get ``edge == -1``.
        measure_far
            Whether such a row's ``distance_m`` is its nearest qualifying road's (True), or
            ``inf`` once a bound proves it off the network (False: much faster for points
            far from every road, such as trucks on minor roads off a main-road network).

        Returns
        -------
        SnapArrays
            ``edge``, ``fraction``, ``distance_m``, ``lat``, ``lng``, ``node`` arrays.

        Raises
        ------
        InvalidCoordinateError
            When any point is not a WGS-84 coordinate.
        InvalidParameterError
            For bad ``headings`` or ``max_distance_m``.

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0], v=[1], length_m=[1112.0], travel_time_s=[60.0])
        >>> s = RoadNetwork.from_arrays(a).snap_many([0.0001, 0.5], [0.005, 0.005])
        >>> s.edge.tolist(), s.fraction.round(2).tolist()[:1], s.distance_m.round(1).tolist()[:1]
        ([0, -1], [0.5], [11.1])
        """
        la, ln = validate_latlng_array(lats, lngs)
        hd = check_headings(headings, la.shape[0])
        limit = check_max_distance_m(max_distance_m)
        if la.shape[0] == 0:
            e = np.zeros(0, dtype=np.int64)
            f = np.zeros(0)
            return SnapArrays(e, f, f.copy(), f.copy(), f.copy(), e.copy(), e.copy())
        res = self._segments.snap_many(la, ln, hd, limit, measure_far=bool(measure_far))
        return self._with_twins(res, hd is not None)

    def _with_twins(self, res: SnapArrays, headed: bool) -> SnapArrays:
        # Without a heading, a point on a two-way road may leave along either direction.
        if headed:
            return res
        free = (res.edge >= 0) & (res.node < 0)
        twin = np.where(free, self.edge_twin[np.where(free, res.edge, 0)], -1)
        return res._replace(twin=twin.astype(np.int64))

    def snap(
        self,
        lat: float,
        lng: float,
        *,
        heading: float | None = None,
        max_distance_m: float = DEFAULT_MAX_DISTANCE_M,
    ) -> Snap:
        """Snap a point to the nearest road edge.

        Parameters
        ----------
        lat, lng
            The point, WGS-84 degrees.
        heading
            Optional travel direction, degrees clockwise from north: only edges whose
            bearing at the snapped point is within 60 degrees of it count, so a truck is not
            snapped to the opposite carriageway.
        max_distance_m
            How far the nearest (qualifying) road may be.

        Raises
        ------
        InvalidCoordinateError
            When the point is not a WGS-84 coordinate.
        InvalidParameterError
            For a bad ``heading`` or ``max_distance_m``.
        OffNetworkError
            When no qualifying road is within ``max_distance_m``.

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0], v=[1], length_m=[1112.0], travel_time_s=[60.0])
        >>> s = RoadNetwork.from_arrays(a).snap(0.0001, 0.0025)
        >>> s.edge, round(s.fraction, 3), round(s.distance_m, 1), s.node
        (0, 0.25, 11.1, None)
        """
        la, ln = validate_latlng(lat, lng)
        h = check_heading(heading)
        limit = check_max_distance_m(max_distance_m)
        res = self._segments.snap_many(
            np.array([la]), np.array([ln]), None if h is None else np.array([h]), limit
        )
        return self._snap_row(self._with_twins(res, h is not None), 0, la, ln, limit, what="point")

    @staticmethod
    def _snap_row(
        res: SnapArrays, i: int, lat: float, lng: float, limit: float, *, what: str
    ) -> Snap:
        if res.edge[i] < 0:
            d = float(res.distance_m[i])
            msg = (
                f"{what} ({lat}, {lng}) is {d:.0f} m from the nearest qualifying road; "
                f"max_distance_m is {limit:g}"
            )
            raise OffNetworkError(msg, lat=lat, lng=lng, distance_m=d, max_distance_m=limit)
        node = int(res.node[i])
        twin = int(res.twin[i])
        return Snap(
            edge=int(res.edge[i]),
            fraction=float(res.fraction[i]),
            distance_m=float(res.distance_m[i]),
            lat=float(res.lat[i]),
            lng=float(res.lng[i]),
            node=node if node >= 0 else None,
            twin=twin if twin >= 0 else None,
        )

    # --- node-level shortest paths ------------------------------------------------------

    def shortest_times_from(self, node: int) -> NDArray[np.float64]:
        """Return the fastest time from dense node ``node`` to every node (``inf``: none).

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[1, 2, 3], lat=[0.0, 0.0, 0.0],
        ...                         lng=[0.0, 0.001, 0.002], u=[0, 1], v=[1, 2],
        ...                         length_m=[111.2, 111.2], travel_time_s=[10.0, 5.0])
        >>> RoadNetwork.from_arrays(a).shortest_times_from(1).tolist()
        [inf, 0.0, 5.0]
        """
        return self._graph.times_from(check_node(node, self.n_nodes))

    def shortest_times_to(self, node: int) -> NDArray[np.float64]:
        """Return the fastest time from every node to dense node ``node`` (``inf``: none).

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[1, 2, 3], lat=[0.0, 0.0, 0.0],
        ...                         lng=[0.0, 0.001, 0.002], u=[0, 1], v=[1, 2],
        ...                         length_m=[111.2, 111.2], travel_time_s=[10.0, 5.0])
        >>> RoadNetwork.from_arrays(a).shortest_times_to(1).tolist()
        [10.0, 0.0, inf]
        """
        return self._graph.times_to(check_node(node, self.n_nodes))

    def shortest_path(self, source: int, target: int) -> list[int]:
        """Return the dense nodes of a fastest path, ``[]`` when ``target`` is unreachable.

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[1, 2, 3], lat=[0.0, 0.0, 0.0],
        ...                         lng=[0.0, 0.001, 0.002], u=[0, 1], v=[1, 2],
        ...                         length_m=[111.2, 111.2], travel_time_s=[10.0, 5.0])
        >>> net = RoadNetwork.from_arrays(a)
        >>> net.shortest_path(0, 2), net.shortest_path(2, 0)
        ([0, 1, 2], [])
        """
        s = check_node(source, self.n_nodes, name="source")
        t = check_node(target, self.n_nodes, name="target")
        return self._graph.path_nodes(s, t)

    # --- point-to-point travel times ----------------------------------------------------

    def travel_time(
        self,
        lat1: float,
        lng1: float,
        lat2: float,
        lng2: float,
        *,
        heading: float | None = None,
    ) -> float:
        """Return the fastest driving time from point 1 to point 2, seconds.

        Both points are snapped (within 1000 m); the partial edges at both ends count.
        ``heading`` (degrees clockwise from north) applies to the start point.

        A point on a two-way road lies on both of its directed edges (twins, see
        :attr:`edge_twin`): the trip may reach point 2 along either, and may leave point 1
        along either unless a ``heading`` picks one; a snap at a node is free to use any of
        its edges.

        Returns
        -------
        float
            Seconds, ``math.inf`` when point 2 cannot be reached from point 1.

        Raises
        ------
        InvalidCoordinateError, InvalidParameterError, OffNetworkError
            For bad coordinates, a bad heading, or a point off the network.

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0], v=[1], length_m=[1112.0], travel_time_s=[60.0])
        >>> net = RoadNetwork.from_arrays(a)
        >>> net.travel_time(0.0, 0.0025, 0.0, 0.0075), net.travel_time(0.0, 0.0075, 0.0, 0.0025)
        (30.0, inf)
        """
        start = self.snap(lat1, lng1, heading=heading)
        end = self.snap(lat2, lng2)
        return float(self.tree_to_snapped(end).times(snap_row(start))[0])

    def travel_times_to(
        self,
        lat: float,
        lng: float,
        origin_lats: ArrayLike,
        origin_lngs: ArrayLike,
        *,
        origin_headings: ArrayLike | None = None,
    ) -> NDArray[np.float64]:
        """Return the fastest driving time from each origin to one destination, seconds.

        One Dijkstra search on the reversed graph from the destination's snap serves every
        origin; partial edges at both ends count as in :meth:`travel_time`.

        Parameters
        ----------
        lat, lng
            The destination.
        origin_lats, origin_lngs
            The origins.
        origin_headings
            Optional travel direction of each origin (see :meth:`snap`).

        Returns
        -------
        numpy.ndarray
            float64 seconds per origin, ``inf`` where the destination is unreachable.

        Raises
        ------
        InvalidCoordinateError
            For a bad destination or origin coordinate.
        InvalidParameterError
            For bad headings.
        OffNetworkError
            When the destination, or any origin, is more than 1000 m from every
            (qualifying) road; for origins the message names the first such row. Use
            :meth:`snap_many` first to find and leave out such origins.

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0], v=[1], length_m=[1112.0], travel_time_s=[60.0])
        >>> net = RoadNetwork.from_arrays(a)
        >>> net.travel_times_to(0.0, 0.0075, [0.0, 0.0], [0.0025, 0.009]).tolist()
        [30.0, inf]
        """
        dest = self.snap(lat, lng)
        origins = self.snap_many(origin_lats, origin_lngs, headings=origin_headings)
        bad = np.flatnonzero(origins.edge < 0)
        if bad.size:
            i = int(bad[0])
            la, ln = validate_latlng_array(origin_lats, origin_lngs)
            d = float(origins.distance_m[i])
            msg = (
                f"{bad.size} origin(s) are more than {DEFAULT_MAX_DISTANCE_M:g} m from every "
                "qualifying road; "
                f"first is row {i} ({la[i]}, {ln[i]}) at {d:.0f} m"
            )
            raise OffNetworkError(
                msg,
                lat=float(la[i]),
                lng=float(ln[i]),
                distance_m=d,
                max_distance_m=DEFAULT_MAX_DISTANCE_M,
            )
        return self.tree_to_snapped(dest).times(origins)

    def travel_times_to_snapped(
        self, destination: Snap, origins: SnapArrays, *, limit_s: float = math.inf
    ) -> NDArray[np.float64]:
        """Return :meth:`travel_times_to` for points snapped already (one search, no snapping).

        For callers that snap each position once (when it is reported) and rank many times.

        Parameters
        ----------
        destination
            From :meth:`snap`.
        origins
            From :meth:`snap_many`; every row must be on the network (``edge >= 0``).
        limit_s
            Search only this far: origins whose time is ``<= limit_s`` get it exactly, the
            others ``inf``. A small limit makes the search far cheaper (it stops there).

        Raises
        ------
        InvalidParameterError
            When the snaps are not from this network's snapping, a row is off the network,
            or ``limit_s`` is negative or NaN.

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0], v=[1], length_m=[1112.0], travel_time_s=[60.0])
        >>> net = RoadNetwork.from_arrays(a)
        >>> trucks = net.snap_many([0.0, 0.0], [0.0025, 0.005])
        >>> net.travel_times_to_snapped(net.snap(0.0, 0.0075), trucks).tolist()
        [30.0, 15.0]
        >>> net.travel_times_to_snapped(net.snap(0.0, 0.0075), trucks, limit_s=20.0).tolist()
        [inf, 15.0]
        """
        self._check_origins(origins)
        return self.tree_to_snapped(destination, limit_s=limit_s).times(origins)

    def _check_origins(self, origins: SnapArrays) -> None:
        if not isinstance(origins, SnapArrays) or origins.edge.ndim != 1:
            msg = "origins must be the SnapArrays returned by this network's snap_many()"
            raise InvalidParameterError(msg, name="origins", value=type(origins).__name__)
        bad = np.flatnonzero(
            (origins.edge < 0)
            | (origins.edge >= self.n_edges)
            | (origins.twin < -1)
            | (origins.twin >= self.n_edges)
        )
        if bad.size:
            msg = (
                f"{bad.size} origin row(s) are not on the network (edge -1 or unknown), "
                f"first is row {int(bad[0])}; leave them out before ranking"
            )
            raise InvalidParameterError(msg, name="origins", value=int(bad[0]))

    def tree_to_snapped(
        self, destination: Snap, *, limit_s: float = math.inf, predecessors: bool = False
    ) -> DestinationTree:
        """Search once towards a snapped destination; query times and routes from it.

        The building block of :meth:`travel_times_to_snapped` and ranking: one reverse
        Dijkstra search (bounded by ``limit_s``) whose :meth:`DestinationTree.times` gives
        exact times from any snapped origins and, with ``predecessors``,
        :meth:`DestinationTree.legs` / :meth:`DestinationTree.distances_m` their routes.

        Raises
        ------
        InvalidParameterError
            When ``destination`` is not a snap of this network, or ``limit_s`` is negative
            or NaN.

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0], v=[1], length_m=[1112.0], travel_time_s=[60.0])
        >>> net = RoadNetwork.from_arrays(a)
        >>> tree = net.tree_to_snapped(net.snap(0.0, 0.0075), predecessors=True)
        >>> trucks = net.snap_many([0.0], [0.0025])
        >>> tree.times(trucks).tolist(), tree.distances_m(tree.legs(trucks, [0])).round(1).tolist()
        ([30.0], [556.0])
        """
        if not isinstance(destination, Snap) or not 0 <= destination.edge < self.n_edges:
            msg = "destination must be a Snap returned by this network's snap()"
            raise InvalidParameterError(msg, name="destination", value=destination)
        try:
            limit = float(limit_s)
        except (TypeError, ValueError):
            limit = math.nan
        if not limit >= 0.0:
            msg = f"limit_s must be a number of seconds >= 0 (inf allowed), got {limit_s!r}"
            raise InvalidParameterError(msg, name="limit_s", value=limit_s)
        return DestinationTree(
            self._arrays,
            self._graph,
            self.edge_twin,
            destination,
            limit_s=limit,
            predecessors=predecessors,
            within=self._search_area(destination, limit),
        )

    def _search_area(self, destination: Snap, limit_s: float) -> NDArray[np.int64] | None:
        # The nodes a search bounded at limit_s can settle (a superset, see _nodegrid), when
        # they are few enough that searching their subgraph beats searching the whole graph
        # (whose cost grows with the network, not with the area searched).
        n = self.n_nodes
        vmax = self.max_speed_mps
        if not (limit_s < math.inf and n >= _LOCAL_MIN_NODES and 0.0 < vmax < math.inf):
            return None
        radius = limit_s * vmax * (1.0 + 1e-9) + 1.0
        if not radius < 1e7:  # a quarter of the way round the earth: everything
            return None
        grid = self._nodes
        if grid.count_within(destination.lat, destination.lng, radius) * _LOCAL_SHARE > n:
            return None
        return grid.within(destination.lat, destination.lng, radius)

    def route_snapped(self, start: Snap, end: Snap) -> Route:
        """Return :meth:`route` between points snapped already.

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[1, 2], lat=[0.0, 0.0], lng=[0.0, 0.01],
        ...                         u=[0], v=[1], length_m=[1112.0], travel_time_s=[60.0])
        >>> net = RoadNetwork.from_arrays(a)
        >>> net.route_snapped(net.snap(0.0, 0.0025), net.snap(0.0, 0.0075)).eta_s
        30.0
        """
        if not isinstance(start, Snap) or not 0 <= start.edge < self.n_edges:
            msg = "start must be a Snap returned by this network's snap()"
            raise InvalidParameterError(msg, name="start", value=start)
        tree = self.tree_to_snapped(end, predecessors=True)
        return tree.route(start, self._segments)

    def route(
        self,
        lat1: float,
        lng1: float,
        lat2: float,
        lng2: float,
        *,
        heading: float | None = None,
    ) -> Route:
        """Return the fastest route from point 1 to point 2 with its shape.

        Returns
        -------
        Route
            ``(eta_s, distance_m, coords)``; ``coords`` runs from the start's snapped point
            through every shape point to the end's snapped point. When there is no route:
            ``Route(inf, inf, ())``.

        Raises
        ------
        InvalidCoordinateError, InvalidParameterError, OffNetworkError
            As :meth:`travel_time`.

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[1, 2, 3], lat=[0.0, 0.0, 0.001],
        ...                         lng=[0.0, 0.001, 0.001], u=[0, 1], v=[1, 2],
        ...                         length_m=[111.2, 111.2], travel_time_s=[10.0, 10.0])
        >>> r = RoadNetwork.from_arrays(a).route(0.0, 0.0005, 0.0005, 0.001)
        >>> r.eta_s, round(r.distance_m, 1), len(r.coords)
        (10.0, 111.2, 3)
        """
        start = self.snap(lat1, lng1, heading=heading)
        end = self.snap(lat2, lng2)
        return self.route_snapped(start, end)

    # The grammar's names: units in every name that returns a quantity (seconds here).
    # Each is the method above it names, the same function: the old names keep working.
    #: :meth:`travel_time` (its old name), seconds.
    travel_time_s = travel_time
    #: :meth:`travel_times_to` (its old name), seconds.
    travel_times_to_s = travel_times_to
    #: :meth:`travel_times_to_snapped` (its old name), seconds.
    travel_times_to_snapped_s = travel_times_to_snapped
    #: :meth:`shortest_times_from` (its old name), seconds.
    shortest_times_from_s = shortest_times_from
    #: :meth:`shortest_times_to` (its old name), seconds.
    shortest_times_to_s = shortest_times_to

    def __repr__(self) -> str:
        src = self._arrays.meta.get("source", "arrays")
        return f"<RoadNetwork {self.n_nodes} nodes, {self.n_edges} edges from {src}>"


def _frozen(arrays: EdgeArrays, meta: dict[str, Any]) -> EdgeArrays:
    # Read-only views (no copy): the lazily built indexes must not go stale under a caller.
    views = {}
    for name in ARRAY_FIELDS:
        view = getattr(arrays, name).view()
        view.flags.writeable = False
        views[name] = view
    return EdgeArrays(**views, meta=meta)


_PRIVATE = object()
