"""The README's quickstart runs as written (its comments promise what it returns)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs():
    text = README.read_text(encoding="utf-8")
    quick = text.split("## Quickstart", 1)[1]
    code = re.search(r"```python\n(.*?)```", quick, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README quickstart", "exec"), namespace)
    engine = namespace["engine"]
    assert engine.incident("inc-1").status.value == "assigned"
    ranked = engine.rank(60.1705, 24.9410, k=5, needs={"mechanic"})
    assert ranked == [] or ranked[0].responder_id != "truck-17"  # truck-17 is busy now
