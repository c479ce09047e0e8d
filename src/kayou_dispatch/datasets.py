"""Load the bundled real road networks; build synthetic road regions at any scale.

:func:`load_network` reads a network shipped in the package: the Lower Saxony region by
default, central Helsinki by name (both OpenStreetMap, ODbL).

:func:`synthetic_region_arrays` lays out two cities joined by a divided expressway, with
national roads between and around them, centred near 23°N 113.5°E (between Guangzhou and
Dongguan), in WGS-84. It is meant for scale work and tests where real extracts are too
small or absent::

       N3 (primary, arcing north)
    +----------+                        +----------+
    |  city A  |==== N2 (trunk) ===+====|  city B  |       street grids, 150 m blocks
    |          |                   |    |          |       (arterials every 8th street,
    +--+----+--+                   |    +--+----+--+        one-way residential streets,
       |    |                      |       |    |           missing blocks)
    ===I1===I2=====[S]=============I3==[S]=I4===I5===     expressway: two one-way
       |    |                      |       |    |          carriageways 30 m apart,
    ---+----+---- N1 (trunk) ------+-------+----+---       diamond interchanges I1..I5,
                                                           service areas [S], one per side

Every node lies in one strongly connected component (fringes that one-way streets and
missing blocks cut off are pruned), so ``largest_component`` changes nothing.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from kayou_dispatch._random import as_rng
from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.geo import EARTH_RADIUS_M, haversine_m_array
from kayou_dispatch.network._arrays import EdgeArrays
from kayou_dispatch.network._graph import RoadNetwork
from kayou_dispatch.network.profiles import HIGHWAY_CLASSES, get_profile

__all__ = [
    "BUNDLED_NETWORKS",
    "CENTRE_LATLNG",
    "DEFAULT_NETWORK",
    "load_network",
    "synthetic_region",
    "synthetic_region_arrays",
]

#: Centre of every synthetic region, WGS-84 ``(lat, lng)``: between Guangzhou and Dongguan.
CENTRE_LATLNG = (23.0, 113.5)

_M_PER_DEG_LAT = math.pi * EARTH_RADIUS_M / 180.0
_M_PER_DEG_LNG = _M_PER_DEG_LAT * math.cos(math.radians(CENTRE_LATLNG[0]))
_MIN_SIZE = 2_000
_MAX_SIZE = 5_000_000
_MIN_SIDE = 17  # streets per city side: columns 8 and 16 carry the interchanges
_BLOCK_M = 150.0
_SUPER = 8  # an arterial every 8th street
_JITTER_M = 12.0
_HOLE_P = 0.35  # share of 8x8 superblocks with a missing rectangle of blocks
# Share of city nodes lost to missing blocks and pruned fringes, measured (0.058-0.060 for
# large cities; less for small ones, whose edge superblocks are partly outside the city).
_EXPECTED_LOSS = 0.059
_ROAD_STEP_M = 300.0
_EXPRESSWAY_STEP_M = 250.0
_RAMP_STEP_M = 100.0
_RAMP_M = 400.0  # distance along the carriageway from an interchange to its ramps
_SERVICE_RAMP_M = 250.0
_CARRIAGEWAY_M = 15.0  # each carriageway's offset from the centre line
_BRIDGE_M = 80.0  # crossing road's nodes either side of the expressway

_H = {name: i for i, name in enumerate(HIGHWAY_CLASSES)}


class _Builder:
    """Accumulate nodes (local metres: x east, y north) and directed edges."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.n = 0
        self._starts: list[int] = []
        self._x: list[NDArray[np.float64]] = []
        self._y: list[NDArray[np.float64]] = []
        self._u: list[NDArray[np.int64]] = []
        self._v: list[NDArray[np.int64]] = []
        self._hw: list[NDArray[np.int8]] = []

    def add_nodes(self, x: Any, y: Any) -> NDArray[np.int64]:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        idx = np.arange(self.n, self.n + x.size, dtype=np.int64)
        self._starts.append(self.n)
        self._x.append(x)
        self._y.append(y)
        self.n += x.size
        return idx

    def add_point(self, x: float, y: float) -> int:
        return int(self.add_nodes([x], [y])[0])

    def xy(self, i: int) -> tuple[float, float]:
        k = bisect.bisect_right(self._starts, i) - 1
        j = i - self._starts[k]
        return float(self._x[k][j]), float(self._y[k][j])

    def add_edges(self, u: Any, v: Any, highway: Any, two_way: Any) -> None:
        u = np.asarray(u, dtype=np.int64)
        v = np.asarray(v, dtype=np.int64)
        hw = np.broadcast_to(np.asarray(highway, dtype=np.int8), u.shape)
        back = np.broadcast_to(np.asarray(two_way, dtype=bool), u.shape)
        self._u += [u, v[back]]
        self._v += [v, u[back]]
        self._hw += [hw, hw[back]]

    def path(
        self,
        a: int,
        b: int,
        highway: str,
        *,
        step_m: float = _ROAD_STEP_M,
        two_way: bool = True,
        bend_m: float = 0.0,
    ) -> None:
        """Join nodes ``a`` and ``b`` by a road with shape nodes about ``step_m`` apart.

        The road bows ``bend_m`` to the left of ``a -> b`` and wobbles a little.
        """
        (xa, ya), (xb, yb) = self.xy(a), self.xy(b)
        dx, dy = xb - xa, yb - ya
        dist = math.hypot(dx, dy)
        k = max(0, math.ceil(dist / step_m) - 1)
        t = np.arange(1, k + 1) / (k + 1)
        nx, ny = (-dy / dist, dx / dist) if dist > 0 else (0.0, 0.0)
        off = bend_m * np.sin(np.pi * t) + self.rng.normal(0.0, 0.04 * step_m, k)
        mid = self.add_nodes(xa + t * dx + off * nx, ya + t * dy + off * ny)
        chain = np.concatenate([[a], mid, [b]])
        self.add_edges(chain[:-1], chain[1:], _H[highway], two_way)

    def arrays(self) -> tuple[NDArray[Any], ...]:
        return (
            np.concatenate(self._x),
            np.concatenate(self._y),
            np.concatenate(self._u),
            np.concatenate(self._v),
            np.concatenate(self._hw),
        )


