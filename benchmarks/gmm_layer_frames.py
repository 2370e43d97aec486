"""The GMM layer (Variani et al., ICASSP 2015) against a softmax layer on many-class frames.

The paper's claim is for acoustic frame classification: many classes (phone states), each
class a mixture of sub-populations (speakers, contexts), and the GMM layer trained jointly
with the feature network. This benchmark builds such a task synthetically and compares, on
the same feature network ("trunk") and training budget,

(a) a softmax output layer,
(b) the GMM layer with 1 diagonal Gaussian per class,
(c) the GMM layer with M = 2, 4, 8 diagonal Gaussians per class (and the M picked on the
    validation split), trained jointly with the trunk from a data initialisation,
(c') the GMM layer initialised by EM on the features of a softmax-trained trunk and then
    fine-tuned jointly (``head_init="em"``), for M in ``EM_INIT`` (learning rate: the one
    chosen for the softmax row, as the first phase is that softmax training),
(d) a non-deep reference: gaussmix's ``GaussianMixtureClassifier`` on the raw frames, one
    diagonal Gaussian per class or (MclustDA) a diagonal mixture per class of size chosen by
    BIC among 1, 2, 4, 8, whichever validates better.

Data: ``C`` phone-like classes of 39-D MFCC-like frames (13 "cepstra" with spread falling
with the index, their "deltas" and "delta-deltas" at smaller scales, as in
``benchmarks/ubm.py``). Each class has ``S`` sub-modes (speakers/contexts) scattered around
the class centre as widely as the class centres themselves, with diagonal noise large
enough that classes overlap. The task (class parameters) is fixed; each seed draws a new
training set and a new network initialisation. Validation and test sets are fixed draws.

Hyper-parameters are chosen only on the validation split: the learning rate of every row
(from ``LRS``) on seed 0, and the "M by validation" row picks, per seed, the M of best
validation accuracy. Epochs: early stopping on a 10 % split of the training set (patience
``PATIENCE``, at most ``MAX_EPOCHS``). Test accuracy is reported as mean ± std over the
seeds, at several training-set sizes. Run from the repository root::

    PYTHONPATH=src python -m benchmarks.gmm_layer_frames           # about 10 minutes, 1 thread
    PYTHONPATH=src python -m benchmarks.gmm_layer_frames --quick   # smoke run, seconds

Writes ``benchmarks/results/gmm_layer_frames.md`` (``--quick`` writes nothing unless
``--out`` is given).
"""
from __future__ import annotations

import argparse
import platform
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Setup:
    n_classes: int = 40
    n_submodes: int = 6
    n_features: int = 39
    noise: float = 3.5
    sizes: tuple = (16, 48, 144)  # training frames per class
    n_val: int = 25  # per class
    n_test: int = 50  # per class
    seeds: tuple = (0, 1, 2)
    components: tuple = (1, 2, 4, 8)
    lrs: tuple = (1e-3, 3e-3)
    trunk: tuple = (128, 40)
    max_epochs: tuple = (200, 100, 60)  # per size: the budget in optimiser steps stays similar
    patience: int = 8
    batch_size: int = 64
    mclust_components: list = field(default_factory=lambda: [1, 2, 4, 8])
    em_init: tuple = (4,)


QUICK = Setup(n_classes=6, n_submodes=3, noise=3.5, sizes=(12,), n_val=6, n_test=10,
              seeds=(0, 1), components=(1, 2), lrs=(3e-3,), trunk=(16, 8), max_epochs=(4,),
              patience=2, mclust_components=[1, 2], em_init=(2,))


def frames(setup: Setup, n_per_class: int, split: int, task_seed: int = 0):
    """``n_per_class`` frames of every class; ``split`` seeds the draw, ``task_seed`` the task.

    Returns X of shape (C·n_per_class, d) float32 and y of shape (C·n_per_class,).
    """
    C, S, d = setup.n_classes, setup.n_submodes, setup.n_features
    rng = np.random.default_rng([task_seed, C, S, d])
    n_static = (d + 2) // 3
    idx = np.arange(d) % n_static
    block = np.arange(d) // n_static  # 0 static, 1 delta, 2 delta-delta
    scale = (1.0 / (1.0 + idx / 3.0)) * np.array([1.0, 0.4, 0.15])[block]
    centres = rng.normal(0, 1, (C, d)) * scale * 2.0
    submeans = centres[:, None] + rng.normal(0, 1, (C, S, d)) * scale * 2.0
    sds = setup.noise * scale * rng.uniform(0.4, 1.0, (C, S, d))
    weights = rng.dirichlet(np.full(S, 3.0), size=C)
    draw = np.random.default_rng([task_seed, split, n_per_class, 7])
    y = np.repeat(np.arange(C), n_per_class)
    u = draw.random(len(y))
    s = (u[:, None] > np.cumsum(weights[y], axis=1)).sum(1).clip(max=S - 1)
    X = submeans[y, s] + sds[y, s] * draw.standard_normal((len(y), d))
    return X.astype(np.float32), y


