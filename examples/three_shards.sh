#!/bin/sh
# Three shards and a gateway on one machine, on one national PostgreSQL lifecycle log.
#
# Needs: pip install ".[server,postgresql]", a PostgreSQL to write to ($PG, e.g.
# postgresql://postgres@127.0.0.1:5432/postgres) and a token file ($TOKENS). The shard map
# cuts the bundled Lower Saxony network into three bands of H3 res-4 cells (west to east).
# Stop everything with Ctrl-C.
set -eu
: "${PG:?set PG to a postgresql:// URL}"
: "${TOKENS:?set TOKENS to a token file (see docs/deploy.md)}"
MAP=${MAP:-shards.json}
python - "$MAP" <<'PY'
import json, sys
import h3, numpy as np
from kayou_dispatch import load_network

net = load_network("default")
cells = sorted({h3.latlng_to_cell(a, b, 4) for a, b in zip(net.node_lat, net.node_lng)})
bands = np.array_split(np.array(sorted(cells, key=lambda c: h3.cell_to_latlng(c)[1])), 3)
shards = [{"name": f"s{i}", "url": f"http://127.0.0.1:{8101 + i}", "cells": [str(c) for c in b]}
          for i, b in enumerate(bands)]
doc = {"format": "kayou-shards/1", "resolution": 4, "max_eta_s": 900, "max_speed_kph": 100,
       "shards": shards}
json.dump(doc, open(sys.argv[1], "w"), indent=1)
PY
trap 'kill 0' INT TERM EXIT
for i in 0 1 2; do
  kayou-dispatch serve --shard "s$i" --shards "$MAP" --tokens "$TOKENS" --lifecycle "$PG" \
    --port $((8101 + i)) &
done
kayou-dispatch gateway --shards "$MAP" --tokens "$TOKENS" --port 8080
