"""mclust's fourteen covariance structures: parameter counts, constraints, monotone EM,
optimal M-steps, weights, float32, model files, aliases, select and the outlier detector."""
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import gaussmix
from gaussmix import GaussianMixture, covariance
from gaussmix.covariance import MCLUST_NAMES

# mclust's nVarParams (mclust 6, R/mclust.R), written from its documentation's formulas
NVAR = {
    "EII": lambda G, d: 1,
    "VII": lambda G, d: G,
    "EEI": lambda G, d: d,
    "VEI": lambda G, d: G + (d - 1),
    "EVI": lambda G, d: 1 + G * (d - 1),
    "VVI": lambda G, d: G * d,
    "EEE": lambda G, d: d * (d + 1) / 2,
    "VEE": lambda G, d: G + (d + 2) * (d - 1) / 2,
    "EVE": lambda G, d: 1 + G * (d - 1) + d * (d - 1) / 2,
    "VVE": lambda G, d: G * d + d * (d - 1) / 2,
    "EEV": lambda G, d: 1 + (d - 1) + G * d * (d - 1) / 2,
    "VEV": lambda G, d: G + (d - 1) + G * d * (d - 1) / 2,
    "EVV": lambda G, d: 1 + G * (d * (d + 1) / 2 - 1),
    "VVV": lambda G, d: G * d * (d + 1) / 2,
}
ALIASES = {"VVV": "full", "EEE": "tied", "VVI": "diag", "VII": "spherical"}


