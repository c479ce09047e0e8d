"""Write your own dispatch policy and compare it with the built-in ones on a simulated day.

Needs: ``pip install .`` (no extra).

A policy ranks the candidates the engine offers a request to. This one prefers
professional service vehicles ("unit-...") whenever they are within two minutes of the
best road ETA, and otherwise takes the road-ETA order. A policy overrides
``ranked(engine, lat, lng, query)``: ``query`` is a :class:`kayou_dispatch.RankQuery`.

Run: python examples/custom_policy.py
"""

from dataclasses import dataclass

from kayou_dispatch import load_network
from kayou_dispatch.simulation import BUILTIN_POLICIES, Policy, Scenario, compare_policies
from kayou_dispatch.simulation.report import format_table


@dataclass(frozen=True)
class PreferServiceVehicles(Policy):
    name: str = "prefer-service/sequential"
    offer_mode: str | None = "sequential"
    slack_s: float = 120.0

    def ranked(self, engine, lat, lng, query):
        # query: the request's options (k, needs, max_eta_s, heading, exclude), validated.
        candidates = engine.rank(lat, lng, query=query.replace(k=max(query.k, 20)))
        if not candidates:
            return []
        best = candidates[0].eta_s
        pro = [
            c
            for c in candidates
            if c.responder_id.startswith("unit-") and c.eta_s <= best + self.slack_s
        ]
        rest = [c for c in candidates if c not in pro]
        return (pro + rest)[: query.k]


network = load_network("helsinki")
scenario = Scenario(
    hours=2, responders=200, service_vehicles=10, share=0.2, seed=7, serious_on_highway=0
)
policies = [
    BUILTIN_POLICIES["straight-line/sequential"],
    BUILTIN_POLICIES["road-eta/sequential"],
    PreferServiceVehicles(),
]
results = compare_policies(network, scenario, policies)
print(f"{scenario.hours:g} simulated hours on {network.meta['name']}:")
print(format_table(results))
