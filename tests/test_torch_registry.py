"""gaussmix.torch asks the covariance model, not its name; the one training loop; validation."""
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from scipy.stats import multivariate_normal  # noqa: E402
from sklearn.mixture import GaussianMixture as SkGMM  # noqa: E402

import gaussmix.torch as gt  # noqa: E402
from gaussmix import covariance  # noqa: E402
from gaussmix.covariance import CovarianceModel  # noqa: E402
from gaussmix.covariance._diag import DiagCovariance  # noqa: E402
from gaussmix.covariance._full import FullCovariance  # noqa: E402
from gaussmix.covariance._tied import TiedCovariance  # noqa: E402
from gaussmix.torch import GaussianMixture  # noqa: E402
from gaussmix.torch._training import Evaluation, Progress, train_epochs  # noqa: E402

TORCH_DIR = Path(gt.__file__).parent


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the covariance registry, so registrations end with the test."""
    monkeypatch.setattr(covariance, "_REGISTRY", dict(covariance._REGISTRY))
    return covariance


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    return np.vstack([rng.normal(-2, 1, (80, 3)), rng.normal(2, 0.5, (70, 3)) @ rng.normal(size=(3, 3))])


class MyFull(FullCovariance):
    name = "my-full"


class MyTied(TiedCovariance):
    name = "my-tied"


def _plain_diag():
    """A covariance model with the numpy interface of 'diag' but no torch evaluation."""
    ns = {m: getattr(DiagCovariance, m) for m in CovarianceModel.__abstractmethods__}
    cls = type("PlainDiag", (CovarianceModel,), {**ns, "name": "plain-diag", "full_scatter": False})
    return cls()


@pytest.mark.parametrize("custom, builtin", [(MyFull, "full"), (MyTied, "tied")])
def test_registered_subclass_inherits_the_torch_evaluation(registry, data, custom, builtin):
    registry.register(custom())
    em = SkGMM(2, covariance_type=builtin, random_state=0).fit(data)
    est = SimpleNamespace(covariance_type=custom.name, weights_=em.weights_, means_=em.means_,
                          precisions_cholesky_=em.precisions_cholesky_)
    gm = GaussianMixture.from_estimator(est)
    assert gm.covariance_type == custom.name and isinstance(gm.covariance_model, custom)
    # the same density as scikit-learn's and scipy's for the built-in structure
    lp = gm.score_samples(data).numpy()
    np.testing.assert_allclose(lp, em.score_samples(data), atol=1e-8, rtol=0)
    covs = np.broadcast_to(em.covariances_, (2, 3, 3))
    ref = np.log(sum(w * multivariate_normal(m, c).pdf(data)
                     for w, m, c in zip(em.weights_, em.means_, covs)))
    np.testing.assert_allclose(lp, ref, atol=1e-8, rtol=0)
    np.testing.assert_allclose(gm.covariances.detach().numpy(), em.covariances_, rtol=1e-8)
    assert gm.n_parameters() == GaussianMixture.from_estimator(em).n_parameters()
    back = gm.to_estimator()
    assert back.covariance_type == custom.name
    np.testing.assert_allclose(back.precisions_cholesky_, em.precisions_cholesky_, rtol=1e-10)
    # gradient fit, M-step and sampling: identical to the built-in model, step for step
    a = gt.fit_gradient(data, 2, covariance_type=custom.name, max_epochs=3, random_state=1)
    b = gt.fit_gradient(data, 2, covariance_type=builtin, max_epochs=3, random_state=1)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert torch.equal(a.sample(50, generator=0)[0], b.sample(50, generator=0)[0])
    x = torch.as_tensor(data)
    resp = torch.softmax(torch.as_tensor(np.random.default_rng(0).normal(size=(len(data), 2))), 1)
    pa = gt.weighted_mstep(x, resp, custom.name)
    pb = gt.weighted_mstep(x, resp, registry.get(builtin))
    assert torch.equal(gt.mixture_log_prob(x, pa, custom.name), gt.mixture_log_prob(x, pb, builtin))
    # the classifier head builds on the same module
    ha = gt.GMMClassifierHead(3, 2, 2, custom.name, dtype=torch.float64, random_state=0)
    hb = gt.GMMClassifierHead(3, 2, 2, builtin, dtype=torch.float64, random_state=0)
    assert torch.equal(ha(x), hb(x))


def test_model_without_torch_evaluation_gets_a_clear_error(registry, data):
    model = registry.register(_plain_diag())
    assert not model.supports_torch
    msg = "covariance model 'plain-diag' is not supported in torch"
    with pytest.raises(ValueError, match=msg):
        GaussianMixture(2, 3, "plain-diag")
    with pytest.raises(ValueError, match=msg):
        GaussianMixture(2, 3, model)
    with pytest.raises(ValueError, match=msg):
        gt.fit_gradient(data, 2, covariance_type="plain-diag")
    with pytest.raises(ValueError, match=msg):
        gt.weighted_mstep(torch.as_tensor(data), torch.ones(len(data), 2), "plain-diag")
    with pytest.raises(ValueError, match=msg):
        gt.GMMClassifierHead(3, 2, covariance_type="plain-diag")
    with pytest.raises(ValueError, match=msg):
        gt.DeepGMMClassifier(covariance_type="plain-diag").fit(data, np.arange(len(data)) % 2)
    with pytest.raises(ValueError, match=msg):
        gt.segment_deep(np.zeros((8, 8)), 2, covariance_type="plain-diag")
    est = SimpleNamespace(covariance_type="plain-diag", weights_=np.ones(2) / 2,
                          means_=np.zeros((2, 3)), precisions_cholesky_=np.ones((2, 3)))
    with pytest.raises(ValueError, match=msg + r".*use one of \['full', 'tied', 'diag', 'spherical'\]"):
        GaussianMixture.from_estimator(est)


def test_unknown_name_lists_the_registered_models(registry):
    registry.register(MyFull())
    with pytest.raises(ValueError, match="must be one of .*'my-full'.*got 'banana'"):
        GaussianMixture(2, 3, "banana")


def test_no_covariance_name_ladders_in_torch():
    pattern = re.compile(r"""(==|!=|\bin)\s*\(?\s*["'](full|tied|diag|spherical)["']""")
    for path in TORCH_DIR.glob("*.py"):
        hits = pattern.findall(path.read_text())
        assert not hits, f"{path.name} dispatches on covariance names: {hits}"
    for path in TORCH_DIR.glob("*.py"):
        assert "log(2.0 * math.pi)" not in path.read_text() and "_LOG_2PI =" not in path.read_text()


# --------------------------------------------------------------------------- training loop
def _run(values, **kw):
    """train_epochs over a scripted sequence of monitored values; returns result and log."""
    log = []

    def step(epoch):
        log.append(("step", epoch))

    def evaluate(epoch):
        v = values[epoch - 1]
        return Evaluation(loss=float(v), monitor=v)

    res = train_epochs(step, evaluate, max_epochs=len(values), progress=Progress("t", 0),
                       snapshot=lambda: len(log), restore=lambda s: log.append(("restore", s)),
                       on_epoch=lambda e, ev: log.append(("epoch", e)), **kw)
    return res, log


def test_train_epochs_early_stopping_and_best_state():
    res, log = _run([5.0, 4.0, 4.0, 3.99, 4.5, 1.0], patience=3, tol=0.05)
    # 3.99 is not an improvement of more than tol: epochs 3-5 are stale, stop after 5
    assert res.stopped and res.n_epochs == 5 and res.best == 4.0
    assert res.best_state == 4  # snapshot taken after epoch 2 (step, epoch, step, epoch)
    assert log[-1] == ("restore", 4)
    assert [x for x in log if x[0] == "step"] == [("step", e) for e in range(1, 6)]
    # without patience every epoch runs; the minimum wins
    res, _ = _run([5.0, 4.0, 4.0, 3.99, 4.5, 1.0])
    assert not res.stopped and res.n_epochs == 6 and res.best == 1.0


def test_train_epochs_maximize_from_a_start_value():
    res, log = _run([0.5, 2.0, 1.0], maximize=True, start=1.0, patience=1)
    # the start counts as the first best: 0.5 is stale, patience 1 stops at once
    assert res.stopped and res.n_epochs == 1 and res.best == 1.0
    assert res.best_state == 0 and log[-1] == ("restore", 0)


def test_train_epochs_unjudged_epochs_never_stop():
    seen = []
    res = train_epochs(lambda e: None, lambda e: Evaluation(loss=1.0), max_epochs=4,
                       patience=1, progress=Progress("t", 0), on_epoch=lambda e, ev: seen.append(e))
    assert seen == [1, 2, 3, 4] and not res.stopped and res.best_state is None


def test_train_epochs_non_finite_loss_is_an_error():
    with pytest.raises(FloatingPointError, match="epoch 2.*Lower the learning rate"):
        train_epochs(lambda e: None, lambda e: Evaluation(loss=[1.0, np.nan][e - 1]),
                     max_epochs=3, progress=Progress("t", 0))


def test_deep_training_shows_a_progress_bar_when_verbose(data, capsys):
    gt.fit_gradient(data, 2, covariance_type="diag", max_epochs=3, verbose=1,
                    verbose_interval=100, random_state=0)
    err = capsys.readouterr().err
    assert "fit_gradient" in err and "3/3" in err and "epoch" in err  # tqdm: n/total epochs
    gt.fit_gradient(data, 2, covariance_type="diag", max_epochs=3, random_state=0)
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("call, message", [
    (lambda X: gt.fit_gradient(X, 2, lr=0), r"'lr' parameter of fit_gradient must be a float in the range \(0, inf\)"),
    (lambda X: gt.fit_gradient(X, 2, batch_size=0), "'batch_size' parameter of fit_gradient"),
    (lambda X: gt.fit_gradient(X, 2, tol=-1.0), "'tol' parameter of fit_gradient"),
    (lambda X: gt.fit_gradient(X, 2, init="kmeans++"), "'init' parameter of fit_gradient must be one of 'kmeans', 'random'"),
    (lambda X: GaussianMixture(2, 3, dtype=torch.float64).fit(X, patience=0), "'patience' parameter"),
    (lambda X: GaussianMixture(2, 3).sample(0), "'n_samples' parameter of GaussianMixture.sample"),
    (lambda X: GaussianMixture(2, 3, validate_args="yes"), "'validate_args' parameter"),
    (lambda X: gt.DeepGMMClassifier(validation_fraction=1.0).fit(X, np.arange(len(X)) % 2),
     r"'validation_fraction' parameter of DeepGMMClassifier must be a float in the range \(0, 1\)"),
    (lambda X: gt.DeepGMMClassifier(hidden_layer_sizes=(4, 0)).fit(X, np.arange(len(X)) % 2),
     "'hidden_layer_sizes' parameter of DeepGMMClassifier"),
    (lambda X: gt.segment_deep(np.zeros((8, 8)), 2, depth=-1), "'depth' parameter of segment_deep"),
    (lambda X: gt.UNet(0, 2), "'in_channels' parameter of UNet"),
])
def test_parameters_checked_by_the_shared_table(data, call, message):
    with pytest.raises(ValueError, match=message):
        call(data)
