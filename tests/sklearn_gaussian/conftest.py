"""scikit-learn's global test fixtures (sklearn/conftest.py) that the vendored tests use.

``global_dtype`` is float64: scikit-learn runs float32 only with SKLEARN_RUN_FLOAT32_TESTS=1,
and its float32 variants assert float32 fitted attributes (see test_gaussian_mixture.py).
``global_random_seed`` is scikit-learn's default seed, 42.
"""
import numpy as np
import pytest


@pytest.fixture(params=[np.float64])
def global_dtype(request):
    yield request.param


@pytest.fixture(params=[42])
def global_random_seed(request):
    yield request.param