def rows_expected(setup: Setup) -> list[str]:
    """Model names of the table, in order, for every training size."""
    names = ["softmax"] + [f"GMM layer, M={m}" for m in setup.components]
    if len(setup.components) > 1:
        names.append("GMM layer, M by validation")
    names += [f"GMM layer, EM init + fine-tune, M={m}" for m in setup.em_init]
    return names + ["MclustDA (no network)"]


def fit_deep(setup, X, y, seed, lr, head, m, max_epochs):
    from gaussmix.torch import DeepGMMClassifier

    kw = dict(head="softmax") if head == "softmax" else dict(head="gmm", n_components_per_class=m)
    if head == "gmm-em":
        kw.update(head="gmm", head_init="em")
    t = time.perf_counter()
    clf = DeepGMMClassifier(hidden_layer_sizes=setup.trunk, lr=lr, max_epochs=max_epochs,
                            patience=setup.patience, batch_size=setup.batch_size,
                            random_state=seed, **kw).fit(X, y)
    return clf, time.perf_counter() - t


def run(setup: Setup, log=print):
    Xva, yva = frames(setup, setup.n_val, split=1000)
    Xte, yte = frames(setup, setup.n_test, split=2000)
    models = [("softmax", "softmax", None)] + [
        (f"GMM layer, M={m}", "gmm", m) for m in setup.components]
    rows = []
    for n, max_epochs in zip(setup.sizes, setup.max_epochs):
        per_model, chosen_lr = {}, {}
        for name, head, m in models:
            # Learning rate by validation accuracy on the first seed.
            X0, y0 = frames(setup, n, split=setup.seeds[0])
            tried = {}
            for lr in setup.lrs:
                clf, secs = fit_deep(setup, X0, y0, setup.seeds[0], lr, head, m, max_epochs)
                tried[lr] = (clf.score(Xva, yva), clf, secs)
            lr = chosen_lr[name] = max(setup.lrs, key=lambda v: tried[v][0])
            res = []
            for seed in setup.seeds:
                if seed == setup.seeds[0]:
                    va, clf, secs = tried[lr]
                else:
                    X, y = frames(setup, n, split=seed)
                    clf, secs = fit_deep(setup, X, y, seed, lr, head, m, max_epochs)
                    va = clf.score(Xva, yva)
                res.append((va, clf.score(Xte, yte), secs, clf.n_iter_))
            per_model[name] = res
            rows.append(row(n, name, f"lr {lr:g}", res))
            log(fmt(rows[-1]))
        if len(setup.components) > 1:
            gmm_names = [f"GMM layer, M={m}" for m in setup.components]
            res, picks = [], []
            for i, _ in enumerate(setup.seeds):
                best = max(gmm_names, key=lambda k: per_model[k][i][0])
                picks.append(best.split("=")[1])
                res.append(per_model[best][i])
            rows.append(row(n, "GMM layer, M by validation", "M " + "/".join(picks), res))
            log(fmt(rows[-1]))
        lr = chosen_lr["softmax"]
        for m in setup.em_init:
            res = []
            for seed in setup.seeds:
                X, y = frames(setup, n, split=seed)
                clf, secs = fit_deep(setup, X, y, seed, lr, "gmm-em", m, max_epochs)
                res.append((clf.score(Xva, yva), clf.score(Xte, yte), secs, clf.n_iter_))
            rows.append(row(n, f"GMM layer, EM init + fine-tune, M={m}", f"lr {lr:g}", res))
            log(fmt(rows[-1]))
        # Candidate sets by validation accuracy on the first seed: one Gaussian per class
        # (diagonal QDA) or the BIC choice among mclust_components per class.
        fits = {}
        for cand in ([1], setup.mclust_components):
            fits[str(cand)] = [fit_mclust(setup, *frames(setup, n, split=seed), seed, cand,
                                          Xva, yva, Xte, yte) for seed in setup.seeds]
        best = max(fits, key=lambda k: fits[k][0][0])
        res = fits[best]
        rows.append(row(n, "MclustDA (no network)",
                        "M=1" if best == "[1]" else "M by BIC", res))
        log(fmt(rows[-1]))
    return rows


