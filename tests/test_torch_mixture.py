"""gaussmix.torch.GaussianMixture, the differentiable M-step and the gradient trainer."""
import doctest
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from scipy.stats import multivariate_normal  # noqa: E402
from sklearn.mixture import GaussianMixture as SkGMM  # noqa: E402
from sklearn.mixture._gaussian_mixture import _estimate_gaussian_parameters  # noqa: E402

import gaussmix.torch as gt  # noqa: E402
from gaussmix.torch import GaussianMixture, fit_gradient, weighted_mstep  # noqa: E402
from gaussmix.torch._gradient import _kmeans_resp, init_from_resp  # noqa: E402

COV_TYPES = ["full", "tied", "diag", "spherical"]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def data(rng):
    A = rng.normal(size=(3, 3))
    return np.vstack([rng.normal(-2, 1, (120, 3)),
                      rng.normal(2, 0.5, (100, 3)) @ A,
                      rng.normal(0, 2, (80, 3)) + [0, 5, 0]])


def full_covariances(est):
    k, d = est.means_.shape
    ct = est.covariance_type
    if ct == "full":
        return est.covariances_
    if ct == "tied":
        return np.broadcast_to(est.covariances_, (k, d, d))
    if ct == "diag":
        return np.stack([np.diag(c) for c in est.covariances_])
    return np.stack([np.eye(d) * c for c in est.covariances_])


def scipy_mixture_logpdf(X, weights, means, covs):
    comp = np.stack([np.log(w) + multivariate_normal(m, c).logpdf(X)
                     for w, m, c in zip(weights, means, covs)], axis=1)
    mx = comp.max(1, keepdims=True)
    return (mx + np.log(np.exp(comp - mx).sum(1, keepdims=True)))[:, 0]


