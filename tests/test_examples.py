"""Run every script in examples/ so none of them rots, and only with the extras it states.

Each example's docstring says what to install (``Needs: pip install ".[server]"``, or ``.``
for no extra); the README's list repeats it. The second test runs each script in a fresh
interpreter where every package of the other extras (and the test tools) cannot be
imported: the environment that install line gives, as far as the script can tell.
"""

import re
import runpy
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
_NEEDS = re.compile(r'Needs: ``pip install "?\.(?:\[([a-z,]+)\])?"?``')


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(script)])
    runpy.run_path(str(script), run_name="__main__")
    assert capsys.readouterr().out.strip(), f"{script.name} printed nothing"


def needs(script: Path) -> frozenset[str]:
    """The extras an example's docstring says it needs."""
    found = _NEEDS.search(script.read_text())
    assert found, f"{script.name}: its docstring must say what to install (Needs: ...)"
    return frozenset(filter(None, (found.group(1) or "").split(",")))


def _closure(requirements: list[str]) -> set[str]:
    """Every distribution these requirements install (with their own extras)."""
    seen: set[str] = set()
    todo = [(Requirement(r), None) for r in requirements]
    while todo:
        req, extra = todo.pop()
        env = {**default_environment(), "extra": extra or ""}
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        wanted = [(name, e) for e in sorted(req.extras)]
        if name in seen and not wanted:
            continue
        seen.add(name)
        try:
            reqs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for sub in reqs:
            r = Requirement(sub)
            if r.marker is None or "extra" not in str(r.marker):
                todo.append((r, None))
            for _, e in wanted:
                todo.append((r, e))
    return seen


def blocked_modules(extras: frozenset[str]) -> list[str]:
    """Top-level modules of packages the other extras bring and these do not."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    allowed = _closure(project["dependencies"] + [r for e in extras for r in optional[e]])
    others = {canonicalize_name(Requirement(r).name) for rs in optional.values() for r in rs}
    banned = others - allowed
    modules = {
        module
        for module, dists in metadata.packages_distributions().items()
        if any(canonicalize_name(d) in banned for d in dists)
        and not any(canonicalize_name(d) in allowed for d in dists)
    }
    return sorted(m for m in modules if m.isidentifier())


_RUN = """
import importlib.abc, runpy, sys
blocked = set({blocked!r})
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in this example's extras)")
        return None
sys.meta_path.insert(0, Blocker())
sys.argv = [{script!r}]
runpy.run_path({script!r}, run_name="__main__")
"""


def test_every_example_states_its_extras_and_the_readme_lists_them():
    readme = (ROOT / "README.md").read_text()
    for script in EXAMPLES:
        extras = needs(script)
        line = next(ln for ln in readme.splitlines() if f"`{script.name}`" in ln)
        want = f'`pip install ".[{",".join(sorted(extras))}]"`' if extras else "no extra"
        assert want in line, (script.name, line)


def test_the_blocker_blocks_what_the_server_extra_lacks():
    mods = blocked_modules(frozenset({"server"}))
    assert "httpx" in mods and "matplotlib" in mods and "osmium" in mods and "redis" in mods
    assert "fastapi" not in mods and "uvicorn" not in mods and "numpy" not in mods
    assert "fastapi" in blocked_modules(frozenset())


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_with_only_its_extras(script):
    code = _RUN.format(blocked=blocked_modules(needs(script)), script=str(script))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip(), f"{script.name} printed nothing"
