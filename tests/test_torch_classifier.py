"""GMMClassifierHead and DeepGMMClassifier."""
import doctest

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from scipy.stats import multivariate_normal  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.mixture import GaussianMixture as SkGMM  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from gaussmix.torch import DeepGMMClassifier, GMMClassifierHead  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


@pytest.mark.parametrize("ct", ["full", "diag", "spherical", "tied"])
def test_head_matches_scipy_reference(ct):
    rng = np.random.default_rng(0)
    head = GMMClassifierHead(3, 2, 2, covariance_type=ct, dtype=torch.float64, random_state=0)
    with torch.no_grad():
        for p in head.parameters():
            p.copy_(torch.as_tensor(rng.normal(scale=0.5, size=tuple(p.shape))))
    z = rng.normal(size=(7, 3))
    log_post = head(torch.as_tensor(z)).detach().numpy()
    est = head.mixture.to_estimator()
    covs = est.covariances_
    if ct == "tied":
        covs = np.broadcast_to(covs, (4, 3, 3))
    elif ct == "diag":
        covs = np.stack([np.diag(c) for c in covs])
    elif ct == "spherical":
        covs = np.stack([np.eye(3) * c for c in covs])
    w = torch.softmax(head.mixture.weight_logits.detach().view(2, 2), 1).numpy()
    prior = torch.softmax(head.prior_logits.detach(), 0).numpy()
    joint = np.zeros((7, 2))
    for c in range(2):
        dens = sum(w[c, m] * multivariate_normal(est.means_[2 * c + m], covs[2 * c + m]).pdf(z)
                   for m in range(2))
        joint[:, c] = prior[c] * dens
    ref = np.log(joint / joint.sum(1, keepdims=True))
    np.testing.assert_allclose(log_post, ref, atol=1e-8)


def test_head_init_from_features_is_per_class_em():
    rng = np.random.default_rng(1)
    Z = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(4, 0.5, (40, 2))])
    y = np.r_[np.zeros(60, int), np.ones(40, int)]
    head = GMMClassifierHead(2, 2, 1, covariance_type="full", dtype=torch.float64)
    head.init_from_features(Z, y, reg_covar=1e-6, random_state=0)
    ll = head.class_log_likelihood(torch.as_tensor(Z)).detach().numpy()
    for c in range(2):
        ref = SkGMM(1, covariance_type="full", reg_covar=1e-6).fit(Z[y == c]).score_samples(Z)
        np.testing.assert_allclose(ll[:, c], ref, atol=1e-6)
    np.testing.assert_allclose(torch.softmax(head.prior_logits, 0).detach().numpy(), [0.6, 0.4])
    with pytest.raises(ValueError, match="class indices"):
        head.init_from_features(Z, y + 5)


def test_classifier_beats_chance_on_digits(digits, capsys):
    Xtr, Xte, ytr, yte = digits
    clf = DeepGMMClassifier(hidden_layer_sizes=(32,), max_epochs=15, lr=3e-3, verbose=1,
                            random_state=0).fit(Xtr, ytr)
    acc = clf.score(Xte, yte)
    assert acc > 0.85  # chance is 0.10
    proba = clf.predict_proba(Xte)
    assert proba.shape == (len(Xte), 10)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], clf.predict(Xte))
    assert "epoch 10/15" in capsys.readouterr().err
    assert clf.transform(Xte).shape == (len(Xte), 32)


def test_em_initialised_and_separate_modes(digits):
    Xtr, Xte, ytr, yte = digits
    sep = DeepGMMClassifier(hidden_layer_sizes=(16,), head_init="em", freeze_features=True,
                            max_epochs=10, lr=3e-3, random_state=0).fit(Xtr, ytr)
    assert sep.score(Xte, yte) > 0.8
    # separately optimised = per-class EM on the frozen features
    Z = sep.transform(Xtr)
    head = sep.network_.head
    mix = head.mixture.to_estimator()
    assert mix.means_.shape == (10, 16)
    phases = {h["phase"] for h in sep.history_}
    assert phases == {"pretrain"}
    joint = DeepGMMClassifier(hidden_layer_sizes=(16,), head_init="em", max_epochs=10,
                              lr=3e-3, random_state=0).fit(Xtr, ytr)
    assert {h["phase"] for h in joint.history_} == {"pretrain", "joint"}
    assert joint.score(Xte, yte) > 0.8
    assert Z.shape == (len(Xtr), 16)