@pytest.mark.parametrize("ct", COV_TYPES)
def test_parity_with_estimator_and_scipy(data, ct):
    em = SkGMM(3, covariance_type=ct, random_state=0).fit(data)
    gm = GaussianMixture.from_estimator(em)
    log_prob, log_resp = gm(torch.as_tensor(data))
    assert log_prob.dtype == torch.float64
    np.testing.assert_allclose(log_prob.detach().numpy(), em.score_samples(data), atol=1e-6, rtol=0)
    np.testing.assert_allclose(torch.exp(log_resp).detach().numpy(), em.predict_proba(data),
                               atol=1e-6, rtol=0)
    ref = scipy_mixture_logpdf(data, em.weights_, em.means_, full_covariances(em))
    np.testing.assert_allclose(log_prob.detach().numpy(), ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("ct", COV_TYPES)
def test_to_estimator_roundtrip(data, ct):
    em = SkGMM(3, covariance_type=ct, random_state=1).fit(data)
    est = GaussianMixture.from_estimator(em).to_estimator()
    for attr in ("weights_", "means_", "precisions_cholesky_", "precisions_", "covariances_"):
        np.testing.assert_allclose(getattr(est, attr), getattr(em, attr), atol=1e-9, rtol=1e-7,
                                   err_msg=attr)
    np.testing.assert_allclose(est.score_samples(data), em.score_samples(data), atol=1e-6, rtol=0)
    np.testing.assert_array_equal(est.predict(data), em.predict(data))
    assert est.n_features_in_ == 3 and est.converged_ == em.converged_
    assert est.n_iter_ == em.n_iter_ and est.lower_bound_ == pytest.approx(em.lower_bound_)


@pytest.mark.parametrize("ct", COV_TYPES)
def test_any_real_parameters_give_valid_mixture(rng, ct):
    gm = GaussianMixture(4, 3, ct, dtype=torch.float64, random_state=0)
    with torch.no_grad():
        for p in gm.parameters():
            p.copy_(torch.as_tensor(rng.normal(size=tuple(p.shape))))
    assert float(gm.weights.detach().sum()) == pytest.approx(1.0)
    est = gm.to_estimator()
    covs = full_covariances(est)
    assert np.all(np.linalg.eigvalsh(covs) > 0)
    X = rng.normal(size=(50, 3))
    ref = scipy_mixture_logpdf(X, est.weights_, est.means_, covs)
    np.testing.assert_allclose(gm.score_samples(X).numpy(), ref, atol=1e-6, rtol=0)
    # covariances property agrees with the NumPy conversion and is the inverse of precisions
    np.testing.assert_allclose(gm.covariances.detach().numpy(), est.covariances_, rtol=1e-9)
    if ct in ("full", "tied"):
        prod = gm.covariances.detach() @ gm.precisions.detach()
        np.testing.assert_allclose(prod.numpy(), np.broadcast_to(np.eye(3), prod.shape), atol=1e-8)


@pytest.mark.parametrize("ct", COV_TYPES)
def test_sample_moments_and_determinism(data, ct):
    em = SkGMM(2, covariance_type=ct, random_state=0).fit(data)
    gm = GaussianMixture.from_estimator(em)
    X, labels = gm.sample(40000, generator=3)
    X2, labels2 = gm.sample(40000, generator=3)
    assert torch.equal(X, X2) and torch.equal(labels, labels2)
    X, labels = X.numpy(), labels.numpy()
    covs = full_covariances(em)
    for j in range(2):
        sel = X[labels == j]
        assert sel.shape[0] / len(X) == pytest.approx(em.weights_[j], abs=0.01)
        scale = np.sqrt(np.diag(covs[j]))
        np.testing.assert_allclose(sel.mean(0), em.means_[j], atol=5 * scale.max() / np.sqrt(len(sel)))
        np.testing.assert_allclose(np.cov(sel.T), covs[j], atol=0.06 * np.abs(covs[j]).max())


@pytest.mark.parametrize("ct", COV_TYPES)
def test_gradcheck(ct):
    gm = GaussianMixture(2, 3, ct, dtype=torch.float64, random_state=0)
    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0),
                    requires_grad=True)
    params = [p for p in gm.parameters()]
    names = [n for n, _ in gm.named_parameters()]
    with torch.no_grad():
        for p in params:
            p.add_(0.3 * torch.randn(p.shape, dtype=torch.float64,
                                     generator=torch.Generator().manual_seed(1)))

    def fn(x, *ps):
        state = dict(zip(names, ps))
        out = torch.func.functional_call(gm, state, (x,))
        return out[0], out[1]

    assert torch.autograd.gradcheck(fn, (x, *[p.detach().clone().requires_grad_() for p in params]))


@pytest.mark.parametrize("ct", COV_TYPES)
def test_weighted_mstep_matches_sklearn_and_gradcheck(data, rng, ct):
    resp = rng.dirichlet(np.ones(3), size=len(data))
    p = weighted_mstep(torch.as_tensor(data), torch.as_tensor(resp), ct, reg_covar=1e-6)
    nk, means, covs = _estimate_gaussian_parameters(data, resp, 1e-6, ct)
    np.testing.assert_allclose(torch.exp(p["log_weights"]).numpy(), nk / nk.sum(), rtol=1e-10)
    np.testing.assert_allclose(p["means"].numpy(), means, rtol=1e-10, atol=1e-12)
    if ct in ("full", "tied"):
        L = p["chol"].numpy()
        np.testing.assert_allclose(np.linalg.inv(np.swapaxes(L, -1, -2) @ L), covs, rtol=1e-8)
    else:
        np.testing.assert_allclose(torch.exp(-2 * p["log_diag"]).numpy(), covs, rtol=1e-8)

    x = torch.as_tensor(data[:6])
    r = torch.as_tensor(resp[:6], dtype=torch.float64).requires_grad_()

    def nll(r):
        q = weighted_mstep(x, r, ct, reg_covar=0.1)
        return gt.mixture_log_prob(x, q, ct)

    assert torch.autograd.gradcheck(nll, (r,))


