"""Model-based hierarchical clustering (init_params="hc"): criteria against references."""
import itertools
import time
import warnings

import numpy as np
import pytest
from scipy.cluster.hierarchy import cut_tree, linkage
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture
from gaussmix import _hc
from gaussmix._hc import _Agglomeration, agglomerate, hc_tree, transform


def _partition(labels):
    """A partition as a set of frozensets of indices (label numbering ignored)."""
    labels = np.asarray(labels)
    return {frozenset(np.flatnonzero(labels == c)) for c in np.unique(labels)}


def _tree_labels(merges, m, k):
    return _hc.HCTree(np.zeros((m, 1)), np.ones(m), merges, "EII", "VARS").labels(k)


def test_eii_engine_equals_scipy_ward(rng):
    Z = rng.normal(size=(80, 3))
    ours = _Agglomeration(Z, np.ones(80), "EII").run()
    ref = cut_tree(linkage(Z, method="ward"))
    for k in range(1, 80):
        assert _partition(_tree_labels(ours, 80, k)) == _partition(ref[:, 80 - k])


def test_eii_tree_equals_scipy_ward_partitions(rng):
    X = rng.normal(size=(120, 4)) * [1, 3, 0.5, 2]
    tree = hc_tree(X, criterion="EII", use="VARS")
    # rows are taken in canonical order: map them back to X's rows
    pos = {tuple(r): i for i, r in enumerate(X)}
    idx = np.array([pos[tuple(r)] for r in tree.X])
    ref = cut_tree(linkage(X, method="ward"))
    for k in (1, 2, 3, 5, 10, 60, 119):
        ours = np.empty(120, dtype=int)
        ours[idx] = tree.labels(k)
        assert _partition(ours) == _partition(ref[:, 120 - k])


def test_weighted_ward_equals_repeated_rows(rng):
    Z = rng.normal(size=(30, 2))
    w = rng.integers(1, 4, size=30).astype(float)
    ours = _Agglomeration(Z, w, "EII").run()
    rep = np.repeat(np.arange(30), w.astype(int))
    ref = cut_tree(linkage(Z[rep], method="ward"))
    n = len(rep)
    for k in range(1, 30):
        lab = ref[:, n - k]
        # duplicates merge first (at zero cost), so each row's copies share a cluster
        per_row = np.array([lab[rep == i][0] for i in range(30)])
        assert all(len(set(lab[rep == i])) == 1 for i in range(30))
        assert _partition(_tree_labels(ours, 30, k)) == _partition(per_row)


def _naive_vvv_merges(Z, w):
    """Greedy agglomeration recomputing every cluster's term from its rows (no updates)."""
    n, p = Z.shape
    total = w.sum()
    zc = Z - w @ Z / total
    alpha = float(np.sum(w[:, None] * zc * zc)) / (total * p)

    def term(rows):
        rows = list(rows)
        ww, zz = w[rows], Z[rows]
        mass = ww.sum()
        mu = ww @ zz / mass
        W = (zz - mu).T @ ((zz - mu) * ww[:, None])
        det = np.linalg.det(W / mass) if len(rows) > p else 0.0
        return mass * np.log(det + (np.trace(W) + alpha) / mass)

    clusters = [[i] for i in range(n)]
    seq = []
    while len(clusters) > 1:
        best = None
        for a, b in itertools.combinations(range(len(clusters)), 2):
            cost = term(clusters[a] + clusters[b]) - term(clusters[a]) - term(clusters[b])
            if best is None or cost < best[0] - 1e-12:
                best = (cost, a, b)
        _, a, b = best
        clusters[a] = clusters[a] + clusters[b]
        del clusters[b]
        seq.append({frozenset(c) for c in clusters})
    return seq


