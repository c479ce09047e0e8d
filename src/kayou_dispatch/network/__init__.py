"""Road networks: loading, snapping, and exact shortest travel times."""

from kayou_dispatch.network._arrays import EdgeArrays, load_arrays, save_arrays
from kayou_dispatch.network._graph import RoadNetwork
from kayou_dispatch.network.osm import read_osm
from kayou_dispatch.network.overlay import CellOverlay
from kayou_dispatch.network.paths import Route
from kayou_dispatch.network.profiles import HIGHWAY_CLASSES, PROFILES, Profile, get_profile
from kayou_dispatch.network.snap import Snap, SnapArrays

__all__ = [
    "CellOverlay",
    "EdgeArrays",
    "get_profile",
    "HIGHWAY_CLASSES",
    "load_arrays",
    "Profile",
    "PROFILES",
    "read_osm",
    "RoadNetwork",
    "Route",
    "save_arrays",
    "Snap",
    "SnapArrays",
]
