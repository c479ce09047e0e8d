"""Hold a road network and answer snapping and travel-time queries on it.

:class:`RoadNetwork` is built once from :class:`~kayou_dispatch.network.EdgeArrays` (every
source goes through :meth:`RoadNetwork.from_arrays`) and queried many times. Inside, nodes are
dense indices ``0..n-1``; the source's node ids live in :attr:`RoadNetwork.node_ids` and are
translated only by :meth:`RoadNetwork.node_index`. Derived structures (sparse graphs, the
spatial index) are built lazily on first use, so loading a saved network stays fast.

This module holds the class with its construction, persistence, properties and lazily
built structures (and ``_search_area``, the subgraph a bounded search covers); its snapping
methods come from ``_snapping`` and its searches and routes from ``_routing`` (mixins it
inherits: one job per module), the largest component from ``_components``. Each method is
a few lines that delegate to the modules that do the work (``paths``, ``trips``, ``snap``,
``overlay``, ``_persist``, ``osm``). It stays a little over 600 lines for the numpydoc and
doctests of the public constructors, properties and the overlay.
"""

from __future__ import annotations

import math
import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.errors import InvalidParameterError, NetworkLoadError
from kayou_dispatch.network._arrays import (
    ARRAY_FIELDS,
    FORMAT_VERSION,
    EdgeArrays,
    load_saved,
    save_arrays,
)
from kayou_dispatch.network._components import largest_component as _largest_component
from kayou_dispatch.network._grid import SegmentGrid
from kayou_dispatch.network._nodegrid import NodeGrid
from kayou_dispatch.network._nx import arrays_from_networkx, arrays_to_networkx
from kayou_dispatch.network._persist import dump, fingerprint, narrow, restore
from kayou_dispatch.network._routing import RouteMethods
from kayou_dispatch.network._snapping import DEFAULT_MAX_DISTANCE_M
from kayou_dispatch.network._twins import twin_edges
from kayou_dispatch.network._validate import check_node
from kayou_dispatch.network.hierarchy import HIERARCHY_VERSION, ContractionHierarchy
from kayou_dispatch.network.hierarchy_tree import HierarchyTree
from kayou_dispatch.network.overlay import OVERLAY_VERSION, CellOverlay
from kayou_dispatch.network.overlay_tree import OverlayTree
from kayou_dispatch.network.paths import CSRGraph
from kayou_dispatch.network.profiles import Profile, get_profile
from kayou_dispatch.network.snap import SegmentIndex, Snap

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["DEFAULT_MAX_DISTANCE_M", "RoadNetwork"]

# Bounded searches run on the subgraph of the nodes within reach instead of the whole graph
# when that is cheaper: scipy's search initialises every node (about 3 ns each), while
# cutting out a subgraph costs about 40 times that per node cut out (measured on Lower
# Saxony, 94k nodes). So: networks this large, and at most 1 / _LOCAL_SHARE of them in reach.
_LOCAL_MIN_NODES = 100_000
_LOCAL_SHARE = 40


class RoadNetwork(RouteMethods):
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
        if self.hierarchy is not None:
            out["derived/hierarchy_fingerprint"] = np.array(self._hierarchy_fingerprint())
            dump(self.hierarchy, "derived/_hierarchy", out, (ContractionHierarchy,))
        return out

    def _overlay_fingerprint(self) -> str:
        return fingerprint(self._graph_arrays(), FORMAT_VERSION) + f"/overlay{OVERLAY_VERSION}"

    def _hierarchy_fingerprint(self) -> str:
        return fingerprint(self._graph_arrays(), FORMAT_VERSION) + f"/ch{HIERARCHY_VERSION}"

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
        if "derived/_hierarchy/__class__" in extra:
            self._restore_hierarchy(extra, source=source)

    def _restore_hierarchy(self, extra: dict[str, NDArray[Any]], *, source: object) -> None:
        # Used only when built from exactly this graph, by this version, and whole.
        what = "the saved contraction hierarchy"
        if str(extra.get("derived/hierarchy_fingerprint", "")) != self._hierarchy_fingerprint():
            msg = (
                f"{source!r}: {what} does not match the saved graph (the file was edited or "
                "written by another version); build it again (build_hierarchy)"
            )
            raise NetworkLoadError(msg, source=source)
        try:
            ch = restore(ContractionHierarchy, "derived/_hierarchy", extra, (ContractionHierarchy,))
            missing = [name for name in ContractionHierarchy.FIELDS if name not in vars(ch)]
            if missing:
                raise KeyError(", ".join(missing))
            fits = ch.fits(self.n_nodes)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            msg = f"{source!r}: {what} is incomplete ({exc})"
            raise NetworkLoadError(msg, source=source) from None
        if not fits:
            msg = f"{source!r}: {what} does not fit the graph"
            raise NetworkLoadError(msg, source=source)
        self.__dict__["hierarchy"] = ch

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
        out = narrow(twin_edges(self._arrays))  # int32 below 2**31 edges, as saved
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

    hierarchy: ContractionHierarchy | None = None
    """The contraction hierarchy long rankings use (:meth:`build_hierarchy`), or ``None``."""

    def build_hierarchy(
        self, *, compiled: bool | None = None, progress: bool = False
    ) -> ContractionHierarchy:
        """Build the contraction hierarchy that makes long rankings cheap, and keep it.

        Built once per network and saved with it by :meth:`save`; responders moving never
        touch it. Rankings whose search would settle many nodes (a rural incident whose
        helpers are far) then run through it, with the same results (see
        :mod:`~kayou_dispatch.network.hierarchy`).

        Parameters
        ----------
        compiled
            Build with numba (``pip install "kayou-dispatch[fast]"``; about a minute per
            million nodes here); ``False``: plain Python, the same hierarchy, about a
            hundred times slower; ``None``: numba when installed.
        progress
            Say how long it took, on standard error.

        Examples
        --------
        >>> a = EdgeArrays.straight(node_id=[1, 2, 3], lat=[0.0, 0.0, 0.0],
        ...                         lng=[0.0, 0.05, 0.1], u=[0, 1, 1, 2], v=[1, 2, 0, 1],
        ...                         length_m=[5560.0] * 4, travel_time_s=[300.0] * 4)
        >>> RoadNetwork.from_arrays(a).build_hierarchy(compiled=False).n_arcs
        4
        """
        ch = ContractionHierarchy(self._arrays, compiled=compiled, progress=progress)
        self.__dict__["hierarchy"] = ch
        return ch

    def _hierarchy_tree(
        self, destination: Snap, marks: NDArray[np.uint8], *, want: int, limit_s: float
    ) -> HierarchyTree:
        # The hierarchy's answer to tree_to_snapped (only with a hierarchy, a checked snap).
        assert self.hierarchy is not None
        return HierarchyTree(
            self._arrays, self._graph, self.edge_twin, self.hierarchy, marks, destination,
            want=want, limit_s=limit_s,
        )  # fmt: skip

    def _overlay_tree(self, destination: Snap, limit_s: float) -> OverlayTree:
        # The overlay's answer to tree_to_snapped (only with an overlay, a checked snap).
        assert self.overlay is not None
        return OverlayTree(
            self._arrays, self._graph, self.edge_twin, self.overlay, destination, limit_s=limit_s
        )

    # --- the area a bounded search covers ----------------------------------------------

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
