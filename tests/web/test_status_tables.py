"""One order of responder statuses and one list of wide road classes, sent to the scripts."""

import re

from kayou_dispatch import Status, load_network
from kayou_dispatch.network.profiles import HIGHWAY_CLASSES
from kayou_dispatch.simulation.runner import TRACK_STATUS
from kayou_dispatch.spatial.responders import CODE_BY_STATUS
from kayou_dispatch.web import asset_text, network_geometry


def test_the_payload_carries_the_status_order_of_the_enum_and_the_simulation():
    geom = network_geometry(load_network())
    assert geom["statuses"] == [s.value for s in Status] == list(TRACK_STATUS)
    assert all(geom["statuses"][code] == s.value for s, code in CODE_BY_STATUS.items())
    wide = [HIGHWAY_CLASSES[i] for i in geom["major"]]
    assert wide == list(HIGHWAY_CLASSES[:8])  # motorway ... secondary_link, links included
    assert (wide[0], wide[-1], len(set(c.removesuffix("_link") for c in wide))) == (
        "motorway",
        "secondary_link",
        4,
    )


def test_the_scripts_hard_code_no_status_order_or_class_indices():
    js = asset_text("map.js") + asset_text("console.js") + asset_text("replay.js")
    name = "|".join(s.value for s in Status)
    three = rf'\[\s*"(?:{name})"\s*,\s*"(?:{name})"\s*,\s*"(?:{name})"'
    assert not re.search(three, js)  # no table of statuses in code order
    assert not re.search(r"new Set\(\[\s*\d", js)  # no class-index table
    colours = set(re.findall(r"^\s*(\w+): \"#[0-9a-f]{6}\"", asset_text("map.js"), re.M))
    assert {s.value for s in Status} <= colours  # every status has a colour
    assert "geom.statuses" in asset_text("map.js") and "geom.major" in asset_text("map.js")
