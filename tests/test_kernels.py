"""Pure kernels against references we own (scipy.special.logsumexp, numpy.linalg)."""
import numpy as np
import pytest
from scipy.special import logsumexp

from gaussmix._kernels import (cholesky_lower, cov_from_prec_chol, logsumexp_rows,
                               prec_chol_from_cov)


def _spd(rng, d):
    A = rng.normal(size=(d, d))
    return A @ A.T + d * np.eye(d)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_logsumexp_rows_matches_scipy(rng, dtype):
    a = (rng.normal(size=(50, 4)) * 300).astype(dtype)  # spans far below the exp clamp
    log_norm, resp = logsumexp_rows(a.copy(), out_resp=True)
    ref = logsumexp(a.astype(np.float64), axis=1)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(log_norm, ref, rtol=rtol)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=10 * np.finfo(dtype).eps)
    np.testing.assert_allclose(resp, np.exp(a.astype(np.float64) - ref[:, None]),
                               atol=10 * np.finfo(dtype).eps)


def test_logsumexp_rows_handles_minus_inf_entries(rng):
    a = rng.normal(size=(2, 4))
    a[0, 1:] = -np.inf                   # one finite entry: responsibility 1 there
    log_norm, resp = logsumexp_rows(a.copy(), out_resp=True)
    assert log_norm[0] == pytest.approx(a[0, 0], rel=1e-14)
    # entries more than 80 below the row maximum are clamped: exp(-80) ~ 2e-35 is "zero"
    np.testing.assert_allclose(resp[0], [1, 0, 0, 0], rtol=0, atol=1e-34)
    assert np.isfinite(log_norm[1])


def test_logsumexp_rows_all_minus_inf_row_is_minus_inf():
    a = np.array([[-np.inf, -np.inf, -np.inf], [0.0, -np.inf, np.log(3.0)]])
    log_norm, resp = logsumexp_rows(a.copy(), out_resp=True)
    assert log_norm[0] == -np.inf
    np.testing.assert_allclose(log_norm[1], np.log(4.0))
    np.testing.assert_allclose(resp, [[1 / 3] * 3, [0.25, 0.0, 0.75]], atol=1e-30)
    # the EM passes ask for a finite value so one such point cannot poison the lower bound
    clamped = logsumexp_rows(a.copy(), finite=True)
    assert np.isfinite(clamped[0]) and clamped[0] < -70


@pytest.mark.parametrize("d", [1, 2, 5])
def test_precision_cholesky_inverts_covariance(rng, d):
    cov = _spd(rng, d)
    L = prec_chol_from_cov(cov)
    np.testing.assert_allclose(L @ L.T, np.linalg.inv(cov), rtol=1e-10, atol=1e-12)
    assert np.allclose(L, np.triu(L)), "scikit-learn stores an upper-triangular factor"
    np.testing.assert_allclose(cov_from_prec_chol(L), cov, rtol=1e-10)


def test_cholesky_rejects_non_positive_definite():
    assert cholesky_lower(np.array([[1.0, 2.0], [2.0, 1.0]])) is None
    assert cholesky_lower(np.zeros((2, 2))) is None
    assert prec_chol_from_cov(np.array([[1.0, 0.0], [0.0, -1.0]])) is None
    np.testing.assert_allclose(cholesky_lower(np.diag([4.0, 9.0])), np.diag([2.0, 3.0]))
