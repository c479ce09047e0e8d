"""Strict input at the index: booleans are not numbers, strings are not coordinates, a fix
from the future or a broken clock is a typed error -- never a silent 0.0, NaN or pin."""

import math

import numpy as np
import pytest

from kayou_dispatch import (
    DispatchEngine,
    InvalidCoordinateError,
    InvalidParameterError,
    ResponderIndex,
)
from kayou_dispatch.datasets import synthetic_region

NOW = 1_000.0
REGION = synthetic_region(seed=1, size=2_000)


def index(**kw):
    return ResponderIndex(clock=lambda: NOW, **kw)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda ix: ix.update_position("a", True, 1.0), InvalidCoordinateError, "numbers"),
        (lambda ix: ix.update_position("a", "60.17", 1.0), InvalidCoordinateError, "numbers"),
        (lambda ix: ix.update_position("a", 1.0, b"1"), InvalidCoordinateError, "numbers"),
        (lambda ix: ix.update_position("a", 1.0, 1.0, ts=True), InvalidParameterError, "ts"),
        (lambda ix: ix.update_position("a", 1.0, 1.0, ts="900"), InvalidParameterError, "ts"),
        (lambda ix: ix.update_position("a", 1.0, 1.0, heading=1e300), InvalidParameterError,
         "heading"),
        (lambda ix: ix.update_position("a", 1.0, 1.0, heading=False), InvalidParameterError,
         "heading"),
        (lambda ix: ix.update_position("a", 1.0, 1.0, speed_kph=1e300), InvalidParameterError,
         "speed_kph"),
        (lambda ix: ix.update_position("a", 1.0, 1.0, speed_kph=10**400), InvalidParameterError,
         "speed_kph"),
        (lambda ix: ix.update_position("x" * 1_000_000, 1.0, 1.0), InvalidParameterError,
         "at most 256"),
        (lambda ix: ix.update_positions("ab", [1.0, 1.0], [1.0, 1.0]), InvalidParameterError,
         "not one string"),
        (lambda ix: ix.update_positions(["a"], [True], [1.0]), InvalidCoordinateError, "numeric"),
        (lambda ix: ix.update_positions(["a"], ["60.17"], [1.0]), InvalidCoordinateError,
         "numeric"),
        (lambda ix: ix.update_positions(["a"], np.array([True]), [1.0]), InvalidCoordinateError,
         "numeric"),
        (lambda ix: ix.update_positions(["a", "b"], [1.0, True], [1.0, 1.0]),
         InvalidCoordinateError, "numeric"),
        (lambda ix: ix.update_positions(["a"], [1.0], [1.0], ts=["900"]), InvalidParameterError,
         "ts"),
        (lambda ix: ix.update_positions(["a"], [1.0], [1.0], ts=[True]), InvalidParameterError,
         "ts"),
        (lambda ix: ix.update_positions(["a"], [1.0], [1.0], headings=[1e300]),
         InvalidParameterError, "headings"),
        (lambda ix: ix.update_positions(["x" * 300], [1.0], [1.0]), InvalidParameterError,
         "at most 256"),
    ],
)
def test_strict_types_and_ranges(call, error, words):
    ix = index()
    ix.update_position("r", 1.0, 1.0)
    with pytest.raises(error, match=words) as exc:
        call(ix)
    assert len(str(exc.value)) < 500
    assert sorted(ix) == ["r"]  # nothing inserted ("ab" is not the ids "a" and "b")


def test_a_fix_from_the_future_is_refused_and_pins_nobody():
    ix = index(max_clock_skew_s=30.0)
    assert ix.update_position("r", 1.0, 1.0, ts=NOW - 10)
    with pytest.raises(InvalidParameterError, match="ahead of the clock") as exc:
        ix.update_position("r", 2.0, 2.0, ts=9.9e10)
    assert exc.value.name == "ts"
    with pytest.raises(InvalidParameterError, match=r"rows \[1\]"):
        ix.update_positions(["r", "s"], [1.0, 1.0], [1.0, 1.0], ts=[NOW, NOW + 31])
    assert ix.update_position("r", 3.0, 3.0, ts=NOW + 30)  # within the allowance
    assert ix.get("r").lat == 3.0 and "s" not in ix
    assert index(max_clock_skew_s=math.inf).update_position("r", 1.0, 1.0, ts=9.9e10)


@pytest.mark.parametrize("skew", [-1.0, math.nan, "60", True, None])
def test_bad_skew_options_are_refused(skew):
    with pytest.raises(InvalidParameterError, match="max_clock_skew_s"):
        index(max_clock_skew_s=skew)
    with pytest.raises(InvalidParameterError, match="max_clock_skew_s"):
        DispatchEngine(REGION, max_clock_skew_s=skew)


@pytest.mark.parametrize("reading", ["1000", math.nan, math.inf, None, True])
def test_a_broken_clock_is_a_typed_error_where_it_is_read(reading):
    region = REGION
    engine = DispatchEngine(region, clock=lambda: reading)
    lat, lng = float(region.node_lat[0]), float(region.node_lng[0])
    with pytest.raises(InvalidParameterError, match="clock"):
        engine.update_position("r", lat, lng)
    with pytest.raises(InvalidParameterError, match="clock"):
        engine.report_incident("i", lat, lng, kind="breakdown")
    assert len(engine) == 0 and engine.open_incidents() == []


def test_the_engine_refuses_future_fixes_with_its_skew_option():
    region = REGION
    engine = DispatchEngine(region, clock=lambda: NOW, max_clock_skew_s=5.0)
    lat, lng = float(region.node_lat[0]), float(region.node_lng[0])
    with pytest.raises(InvalidParameterError, match="max_clock_skew_s=5"):
        engine.update_position("r", lat, lng, ts=NOW + 6)
    assert engine.update_position("r", lat, lng, ts=NOW + 5)
    assert engine.index.max_clock_skew_s == 5.0