def test_deterministic_and_string_labels():
    X, y = load_digits(n_class=3, return_X_y=True)
    names = np.array(["zero", "one", "two"])[y]
    a = DeepGMMClassifier(hidden_layer_sizes=(8,), max_epochs=5, random_state=3).fit(X, names)
    b = clone(a).fit(X, names)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert set(a.predict(X)) <= {"zero", "one", "two"}
    assert list(a.classes_) == ["one", "two", "zero"]


def test_softmax_head_and_depth():
    X, y = load_digits(n_class=4, return_X_y=True)
    clf = DeepGMMClassifier(hidden_layer_sizes=(16, 16), head="softmax", max_epochs=5,
                            random_state=0).fit(X, y)
    n_lin = 64 * 16 + 16 + 16 * 16 + 16 + 16 * 4 + 4
    assert clf.n_parameters_ == n_lin


def test_bad_input_errors(digits):
    Xtr, _, ytr, _ = digits
    clf = DeepGMMClassifier(max_epochs=1)
    with pytest.raises(NotFittedError):
        clf.predict(Xtr)
    with pytest.raises(ValueError, match="at least 2 classes"):
        clf.fit(Xtr, np.zeros(len(Xtr)))
    with pytest.raises(ValueError, match="y must have shape"):
        clf.fit(Xtr, ytr[:-1])
    bad = Xtr.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(bad, ytr)
    with pytest.raises(ValueError, match="head_init='em' needs head='gmm'"):
        DeepGMMClassifier(head="softmax", head_init="em").fit(Xtr, ytr)
    with pytest.raises(ValueError, match="covariance_type"):
        DeepGMMClassifier(covariance_type="round").fit(Xtr, ytr)
    clf.fit(Xtr[:200], ytr[:200])
    with pytest.raises(ValueError, match="features"):
        clf.predict(Xtr[:, :10])
    with pytest.raises(ValueError, match="n_classes"):
        GMMClassifierHead(4, 1)


def test_docstring_examples():
    from gaussmix.torch import _classifier

    assert doctest.testmod(_classifier).failed == 0


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_tensor_input_uses_its_device(device):
    X, y = load_digits(n_class=3, return_X_y=True)
    Xt = torch.as_tensor(X, dtype=torch.float32, device=device)
    clf = DeepGMMClassifier(hidden_layer_sizes=(8,), max_epochs=3, random_state=0).fit(Xt, y)
    assert next(clf.network_.parameters()).device.type == device
    assert clf.predict_proba(Xt).shape == (len(X), 3)


def test_tied_head_from_em_is_the_count_weighted_class_average():
    # the shared precision factor comes from the covariance model (triangular, PD), so the
    # EM head initialisation works for a shared covariance too
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1, 2], [60, 40, 50])
    Z = rng.normal(size=(150, 3)) + 3.0 * y[:, None]
    head = GMMClassifierHead(3, 3, 2, covariance_type="tied", dtype=torch.float64)
    head.init_from_features(Z, y, reg_covar=1e-3, random_state=0)
    from gaussmix import GaussianMixture as EM

    ref = sum(np.sum(y == c) * EM(2, covariance_type="tied", reg_covar=1e-3, max_iter=100,
                                  random_state=head_seed(0)).fit(Z[y == c]).covariances_
              for c in range(3)) / len(y)
    np.testing.assert_allclose(head.mixture.covariances.detach().numpy(), ref, rtol=1e-8)
    clf = DeepGMMClassifier(hidden_layer_sizes=(8,), covariance_type="tied", head_init="em",
                            max_epochs=5, random_state=0).fit(Z, y)
    assert clf.score(Z, y) > 0.9


def head_seed(random_state):
    from gaussmix.torch._validation import seed_from

    return seed_from(random_state)