@pytest.mark.parametrize("ct", ["full", "diag"])
def test_fit_gradient_reaches_em_optimum(data, ct):
    Xt = torch.as_tensor(data)
    init = init_from_resp(Xt, _kmeans_resp(Xt, 3, 0), ct)
    est0 = init.to_estimator()
    em = SkGMM(3, covariance_type=ct, weights_init=est0.weights_, means_init=est0.means_,
               precisions_init=est0.precisions_, tol=1e-8, max_iter=500).fit(data)
    em_ll = em.score(data)
    gm = fit_gradient(data, 3, covariance_type=ct, init=init, lr=0.05, batch_size=100,
                      max_epochs=300, patience=15, random_state=0)
    grad_ll = gm.to_estimator().score(data)
    assert grad_ll > em_ll - 0.01 * abs(em_ll)
    assert grad_ll > est0.score(data)  # it really trained
    assert gm.lower_bound_ == pytest.approx(grad_ll, abs=1e-9)
    assert len(gm.history_) == gm.n_iter_ + 1


def test_fit_gradient_deterministic_and_module_fit(data):
    a = fit_gradient(data, 2, covariance_type="tied", max_epochs=5, random_state=7)
    b = fit_gradient(data, 2, covariance_type="tied", max_epochs=5, random_state=7)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    before = a.score(data)
    a.fit(data, max_epochs=5, optimizer="sgd", lr=1e-3, random_state=0)
    assert a.score(data) >= before - 1e-12  # best epoch kept, never worse than the start


def test_fit_gradient_progress_on_stderr(data, capsys):
    fit_gradient(data, 2, covariance_type="spherical", max_epochs=3, verbose=1,
                 verbose_interval=1, random_state=0)
    err = capsys.readouterr().err
    assert "epoch 1/3" in err and "epoch 3/3" in err and "loss=" in err


def test_float32_and_tensor_input_keep_dtype(data):
    X32 = torch.as_tensor(data, dtype=torch.float32)
    gm = fit_gradient(X32, 2, covariance_type="diag", max_epochs=3, random_state=0)
    assert gm.means.dtype == torch.float32
    lp, _ = gm(X32)
    assert lp.dtype == torch.float32 and torch.isfinite(lp).all()


@pytest.mark.parametrize("device", DEVICES)
def test_runs_on_the_input_device(data, device):
    X = torch.as_tensor(data, device=device)
    gm = fit_gradient(X, 2, covariance_type="full", max_epochs=2, random_state=0)
    assert gm.means.device.type == device
    assert gm(X)[0].device.type == device
    assert gm.sample(10, generator=0)[0].device.type == device


def test_bad_input_errors(data):
    with pytest.raises(ValueError, match="NaN"):
        bad = data.copy()
        bad[0, 0] = np.nan
        fit_gradient(bad, 2)
    with pytest.raises(ValueError, match="2-D"):
        fit_gradient(data[:, 0], 2)
    with pytest.raises(ValueError, match="'covariance_type' parameter must be one of"):
        fit_gradient(data, 2, covariance_type="banana")
    with pytest.raises(ValueError, match="optimizer"):
        fit_gradient(data, 2, optimizer="lbfgs")
    with pytest.raises(ValueError, match="n_components"):
        fit_gradient(data, 0)
    with pytest.raises(ValueError, match="n_components=500"):
        fit_gradient(data[:10], 500)
    gm = GaussianMixture(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"shape \(n_samples, 3\)"):
        gm(torch.zeros(4, 2, dtype=torch.float64))
    with pytest.raises(TypeError, match="fitted"):
        GaussianMixture.from_estimator(SkGMM(2))
    em = SkGMM(2, covariance_type="diag").fit(data)
    with pytest.raises(ValueError, match="asked for"):
        fit_gradient(data, 2, covariance_type="full", init=em)
    with pytest.raises(TypeError, match="init must be"):
        fit_gradient(data, 2, init=3.5)


def test_core_package_does_not_import_torch():
    code = "import sys, gaussmix; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={"PYTHONPATH": "src", "PATH": ""}, cwd=str(_repo_root()))


def _repo_root():
    from pathlib import Path

    return Path(__file__).resolve().parents[1]


def test_docstring_examples():
    from gaussmix.torch import _gradient, _mixture

    for mod in (_mixture, _gradient):
        res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
        assert res.failed == 0, mod.__name__
