"""Draw the engine's world in a browser: map data as compact JSON and the page assets.

The dispatcher console (``/console``, served by :mod:`kayou_dispatch.server`) and the
simulation replay (``replay.html``, written by ``kayou-dispatch simulate``) share one map
renderer, ``map.js``: plain JavaScript on a ``<canvas>``, no dependency, nothing fetched
from the internet. This module ships those files (package data) and turns a
:class:`~kayou_dispatch.network.RoadNetwork` into the small polyline JSON they draw.
"""

from __future__ import annotations

from kayou_dispatch.web._assets import ASSETS, asset_bytes, asset_text
from kayou_dispatch.web._geometry import network_geometry

__all__ = ["asset_bytes", "asset_text", "ASSETS", "network_geometry"]
