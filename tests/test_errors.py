import inspect

import pytest

import kayou_dispatch
from kayou_dispatch import errors
from kayou_dispatch.errors import (
    DuplicateIncidentError,
    InvalidCoordinateError,
    InvalidParameterError,
    InvalidTransitionError,
    KayouDispatchError,
    NetworkLoadError,
    OffNetworkError,
    SharedStateError,
    UnknownIncidentError,
    UnknownResponderError,
)

LEAVES = {
    InvalidCoordinateError: (ValueError, {"lat": 91.0, "lng": 0.0}),
    InvalidParameterError: (ValueError, {"name": "k", "value": 0}),
    OffNetworkError: (
        ValueError,
        {"lat": 1.0, "lng": 2.0, "distance_m": 1500.0, "max_distance_m": 1000.0},
    ),
    NetworkLoadError: (ValueError, {"source": "x.osm"}),
    DuplicateIncidentError: (ValueError, {"incident_id": "i1"}),
    UnknownResponderError: (KeyError, {"responder_id": "r1"}),
    UnknownIncidentError: (KeyError, {"incident_id": "i1"}),
    InvalidTransitionError: (
        RuntimeError,
        {"subject": "i1", "current": "OPEN", "attempted": "arrive"},
    ),
    SharedStateError: (RuntimeError, {"store": "redis://127.0.0.1:6379/0"}),
}


@pytest.mark.parametrize("cls", list(LEAVES))
def test_leaf_is_in_tree_and_builtin(cls):
    builtin, ctx = LEAVES[cls]
    err = cls("something was wrong; allowed: this", **ctx)
    assert isinstance(err, KayouDispatchError)
    assert isinstance(err, builtin)
    for key, value in ctx.items():
        assert getattr(err, key) == value
    # KeyError leaves print the message itself, not its repr.
    assert str(err) == "something was wrong; allowed: this"
    with pytest.raises(builtin):
        raise err


def test_every_error_class_is_listed_and_exported():
    classes = {
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, KayouDispatchError) and obj is not KayouDispatchError
    }
    assert classes == set(LEAVES)
    for cls in classes:
        assert getattr(kayou_dispatch, cls.__name__) is cls
        assert cls.__name__ in errors.__doc__


def test_coordinate_error_rows_are_ints():
    err = InvalidCoordinateError("bad rows", rows=[3, 7])
    assert err.rows == (3, 7)
