"""Build a small road network, snap a truck to it, and ask how long a drive takes.

Needs: ``pip install .`` (no extra).

Run with ``python examples/road_network.py``; needs nothing but kayou_dispatch.
"""

import networkx as nx
import shapely

from kayou_dispatch import RoadNetwork

# A tiny town in the osmnx convention: nodes carry y (lat) and x (lng); a two-way high
# street, a one-way bypass that bends north, and a side road with only a highway class.
G = nx.MultiDiGraph(crs="epsg:4326")
for node, lat, lng in [
    (1, 22.700, 114.200),
    (2, 22.700, 114.210),
    (3, 22.700, 114.220),
    (4, 22.708, 114.210),
]:
    G.add_node(node, y=lat, x=lng)
G.add_edge(1, 2, length=1026.0, travel_time=74.0, highway="primary")
G.add_edge(2, 1, length=1026.0, travel_time=74.0, highway="primary")
G.add_edge(2, 3, length=1026.0, travel_time=74.0, highway="primary")
G.add_edge(3, 2, length=1026.0, travel_time=74.0, highway="primary")
bypass = shapely.LineString([(114.220, 22.700), (114.215, 22.704), (114.200, 22.700)])
G.add_edge(3, 1, length=2200.0, travel_time=99.0, highway="trunk", geometry=bypass)
G.add_edge(2, 4, highway="residential")  # travel time from the truck profile
G.add_edge(4, 2, highway="residential")

net = RoadNetwork.from_networkx(G)
print(net)

# A truck reports its GPS position and heading (east).
truck = (22.7002, 114.2031)
snap = net.snap(*truck, heading=90.0)
print(f"truck snapped to edge {snap.edge} at {snap.fraction:.0%}, {snap.distance_m:.0f} m away")

incident = (22.7060, 114.2101)
eta_s = net.travel_time(*truck, *incident, heading=90.0)
print(f"drive to the incident: {eta_s / 60:.1f} min")

route = net.route(*truck, *incident, heading=90.0)
print(f"route: {route.distance_m:.0f} m through {len(route.coords)} points")

# Many trucks, one incident: a single search on the reversed graph.
etas = net.travel_times_to(*incident, [22.7001, 22.7003, 22.7041], [114.2195, 114.2050, 114.2140])
print("ETAs (s):", [round(float(t)) for t in etas])
