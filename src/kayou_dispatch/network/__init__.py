"""Road networks: loading, snapping, and exact shortest travel times."""

from kayou_dispatch.network._arrays import EdgeArrays, load_arrays, save_arrays
from kayou_dispatch.network.profiles import HIGHWAY_CLASSES, PROFILES, Profile, get_profile

__all__ = [
    "EdgeArrays",
    "get_profile",
    "HIGHWAY_CLASSES",
    "load_arrays",
    "Profile",
    "PROFILES",
    "save_arrays",
]
