"""Index responders in an H3 grid and ask who is near a crash.

Needs: ``pip install .`` (no extra).

Run: python examples/responder_index.py
"""

from kayou_dispatch import ResponderIndex, Status, gcj02_to_wgs84

index = ResponderIndex(resolution=8, position_ttl_s=300.0)

# Phones report WGS-84 GPS fixes...
index.update_position("truck-17", 22.7196, 114.2470, heading=90.0, capabilities={"tow"})
index.update_position("truck-42", 22.7301, 114.2598, capabilities={"mechanic", "tyre"})
index.update_position("van-3", 22.7105, 114.2399, capabilities={"first_aid"})
# ...but a fix read from an Amap / Tencent map SDK is GCJ-02: convert it explicitly.
index.update_position("truck-99", *gcj02_to_wgs84(22.7160, 114.2530))
index.set_status("truck-42", Status.EN_ROUTE)  # busy with another incident

crash = (22.7200, 114.2480)
print("available within 2 km:")
for nb in index.nearby(*crash, 2_000.0):
    print(f"  {nb.responder_id:<9} {nb.distance_m:6.0f} m")
print("nearest with first aid:", index.nearest(*crash, k=1, needs={"first_aid"}))
print("truck-42 is", index.get("truck-42").status.value)