@pytest.mark.parametrize("p", [1, 2])
def test_vvv_criterion_matches_naive_computation(rng, p):
    n = 14
    Z = np.vstack([rng.normal(0, 1, (n // 2, p)), rng.normal(3, 0.5, (n // 2, p))])
    Z[:, 0] *= 2.0
    w = rng.uniform(0.5, 2.0, size=n)
    merges = _Agglomeration(Z, w, "VVV").run()
    naive = _naive_vvv_merges(Z, w)
    for k in range(n - 1, 0, -1):
        assert _partition(_tree_labels(merges, n, k)) == naive[n - 1 - k]


def test_default_tree_recovers_parallel_elongated_clusters(rng):
    t = rng.uniform(-6, 6, size=150)
    a = np.c_[t, 0.15 * rng.normal(size=150)]
    b = np.c_[t, 1.5 + 0.15 * rng.normal(size=150)]
    X = np.vstack([a, b])
    pos = {tuple(r): i for i, r in enumerate(X)}
    tree = hc_tree(X)  # VVV on SVD-transformed data, mclust's default
    lab = np.empty(300, dtype=int)
    lab[[pos[tuple(r)] for r in tree.X]] = tree.labels(2)
    assert _partition(lab) == _partition(np.repeat([0, 1], 150))


def test_svd_transformation_is_scaled_principal_components(rng):
    X = rng.normal(size=(50, 3)) @ rng.normal(size=(3, 3)) + 5
    Z = transform(X, np.ones(50), "SVD")
    Xs = (X - X.mean(0)) / X.std(0, ddof=1)
    U, d, _ = np.linalg.svd(Xs, full_matrices=False)
    np.testing.assert_allclose(np.abs(Z), np.abs(U * np.sqrt(d)), rtol=1e-8, atol=1e-10)
    # integer weights act as repeated rows
    w = rng.integers(1, 4, size=50)
    Zw = transform(X, w.astype(float), "SVD")
    Zr = transform(np.repeat(X, w, axis=0), np.ones(w.sum()), "SVD")
    np.testing.assert_allclose(np.abs(np.repeat(Zw, w, axis=0)), np.abs(Zr), rtol=1e-8,
                               atol=1e-10)


def _fit(X, w=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(3, tol=1e-6, max_iter=30, **kw).fit(X, sample_weight=w)


@pytest.mark.parametrize("init", ["hc", "hc-EII", "hc-VARS", "hc-EII-VARS"])
def test_hc_init_deterministic_weights_equal_repeats_in_any_order(rng, init):
    X = np.vstack([rng.normal(m, 1, (40, 2)) for m in (0, 4, 8)])
    w = rng.integers(0, 4, size=len(X))
    a = _fit(X, w.astype(float), init_params=init, random_state=0)
    b = _fit(np.repeat(X, w, axis=0), init_params=init, random_state=1)
    perm = rng.permutation(len(X))
    c = _fit(X[perm], w[perm].astype(float), init_params=init, random_state=2)
    for other in (b, c):
        assert other.n_iter_ == a.n_iter_
        for attr in ("weights_", "means_", "covariances_"):
            np.testing.assert_allclose(getattr(other, attr), getattr(a, attr), rtol=1e-8,
                                       atol=1e-10)


def test_hc_subsample_for_large_inputs(rng, monkeypatch):
    monkeypatch.setattr(_hc, "MAX_ROWS", 60)
    X = np.vstack([rng.normal(m, 1, (200, 2)) for m in (0, 6, 12)])
    tree = hc_tree(X)
    assert tree.X.shape[0] <= 60 and tree.w.sum() == 60
    a = _fit(X, init_params="hc", random_state=0)
    b = _fit(X, init_params="hc", random_state=1)
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_allclose(np.sort(a.means_[:, 0]), [0, 6, 12], atol=0.3)


def test_hc_needs_enough_distinct_rows():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]]), 4, axis=0)
    with pytest.raises(ValueError, match="cannot make 4 clusters from 3 distinct rows"):
        GaussianMixture(4, init_params="hc").fit(X)


def test_bad_hc_options():
    with pytest.raises(ValueError, match="criterion must be 'VVV' or 'EII'"):
        hc_tree(np.zeros((3, 2)), criterion="VVI")
    with pytest.raises(ValueError, match="use must be 'SVD' or 'VARS'"):
        hc_tree(np.zeros((3, 2)), use="PCS")
    with pytest.raises(ValueError, match="'init_params'.*'hc'.*'hc-EII-VARS'"):
        GaussianMixture(2, init_params="hc-VII").fit(np.zeros((5, 2)))


def test_hc_timing_10k_rows(rng):
    """Not a timed assertion: prints the cost of the start on 10^4 rows (a 2000-row tree)."""
    X = rng.normal(size=(10_000, 8))
    for init in ("hc", "hc-EII"):
        t0 = time.perf_counter()
        tree = hc_tree(X, criterion=_hc.HC_INITS[init][0])
        print(f"{init}: tree on {tree.X.shape[0]} of 10^4 rows in "
              f"{time.perf_counter() - t0:.2f} s")
    assert agglomerate(np.zeros((1, 2)), np.ones(1), "VVV").shape == (0, 2)


# ---------------------------------------------------------------------------------------------
# select with init_params="hc": one tree for every K


def test_select_shares_one_tree_and_matches_the_estimator(rng, monkeypatch):
    from gaussmix import selection
    X = np.vstack([rng.normal(m, 1, (60, 2)) for m in (0, 5, 10)])
    calls = []
    real = selection.hc_tree

    def counting(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(selection, "hc_tree", counting)
    res = selection.select(X, [1, 2, 3, 4], ["full", "diag"], init_params="hc",
                           validation_fraction=None, random_state=0)
    assert len(calls) == 1
    for (k, ct), gm in res.estimators_.items():
        assert gm.init_params == "hc"
        ref = GaussianMixture(**gm.get_params()).fit(X)
        assert ref.n_iter_ == gm.n_iter_
        np.testing.assert_allclose(ref.means_, gm.means_, rtol=1e-10, atol=1e-12)
    assert res.best_params_["n_components"] == 3


def test_select_all_structures_mclust_grid_summary_and_progress(rng, capsys):
    from gaussmix import covariance
    from gaussmix.selection import _check_components, select
    assert _check_components("mclust") == list(range(1, 10))
    with pytest.raises(ValueError, match="'n_components' must contain integers >= 1, or be 'mclust'"):
        _check_components("all")
    X = np.vstack([rng.normal(m, 1, (50, 2)) for m in (0, 6)])
    res = select(X, [1, 2], "all", validation_fraction=None, random_state=0, verbose=1)
    distinct = {id(covariance.get(n)) for n in covariance.names()}
    assert len({r["covariance_type"] for r in res.table}) == len(distinct)
    assert "select" in capsys.readouterr().err
    text = res.summary(top=3)
    lines = text.splitlines()
    assert lines[0] == "Top 3 models based on the BIC criterion:"
    assert lines[1].split() == [f"{r['covariance_type']},{r['n_components']}"
                                for r in res.table[:3]]
    # mclust's sign: 2 log L - p log n, the negative of gaussmix's bic
    assert [float(v) for v in lines[2].split()] == pytest.approx(
        [-r["bic"] for r in res.table[:3]], abs=1e-3)
    with pytest.raises(ValueError, match="'top' must be an int >= 1"):
        res.summary(top=0)