def fit_mclust(setup, X, y, seed, components, Xva, yva, Xte, yte):
    from gaussmix import GaussianMixtureClassifier

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixtureClassifier(n_components_per_class=components, covariance_type="diag",
                                       reg_covar=1e-4, random_state=seed).fit(X, y)
    secs = time.perf_counter() - t
    return gm.score(Xva, yva), gm.score(Xte, yte), secs, gm.n_iter_


def row(n, name, chosen, res):
    va, te, secs, it = (np.array(v, dtype=float) for v in zip(*res))
    return dict(n=n, model=name, chosen=chosen, val=va.mean(), mean=te.mean(), std=te.std(),
                secs=secs.mean(), epochs=it.mean())


def fmt(r):
    return (f"{r['n']:4d}/class  {r['model']:28s} {r['chosen']:12s} val {r['val']:.4f}  "
            f"test {r['mean']:.4f} ± {r['std']:.4f}  {r['secs']:.1f}s/fit")


def table(setup: Setup, rows, total) -> str:
    lines = [
        "# The GMM layer (Variani et al., 2015) on many-class synthetic speech frames",
        "",
        f"Machine: {platform.machine()}, 2 CPU cores, 24 GiB, no GPU, OpenBLAS; torch "
        f"{torch.__version__} (1 thread), float32. Total run time {total:.0f} s "
        "(`PYTHONPATH=src python -m benchmarks.gmm_layer_frames`).",
        "",
        f"Task: {setup.n_classes} phone-like classes of {setup.n_features}-D MFCC-like frames, "
        f"each class a mixture of {setup.n_submodes} diagonal sub-modes (speakers/contexts) "
        f"scattered as widely as the class centres, noise scale {setup.noise}. Validation "
        f"{setup.n_val} and test {setup.n_test} frames per class (fixed draws). Every deep model: "
        f"tanh trunk {'×'.join(map(str, setup.trunk))}, Adam, batch {setup.batch_size}, at most "
        f"{'/'.join(map(str, setup.max_epochs))} epochs at the training sizes "
        f"{'/'.join(map(str, setup.sizes))} (same cap for every model of a size), early stopping on 10 % of the training set (patience "
        f"{setup.patience}); learning rate chosen among {', '.join(f'{v:g}' for v in setup.lrs)} "
        "by validation accuracy on seed 0. GMM layer: diagonal, data-initialised, trained "
        f"jointly with the trunk. Test accuracy: mean ± std over seeds {list(setup.seeds)} "
        "(new training draw and initialisation per seed). \"M by validation\" takes, per seed, "
        "the M of best validation accuracy (the picks are listed). \"EM init + fine-tune\": "
        "the trunk is first trained with the softmax layer, the GMM layer fitted by EM on its "
        "features, then both fine-tuned jointly (the epochs column counts the fine-tuning only; "
        "s/fit counts both phases). MclustDA: "
        "`GaussianMixtureClassifier(covariance_type=\"diag\", reg_covar=1e-4)` on the raw "
        "frames, either one Gaussian per class (M=1) or the number of components per class by "
        f"BIC among {setup.mclust_components}, whichever has the better validation accuracy "
        "on seed 0; the data are drawn "
        "from exactly this model family, so it is the well-specified reference, not a contender "
        "the network is expected to beat.",
        "",
        "| train frames / class | model | chosen on validation | val accuracy | test accuracy | "
        "s/fit | epochs |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['n']} | {r['model']} | {r['chosen']} | {r['val']:.4f} | "
                     f"{r['mean']:.4f} ± {r['std']:.4f} | {r['secs']:.1f} | {r['epochs']:.0f} |")
    lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the table (default: benchmarks/results/"
                             "gmm_layer_frames.md; --quick writes only when given)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    setup = QUICK if args.quick else Setup()
    t = time.perf_counter()
    rows = run(setup, log=lambda s: print(s, flush=True))
    text = table(setup, rows, time.perf_counter() - t)
    out = args.out if args.out is not None else (
        None if args.quick else RESULTS / "gmm_layer_frames.md")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    print(text)
    return rows


if __name__ == "__main__":
    main()