def _quiet_fit(gm, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gm.fit(X, **kw)


@pytest.fixture(scope="module")
def blobs():
    """Three well-separated 3-d components with different volumes, shapes, orientations."""
    rng = np.random.default_rng(7)
    parts = []
    for n, centre, scale in [(260, [0, 0, 0], 1.0), (200, [9, 1, -2], 0.6), (240, [2, 10, 4], 1.5)]:
        A = rng.normal(size=(3, 3)) * scale
        parts.append(rng.normal(size=(n, 3)) @ A + centre)
    return np.vstack(parts)


def test_all_fourteen_are_known():
    for name in MCLUST_NAMES:
        covariance.get(name)
    assert set(NVAR) == set(MCLUST_NAMES)
    for alias, name in ALIASES.items():
        assert covariance.get(alias) is covariance.get(name)
    assert "VVV" in covariance.names(aliases=True) and "VVV" not in covariance.names()


@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_parameter_counts_are_mclust_s(name):
    model = covariance.get(name)
    for G in range(1, 6):
        for d in range(1, 7):
            assert model.n_parameters(G, d) == NVAR[name](G, d), (G, d)


@pytest.mark.parametrize("name", ["EII", "VEV", "EVE", "VVV"])
def test_bic_is_minus_mclust_bic(blobs, name):
    gm = _quiet_fit(GaussianMixture(3, covariance_type=name, random_state=0), blobs)
    n, d = blobs.shape
    p = NVAR[name](3, d) + 3 * d + 2  # mclust's nMclustParams
    assert gm.n_parameters() == p
    loglik = gm.score(blobs) * n
    np.testing.assert_allclose(-gm.bic(blobs), 2 * loglik - p * np.log(n), rtol=1e-12)


@pytest.mark.parametrize("alias,name", sorted(ALIASES.items()))
def test_aliases_fit_bit_identically(blobs, alias, name):
    a = _quiet_fit(GaussianMixture(3, covariance_type=alias, random_state=1), blobs)
    b = _quiet_fit(GaussianMixture(3, covariance_type=name, random_state=1), blobs)
    for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    assert a.lower_bounds_ == b.lower_bounds_


# ------------------------------------------------------------------------------ constraints

def _decompose(dense):
    """Volumes det^(1/d), shapes (eigenvalues / volume, descending), eigenvectors."""
    w, V = np.linalg.eigh(dense)
    w, V = w[:, ::-1], V[:, :, ::-1]
    vol = np.exp(np.log(w).mean(axis=1))
    return vol, w / vol[:, None], V


@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_fitted_parameters_obey_the_structure(blobs, name):
    gm = _quiet_fit(GaussianMixture(3, covariance_type=name, reg_covar=0.0, random_state=0,
                                    tol=1e-8, max_iter=300), blobs)
    d = blobs.shape[1]
    dense = covariance.get(name).dense(gm.covariances_, 3, d)
    vol, shape, V = _decompose(dense)
    volume, shp, orient = name
    if volume == "E":
        np.testing.assert_allclose(vol, np.full(3, vol[0]), rtol=1e-8)
    if orient == "I":
        off = dense - np.einsum("kii->ki", dense)[:, :, None] * np.eye(d)
        assert np.abs(off).max() == 0.0
        # shape of a diagonal structure: the diagonal in feature order
        shp_vec = np.einsum("kii->ki", dense) / vol[:, None]
    else:
        shp_vec = shape
    if shp == "I":
        np.testing.assert_allclose(shp_vec, 1.0, rtol=1e-8)
    elif shp == "E":
        np.testing.assert_allclose(shp_vec, np.broadcast_to(shp_vec[:1], shp_vec.shape), rtol=1e-7)
    if orient == "E":
        # a common orientation: the covariances commute
        for i in range(3):
            for j in range(i):
                ab, ba = dense[i] @ dense[j], dense[j] @ dense[i]
                np.testing.assert_allclose(ab, ba, atol=1e-9 * np.abs(ab).max())
    # and the parameters the structure leaves free really differ
    if volume == "V":
        assert np.ptp(vol) > 1e-3 * vol.max()
    if shp == "V":
        assert np.ptp(shp_vec, axis=0).max() > 1e-3


# ------------------------------------------------------------------------------ M-step


def _objective(nk, W, cov):
    _, logdet = np.linalg.slogdet(cov)
    return float((nk * logdet).sum() + np.einsum("kij,kji->k", W, np.linalg.inv(cov)).sum())


def _random_stats(rng, k, d):
    nk = rng.uniform(20, 80, size=k)
    W = np.empty((k, d, d))
    for j in range(k):
        Z = rng.normal(size=(int(nk[j]) + d, d)) @ rng.normal(size=(d, d))
        W[j] = Z.T @ Z * nk[j] / len(Z)
    return nk, W


def _m_step(model, nk, W, previous=None):
    scatter = W if model.full_scatter else np.einsum("kii->ki", W)
    if model.warm_start_m_step:
        return model.from_stats(nk, scatter, 0.0, previous=previous)
    return model.from_stats(nk, scatter, 0.0)


@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_m_step_beats_other_members_of_the_structure(name, rng):
    """The M-step's covariances minimise sum_k n_k log det S_k + tr(W_k S_k^-1) over the
    structure: no other member (the M-step of other statistics) does better, and warm starts
    from such members reach the same optimum."""
    model = covariance.get(name)
    k, d = 3, 4
    nk, W = _random_stats(rng, k, d)
    best = model.dense(_m_step(model, nk, W), k, d)
    f_best = _objective(nk, W, best)
    # closed forms where they exist: checked against the textbook formulas
    if name == "VVV":
        np.testing.assert_allclose(best, W / nk[:, None, None], rtol=1e-12)
    for _ in range(8):
        nk2, W2 = _random_stats(rng, k, d)
        other = _m_step(model, nk2, W2)
        assert f_best <= _objective(nk, W, model.dense(other, k, d)) + 1e-9 * abs(f_best)
        warm = model.dense(_m_step(model, nk, W, previous=other), k, d)
        np.testing.assert_allclose(_objective(nk, W, warm), f_best, rtol=1e-7)


@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_em_lower_bound_is_monotone(blobs, name):
    gm = _quiet_fit(GaussianMixture(3, covariance_type=name, reg_covar=0.0, tol=0.0, max_iter=60,
                                    init_params="random_from_data", random_state=3), blobs)
    lb = np.asarray(gm.lower_bounds_)
    assert len(lb) == 60
    assert np.all(np.diff(lb) >= -1e-12 * np.abs(lb[1:]))


def test_nested_structures_order_the_likelihood(blobs):
    """Started from the same parameters, a structure never beats one that contains it after
    one M-step from the same statistics (EII within VII within VVI within VVV ...)."""
    rng = np.random.default_rng(0)
    nk, W = _random_stats(rng, 3, 3)
    f = {n: _objective(nk, W, covariance.get(n).dense(_m_step(covariance.get(n), nk, W), 3, 3))
         for n in MCLUST_NAMES}
    chains = [("EII", "VII", "VEI", "VVI", "VVE", "VVV"), ("EII", "EEI", "EEE", "VEE", "VVE"),
              ("EEI", "EVI", "EVE", "EVV", "VVV"), ("EEE", "EEV", "VEV", "VVV")]
    for chain in chains:
        for a, b in zip(chain, chain[1:]):
            assert f[b] <= f[a] + 1e-9 * abs(f[a]), (a, b)


# ------------------------------------------------------------------------------ data paths


@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_integer_weights_equal_repeated_rows(blobs, name, rng):
    X = blobs[::4]
    counts = rng.integers(0, 4, size=len(X))
    init = dict(means_init=X[[3, 70, 150]], weights_init=np.full(3, 1 / 3))
    kw = dict(covariance_type=name, max_iter=30, tol=1e-6, random_state=0, **init)
    a = _quiet_fit(GaussianMixture(3, **kw), X, sample_weight=counts.astype(float))
    b = _quiet_fit(GaussianMixture(3, **kw), np.repeat(X, counts, axis=0))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(a.lower_bound_, b.lower_bound_, rtol=1e-9)


@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_float32_fits_agree_with_float64(blobs, name):
    kw = dict(covariance_type=name, random_state=0, tol=1e-6, max_iter=200)
    a = _quiet_fit(GaussianMixture(3, **kw), blobs)
    b = _quiet_fit(GaussianMixture(3, **kw), blobs.astype(np.float32))
    assert np.all(np.isfinite(b.covariances_))
    np.testing.assert_allclose(b.score(blobs), a.score(blobs), rtol=1e-3)


@pytest.mark.parametrize("name", MCLUST_NAMES + ("E", "V"))
def test_model_file_round_trip(blobs, name, tmp_path):
    X = blobs[:, :1] if name in ("E", "V") else blobs
    gm = _quiet_fit(GaussianMixture(2, covariance_type=name, random_state=0), X)
    path = tmp_path / "m.gmm"
    gm.save(path)
    back = gaussmix.load(path)
    assert back.covariance_type == name
    np.testing.assert_array_equal(back.covariances_, gm.covariances_)
    np.testing.assert_array_equal(back.score_samples(X), gm.score_samples(X))


@pytest.mark.parametrize("name", MCLUST_NAMES)
def test_select_and_detector_run_every_structure(blobs, name):
    X = blobs[::3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = gaussmix.select(X, n_components=[1, 2, 3], covariance_types=[name],
                              random_state=0)
        det = gaussmix.GaussianMixtureOutlierDetector(n_components=3, covariance_type=name,
                                                      random_state=0).fit(X)
    assert res.best_params_["covariance_type"] == name
    assert res.best_params_["n_components"] == 3
    labels = det.predict(np.vstack([X, [[60.0, 60.0, 60.0]]]))
    assert labels[-1] == -1


# ------------------------------------------------------------------------------ one feature


@pytest.mark.parametrize("univariate,same", [("E", "EII"), ("V", "spherical")])
def test_univariate_names(blobs, univariate, same):
    x = blobs[:, :1]
    a = _quiet_fit(GaussianMixture(3, covariance_type=univariate, random_state=0), x)
    b = _quiet_fit(GaussianMixture(3, covariance_type=same, random_state=0), x)
    np.testing.assert_array_equal(a.covariances_, b.covariances_)
    assert a.n_parameters() == b.n_parameters()
    with pytest.raises(ValueError, match="one feature.*3 features"):
        GaussianMixture(2, covariance_type=univariate).fit(blobs)


def test_non_closed_structures_refuse_marginal(blobs):
    gm = _quiet_fit(GaussianMixture(2, covariance_type="EVE", random_state=0), blobs)
    with pytest.raises(NotImplementedError, match="EVE"):
        gm.marginal([0, 1])
    vee = _quiet_fit(GaussianMixture(2, covariance_type="VEE", random_state=0), blobs)
    m = vee.marginal([0, 2])
    np.testing.assert_allclose(m.covariances_, vee.covariances_[:, [0, 2]][:, :, [0, 2]])
