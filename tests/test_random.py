import numpy as np
import pytest

from kayou_dispatch._random import as_rng
from kayou_dispatch.errors import InvalidParameterError


def test_int_seeds_are_reproducible_and_generators_pass_through():
    assert as_rng(3).random() == as_rng(np.int64(3)).random()
    g = np.random.default_rng(0)
    assert as_rng(g) is g
    assert isinstance(as_rng(None), np.random.Generator)


@pytest.mark.parametrize("seed", [-1, 1.0, "1", True, np.random.RandomState(0)])
def test_other_seeds_are_refused(seed):
    with pytest.raises(InvalidParameterError, match="seed must be"):
        as_rng(seed)
