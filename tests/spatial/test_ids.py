"""IdTable (the index's id -> slot map) against the obvious oracle: a dict."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kayou_dispatch.spatial._ids import IdTable


class _Clash(str):
    """An id whose hash is one of a few values: long probe runs, equal tags, other ids."""

    __slots__ = ()

    def __hash__(self) -> int:
        return len(self) % 3 - 1  # -1 hashes as -2 through hash(): negative hashes too


_name = st.text(alphabet="abc", min_size=1, max_size=6)
_op = st.one_of(
    st.tuples(st.just("add"), _name),
    st.tuples(st.just("add_many"), st.lists(_name, max_size=30)),
    st.tuples(st.just("remove"), _name),
    st.tuples(st.just("get_many"), st.lists(_name, max_size=30)),
)


@given(ops=st.lists(_op, max_size=60), clash=st.booleans())
@settings(max_examples=150, deadline=None)
def test_the_table_answers_as_a_dict(ops, clash):
    wrap = _Clash if clash else str
    ids: list[str | None] = []
    table = IdTable(ids)
    oracle: dict[str, int] = {}
    free: list[int] = []

    def take(rid: str) -> int:
        slot = free.pop() if free else len(ids)
        if slot == len(ids):
            ids.append(rid)
        else:
            ids[slot] = rid
        oracle[str(rid)] = slot
        return slot

    for op, arg in ops:
        if op == "add" and arg not in oracle:
            rid = wrap(arg)
            table.add(rid, take(rid))
        elif op == "add_many":
            new = [wrap(x) for x in dict.fromkeys(arg) if x not in oracle]
            slots = np.array([take(r) for r in new], dtype=np.int64)
            table.add_many(new, slots)
        elif op == "remove":
            if arg in oracle:
                slot = table.remove(wrap(arg))
                assert slot == oracle.pop(arg)
                ids[slot] = None
                free.append(slot)
            else:
                with pytest.raises(KeyError):
                    table.remove(wrap(arg))
        elif op == "get_many":
            asked = [wrap(x) for x in arg]
            got = table.get_many(asked)
            assert got.dtype == np.int64
            assert got.tolist() == [oracle.get(x, -1) for x in arg]
        assert len(table) == len(oracle) and bool(table) == bool(oracle)
        for rid, slot in oracle.items():
            assert table.get(wrap(rid)) == slot and table[wrap(rid)] == slot
            assert wrap(rid) in table
        assert sorted(table) == sorted(oracle)


def test_a_million_ids_cost_under_20_bytes_each_and_unhashable_ids_raise():
    n = 1_000_000
    ids: list[str | None] = [f"t{i}" for i in range(n)]
    table = IdTable(ids)
    table.add_many(ids, np.arange(n))  # type: ignore[arg-type]
    assert table.nbytes / n < 20
    probe = np.random.default_rng(0).integers(0, n, 1000)
    asked = [f"t{i}" for i in probe.tolist()] + ["nobody"]
    assert table.get_many(asked).tolist() == [*probe.tolist(), -1]
    with pytest.raises(TypeError):
        table.get_many(["t1", ["unhashable"]])
    with pytest.raises(TypeError):
        table.get(["unhashable"])