def _line_kinds(n_lines: int) -> tuple[NDArray[Any], ...]:
    """Return per street line: highway code, arterial?, one-way?, direction (+1/-1)."""
    k = np.arange(n_lines)
    arterial = (k % _SUPER == 0) | (k == n_lines - 1)
    primary = arterial & (k % (2 * _SUPER) == 0)
    tertiary = ~arterial & (k % 4 == 0)
    oneway = ~arterial & (k % 4 == 2)
    hw = np.where(
        primary,
        _H["primary"],
        np.where(arterial, _H["secondary"], np.where(tertiary, _H["tertiary"], _H["residential"])),
    ).astype(np.int8)
    direction = np.where((k // 4) % 2 == 0, 1, -1)
    return hw, arterial, oneway, direction


def _add_city(b: _Builder, shape: tuple[int, int], x0: float, y0: float) -> NDArray[np.int64]:
    """Add one city's street grid; return its node index per grid point (-1 when missing)."""
    rng = b.rng
    rows, cols = shape
    row_kind, col_kind = _line_kinds(rows), _line_kinds(cols)
    art_r, art_c = row_kind[1], col_kind[1]
    r, c = np.divmod(np.arange(rows * cols), cols)
    x = x0 + c * _BLOCK_M
    y = y0 + r * _BLOCK_M
    # Arterials stay straight: a node moves only along the arterials it lies on.
    jitter = np.clip(rng.normal(0.0, _JITTER_M, (2, r.size)), -2.5 * _JITTER_M, 2.5 * _JITTER_M)
    x = x + np.where(art_c[c], 0.0, jitter[0])
    y = y + np.where(art_r[r], 0.0, jitter[1])
    # Missing blocks (parks, lakes, compounds): one rectangle inside some superblocks.
    sb_shape = (-(-rows // _SUPER), -(-cols // _SUPER))
    chosen = rng.random(sb_shape) < _HOLE_P
    h = rng.integers(2, 5, sb_shape)
    w = rng.integers(2, 5, sb_shape)
    ar = 1 + (rng.random(sb_shape) * (_SUPER - h)).astype(np.int64)
    ac = 1 + (rng.random(sb_shape) * (_SUPER - w)).astype(np.int64)
    sr, sc, orow, ocol = r // _SUPER, c // _SUPER, r % _SUPER, c % _SUPER
    hole = (
        chosen[sr, sc]
        & (orow >= ar[sr, sc])
        & (orow < ar[sr, sc] + h[sr, sc])
        & (ocol >= ac[sr, sc])
        & (ocol < ac[sr, sc] + w[sr, sc])
        & ~art_r[r]
        & ~art_c[c]
    )
    gid = np.full(rows * cols, -1, dtype=np.int64)
    gid[~hole] = b.add_nodes(x[~hole], y[~hole])
    grid = gid.reshape(rows, cols)
    first = int(gid[~hole][0])
    local = np.flatnonzero(~hole)

    # Streets along rows (west-east) then along columns (south-north); each block side gets
    # a shape node near its middle, as unsimplified OSM streets have.
    for a, z, line, kind in (
        (grid[:, :-1], grid[:, 1:], np.repeat(np.arange(rows), cols - 1), row_kind),
        (grid[:-1, :].T, grid[1:, :].T, np.repeat(np.arange(cols), rows - 1), col_kind),
    ):
        hw, arterial, oneway, direction = kind
        a, z = a.ravel(), z.ravel()
        ok = (a >= 0) & (z >= 0)
        a, z, line = a[ok], z[ok], line[ok]
        la, lz = local[a - first], local[z - first]  # builder index -> grid position
        wobble = np.where(arterial[line], 0.0, rng.normal(0.0, _JITTER_M / 2, (2, a.size)))
        mid = b.add_nodes((x[la] + x[lz]) / 2 + wobble[0], (y[la] + y[lz]) / 2 + wobble[1])
        back = oneway[line] & (direction[line] < 0)
        u = np.where(back, z, a)
        v = np.where(back, a, z)
        two_way = ~oneway[line]
        b.add_edges(u, mid, hw[line], two_way)
        b.add_edges(mid, v, hw[line], two_way)
    return gid


def _layout(shape: tuple[int, int]) -> dict[str, Any]:
    """Nominal geometry (local metres) for a region whose cities have ``shape`` streets."""
    rows, cols = shape
    width = (cols - 1) * _BLOCK_M
    height = (rows - 1) * _BLOCK_M
    gap = max(6_000.0, 0.6 * width)
    c1 = max(_SUPER, _SUPER * round(cols / 3 / _SUPER))
    c2 = max(c1 + _SUPER, _SUPER * round(2 * cols / 3 / _SUPER))
    return {
        "width": width,
        "x_city": (-gap / 2 - width, gap / 2),
        "y_city": -height / 2,
        "cols": (c1, c2),
        "r_mid": _SUPER * round((rows - 1) / 2 / _SUPER),
        "y_expressway": -height / 2 - 2_500.0,
        "y_national": -height / 2 - 5_000.0,
    }


def _add_infrastructure(
    b: _Builder, shape: tuple[int, int], anchor: Callable[[int, int, int], int]
) -> None:
    """Add the expressway, interchanges, service areas and national roads.

    ``anchor(city, row, col)`` gives the node index of an arterial grid point of a city.
    Node counts depend on ``shape`` and, by a few nodes at most, on the expressway's
    random phase (so the size plan can count them with any generator).
    """
    rng = b.rng
    rows, cols = shape
    lay = _layout(shape)
    width, (xa, xb) = lay["width"], lay["x_city"]
    c1, c2 = lay["cols"]
    r_mid = lay["r_mid"]
    phase_e, phase_n = rng.uniform(0.0, 2 * math.pi, 2)

    def y_e(x: Any) -> Any:
        return lay["y_expressway"] + 300.0 * np.sin(2 * np.pi * np.asarray(x) / 20_000 + phase_e)

    def y_n(x: float) -> float:
        return float(lay["y_national"] + 200.0 * math.sin(2 * math.pi * x / 31_000 + phase_n))

    # National road N2 between the cities; its midpoint is the middle interchange's road.
    mid = b.add_point(0.0, lay["y_city"] + r_mid * _BLOCK_M + 600.0)
    b.path(anchor(0, r_mid, cols - 1), mid, "trunk")
    b.path(mid, anchor(1, r_mid, 0), "trunk")
    # N3 arcs north of both cities; trunk roads leave the region west and east.
    b.path(anchor(0, rows - 1, cols - 1), anchor(1, rows - 1, 0), "primary", bend_m=2_500.0)
    y_exit = lay["y_city"] + r_mid * _BLOCK_M
    b.path(anchor(0, r_mid, 0), b.add_point(xa - 5_000.0, y_exit), "trunk")
    b.path(anchor(1, r_mid, cols - 1), b.add_point(xb + width + 5_000.0, y_exit), "trunk")

    # Crossing roads: city arterials (and N2's midpoint) down over the expressway to N1.
    tops = [anchor(0, 0, c1), anchor(0, 0, c2), mid, anchor(1, 0, c1), anchor(1, 0, c2)]
    xs_ic = [xa + c1 * _BLOCK_M, xa + c2 * _BLOCK_M, 0.0, xb + c1 * _BLOCK_M, xb + c2 * _BLOCK_M]
    n1 = [b.add_point(x, y_n(x)) for x in [xa - 2_000.0, *xs_ic, xb + width + 2_000.0]]
    for i in range(len(n1) - 1):
        b.path(n1[i], n1[i + 1], "trunk")
    b.path(n1[0], anchor(0, 0, 0), "primary")
    b.path(n1[-1], anchor(1, 0, cols - 1), "primary")
    north, south = [], []
    for i, (x, top) in enumerate(zip(xs_ic, tops, strict=True)):
        road = "trunk" if i == 2 else "primary"
        pn = b.add_point(x, float(y_e(x)) + _BRIDGE_M)
        ps = b.add_point(x, float(y_e(x)) - _BRIDGE_M)
        b.path(top, pn, road)
        b.add_edges([pn], [ps], _H[road], True)  # the bridge over both carriageways
        b.path(ps, n1[i + 1], road)
        north.append(pn)
        south.append(ps)

    # Carriageways: eastbound on the south side (right-hand traffic), westbound north.
    x_lo, x_hi = xs_ic[0] + _RAMP_M, xs_ic[-1] - _RAMP_M
    x_sa = ((xs_ic[1] + xs_ic[2]) / 2, (xs_ic[2] + xs_ic[3]) / 2)
    special = np.array(
        [x_lo, x_hi]
        + [x + d for x in xs_ic[1:-1] for d in (-_RAMP_M, _RAMP_M)]
        + [x + d for x in x_sa for d in (-_SERVICE_RAMP_M, _SERVICE_RAMP_M)]
    )
    base = np.arange(x_lo, x_hi, _EXPRESSWAY_STEP_M)
    far = np.abs(base[:, None] - special[None, :]).min(axis=1) > 60.0
    xs = np.unique(np.concatenate([base[far], special]))
    ye = y_e(xs)
    eb = b.add_nodes(xs, ye - _CARRIAGEWAY_M)
    wb = b.add_nodes(xs, ye + _CARRIAGEWAY_M)
    b.add_edges(eb[:-1], eb[1:], _H["motorway"], False)
    b.add_edges(wb[1:], wb[:-1], _H["motorway"], False)

    def at(x: float) -> int:
        return int(np.abs(xs - x).argmin())

    # Ramps bow away from the carriageway they leave or join (to the right of travel).
    ramp: dict[str, Any] = {"step_m": _RAMP_STEP_M, "two_way": False, "bend_m": -40.0}
    for i, x in enumerate(xs_ic):
        if i > 0:  # eastbound exit and westbound entry west of the bridge
            b.path(int(eb[at(x - _RAMP_M)]), south[i], "motorway_link", **ramp)
            b.path(north[i], int(wb[at(x - _RAMP_M)]), "motorway_link", **ramp)
        if i < len(xs_ic) - 1:  # eastbound entry and westbound exit east of it
            b.path(south[i], int(eb[at(x + _RAMP_M)]), "motorway_link", **ramp)
            b.path(int(wb[at(x + _RAMP_M)]), north[i], "motorway_link", **ramp)

    # Service areas: a 3 x 5 grid of aisles beside one carriageway, reachable from it only.
    for x, side_sign, lane in ((x_sa[0], -1.0, eb), (x_sa[1], 1.0, wb)):
        y_top = float(y_e(x)) + side_sign * (_CARRIAGEWAY_M + 70.0)
        gx, gy = np.meshgrid(
            x + np.arange(-100.0, 101.0, 50.0), y_top + side_sign * np.arange(3) * 50.0
        )
        g = b.add_nodes(gx.ravel(), gy.ravel()).reshape(3, 5)
        b.add_edges(g[:, :-1].ravel(), g[:, 1:].ravel(), _H["service"], True)
        b.add_edges(g[:-1, :].ravel(), g[1:, :].ravel(), _H["service"], True)
        west, east = int(lane[at(x - _SERVICE_RAMP_M)]), int(lane[at(x + _SERVICE_RAMP_M)])
        if side_sign < 0:  # eastbound: enter from the west, leave to the east
            b.path(west, int(g[0, 0]), "motorway_link", **ramp)
            b.path(int(g[0, 4]), east, "motorway_link", **ramp)
        else:
            b.path(east, int(g[0, 4]), "motorway_link", **ramp)
            b.path(int(g[0, 0]), west, "motorway_link", **ramp)


def _infrastructure_nodes(shape: tuple[int, int]) -> int:
    """Count the nodes :func:`_add_infrastructure` adds for cities of ``shape`` streets."""
    b = _Builder(np.random.default_rng(0))
    anchors: dict[tuple[int, int, int], int] = {}
    lay = _layout(shape)

    def anchor(city: int, r: int, c: int) -> int:
        if (city, r, c) not in anchors:
            x = lay["x_city"][city] + c * _BLOCK_M
            anchors[city, r, c] = b.add_point(x, lay["y_city"] + r * _BLOCK_M)
        return anchors[city, r, c]

    _add_infrastructure(b, shape, anchor)
    return b.n - len(anchors)


def _expected_nodes(shape: tuple[int, int]) -> float:
    rows, cols = shape
    city = rows * cols + rows * (cols - 1) + cols * (rows - 1)  # intersections + shape nodes
    return 2 * city * (1.0 - _EXPECTED_LOSS) + _infrastructure_nodes(shape)


def _plan_shape(size: int) -> tuple[int, int]:
    """Pick the city grid ``(rows, cols)`` whose expected node count is closest to ``size``.

    Shapes grow in half steps, ``(s, s)`` then ``(s, s + 1)``, so the rounding is small.
    """

    def shape(t: int) -> tuple[int, int]:
        return _MIN_SIDE + t // 2, _MIN_SIDE + t // 2 + t % 2

    lo, hi = 0, 1
    while _expected_nodes(shape(hi)) < size:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        m = (lo + hi) // 2
        lo, hi = (m, hi) if _expected_nodes(shape(m)) < size else (lo, m)
    err_lo = abs(_expected_nodes(shape(lo)) - size)
    return shape(lo) if err_lo <= abs(_expected_nodes(shape(hi)) - size) else shape(hi)


def _validate_size(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, int | np.integer):
        msg = f"size must be an int number of nodes in [{_MIN_SIZE}, {_MAX_SIZE}], got {size!r}"
        raise InvalidParameterError(msg, name="size", value=size)
    if not _MIN_SIZE <= size <= _MAX_SIZE:
        msg = f"size must be in [{_MIN_SIZE}, {_MAX_SIZE}] nodes, got {size}"
        raise InvalidParameterError(msg, name="size", value=size)
    return int(size)


def synthetic_region_arrays(*, seed: Any, size: int = 20_000) -> EdgeArrays:
    """Build a synthetic two-city region with an expressway, as edge arrays.

    The same ``seed`` gives identical arrays. See the module docstring for the layout.
    Speeds are the truck profile's class defaults.

    Parameters
    ----------
    seed
        An ``int >= 0``, ``None`` (a different region each call) or a
        :class:`numpy.random.Generator`.
    size
        Approximate number of nodes (the result is within 10 %), from 2,000 to 5,000,000.

    Returns
    -------
    EdgeArrays
        One strongly connected directed graph; ``node_id`` is ``0..n-1``; every edge
        straight. ``meta`` holds ``source``, ``seed`` (``None`` unless an int was given),
        ``size``, ``profile``, ``attribution`` and ``expressway_edges`` (the number of
        one-way carriageway edges: exactly the edges of class ``motorway``).

    Raises
    ------
    InvalidParameterError
        A ``size`` out of range or a ``seed`` of the wrong kind.

    Examples
    --------
    >>> a = synthetic_region_arrays(seed=1, size=5_000)
    >>> 4_500 <= a.n_nodes <= 5_500
    True
    >>> b = synthetic_region_arrays(seed=1, size=5_000)
    >>> bool((a.lat == b.lat).all() and (a.u == b.u).all())
    True
    """
    n_target = _validate_size(size)
    rng = as_rng(seed)
    shape = _plan_shape(n_target)
    lay = _layout(shape)
    b = _Builder(rng)
    grids = [_add_city(b, shape, x0, lay["y_city"]) for x0 in lay["x_city"]]

    def anchor(city: int, r: int, c: int) -> int:
        return int(grids[city][r * shape[1] + c])

    _add_infrastructure(b, shape, anchor)
    x, y, u, v, hw = b.arrays()

    # Keep the largest strongly connected component (drops fringes cut off by one-way
    # streets next to missing blocks), then renumber densely.
    graph = csr_matrix((np.ones(u.size, dtype=np.int8), (u, v)), shape=(b.n, b.n))
    _, label = connected_components(graph, directed=True, connection="strong")
    keep = label == np.bincount(label).argmax()
    new = np.cumsum(keep) - 1
    on = keep[u] & keep[v]
    u, v, hw = new[u[on]], new[v[on]], hw[on]
    lat = CENTRE_LATLNG[0] + y[keep] / _M_PER_DEG_LAT
    lng = CENTRE_LATLNG[1] + x[keep] / _M_PER_DEG_LNG
    length_m = haversine_m_array(lat[u], lng[u], lat[v], lng[v])
    truck = get_profile("truck")
    speed_kph = np.array([truck.speeds_kph[name][0] for name in HIGHWAY_CLASSES])[hw]
    meta = {
        "source": "kayou_dispatch.datasets.synthetic_region",
        "seed": int(seed) if isinstance(seed, int | np.integer) else None,
        "size": n_target,
        "profile": truck.name,
        "attribution": "synthetic data, no third-party rights",
        "expressway_edges": int((hw == _H["motorway"]).sum()),
    }
    return EdgeArrays.straight(
        node_id=np.arange(lat.size, dtype=np.int64),
        lat=lat,
        lng=lng,
        u=u,
        v=v,
        length_m=length_m,
        travel_time_s=length_m / (speed_kph / 3.6),
        highway=hw,
        meta=meta,
    )


def synthetic_region(*, seed: Any, size: int = 20_000) -> RoadNetwork:
    """Build a synthetic two-city region as a ready :class:`~kayou_dispatch.network.RoadNetwork`.

    See :func:`synthetic_region_arrays` for the parameters.

    Examples
    --------
    >>> net = synthetic_region(seed=1, size=3_000)
    >>> 2_700 <= net.n_nodes <= 3_300
    True
    """
    return RoadNetwork.from_arrays(synthetic_region_arrays(seed=seed, size=size))


#: The bundled networks by name: file inside the package (``"default"`` is the regional one).
BUNDLED_NETWORKS: Mapping[str, str] = MappingProxyType(
    {"lower_saxony": "lower_saxony_truck.npz", "helsinki": "helsinki_truck.npz"}
)
#: The bundled default network's file inside the package.
DEFAULT_NETWORK = BUNDLED_NETWORKS["lower_saxony"]


def load_network(name: str = "default") -> RoadNetwork:
    """Load a road network bundled in the package (truck profile, real OpenStreetMap roads).

    Bundled so examples and the simulation run offline on a fresh machine; both are
    © OpenStreetMap contributors, ODbL 1.0 (see ``kayou_dispatch/data/ATTRIBUTION.md``),
    reduced to their largest strongly connected part by ``scripts/build_default_network.py``.

    Parameters
    ----------
    name
        ``"default"`` or ``"lower_saxony"``: the main roads (motorway, trunk, primary,
        secondary and their ramps) of a 103 x 125 km region of Lower Saxony, Germany, around
        Hannover, Braunschweig and Wolfsburg, with the A2, A7 and A39 motorways (94,288
        nodes). ``"helsinki"``: central Helsinki's streets, 1.6 x 1 km (1,763 nodes), small
        enough for doctests and quick examples.

    Raises
    ------
    InvalidParameterError
        For a name that is not bundled.

    Examples
    --------
    >>> net = load_network("helsinki")
    >>> net.meta["attribution"]
    '© OpenStreetMap contributors, ODbL 1.0'
    >>> load_network().meta["region"]
    'lower_saxony'
    """
    key = "lower_saxony" if name == "default" else name
    if not isinstance(key, str) or key not in BUNDLED_NETWORKS:
        allowed = ", ".join(["default", *BUNDLED_NETWORKS])
        msg = f"no bundled network {name!r}; allowed: {allowed}"
        raise InvalidParameterError(msg, name="name", value=name)
    ref = resources.files("kayou_dispatch") / "data" / BUNDLED_NETWORKS[key]
    with resources.as_file(ref) as path:
        return RoadNetwork.load(path)
