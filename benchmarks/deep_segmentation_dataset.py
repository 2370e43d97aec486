"""A deep GMM segmenter trained once on a set of images vs per-image methods.

1. Synthetic phantoms with random geometry and exact truth: 4 classes (background, large
   ellipses, a random band, small discs of radius 1.5–3 px), 2 channels whose class means
   ``(0,0), (1,0), (0,1), (1,1)`` need both channels to be told apart, independent Gaussian
   noise at three levels. A training set and a disjoint test set per level.
2. A real image set that ships with scikit-image: 64×64 crops of ``coins`` (greyscale), with
   the coins/background reference of the scikit-image gallery's region-based watershed recipe
   (as in ``benchmarks/torch_deep_segmentation.py``); crops from the left half train, crops
   from the right half test.

Methods, scored by mean Dice over classes after the best label matching, on the test images:
per-image EM-GMM (full covariances, ``n_init=3``); EM fitted once on pixels pooled from the
training images, applied to each test image; per-image ``segment_deep`` (defaults, on a few
test images only: it trains a network per image); the trained ``DeepGMMSegmenter``
(defaults). Time per test image: wall clock and process CPU time, torch on one thread
(``torch.set_num_threads(1)``: on this shared 2-core machine, two OpenMP threads competing
with other processes ran ten times slower in wall time). Run from the repository root::

    python -m benchmarks.deep_segmentation_dataset [--quick]
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from gaussmix import GaussianMixture
from gaussmix.image import segmentation_scores
from gaussmix.torch import DeepGMMSegmenter, segment_deep

RESULTS = Path(__file__).resolve().parent / "results"
MEANS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


def phantom(size, noise, rng):
    """Random geometry: ellipses (1), a band (2), small discs (3) on background (0)."""
    yy, xx = np.mgrid[:size, :size].astype(float)
    truth = np.zeros((size, size), np.int64)
    ang = rng.uniform(0, np.pi)
    off = rng.uniform(-0.3, 0.3) * size
    d = (yy - size / 2) * np.cos(ang) - (xx - size / 2) * np.sin(ang) - off
    truth[np.abs(d) < rng.uniform(0.06, 0.12) * size] = 2
    for _ in range(rng.integers(1, 3)):
        cy, cx = rng.uniform(0.2, 0.8, 2) * size
        a, b = rng.uniform(0.1, 0.25, 2) * size
        t = rng.uniform(0, np.pi)
        u = (yy - cy) * np.cos(t) + (xx - cx) * np.sin(t)
        v = -(yy - cy) * np.sin(t) + (xx - cx) * np.cos(t)
        truth[(u / a) ** 2 + (v / b) ** 2 < 1] = 1
    for _ in range(rng.integers(6, 12)):
        cy, cx = rng.uniform(0.05, 0.95, 2) * size
        truth[np.hypot(yy - cy, xx - cx) < rng.uniform(1.5, 3.0)] = 3
    img = MEANS[truth] + noise * rng.normal(size=(size, size, 2))
    return img, truth


def dice(labels, truth):
    return segmentation_scores(labels, truth)["mean_dice"]


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def em_per_image(img, k, seed):
    X = img.reshape(-1, img.shape[-1] if img.ndim == 3 else 1)
    gm = GaussianMixture(k, covariance_type="full", n_init=3, random_state=seed)
    return gm.fit_predict(X).reshape(img.shape[:2])


def evaluate(name, train, test, k, n_deep, seed, rows, notes):
    imgs_tr = [t[0] for t in train]
    X = [t[0] for t in test]
    Y = [t[1] for t in test]

    def per_image(method, fn, items):
        d, w, c = [], 0.0, 0.0
        for img, truth in items:
            lab, dw, dc = timed(lambda: fn(img))
            d.append(dice(lab, truth))
            w, c = w + dw, c + dc
        rows.append((name, method, len(items), float(np.mean(d)), w / len(items), c / len(items)))
        print(rows[-1], flush=True)

    per_image("EM per image (n_init=3)", lambda im: em_per_image(im, k, seed), test)

    ch = imgs_tr[0].shape[-1] if imgs_tr[0].ndim == 3 else 1
    pool = np.concatenate([im.reshape(-1, ch) for im in imgs_tr])
    rng = np.random.default_rng(seed)
    pool = pool[rng.choice(len(pool), min(len(pool), 50_000), replace=False)]
    (pooled, fw, fc) = timed(lambda: GaussianMixture(k, n_init=3, random_state=seed).fit(pool))
    per_image("EM on pooled training pixels",
              lambda im: pooled.predict(im.reshape(-1, ch)).reshape(im.shape[:2]), test)
    notes.append(f"{name}: pooled EM fit {fw:.1f} s")

    if n_deep:
        per_image("segment_deep per image",
                  lambda im: segment_deep(im, k, random_state=seed)[0], test[:n_deep])

    seg = DeepGMMSegmenter(k, random_state=seed)
    _, fw, fc = timed(lambda: seg.fit(imgs_tr))
    notes.append(f"{name}: DeepGMMSegmenter fit on {len(imgs_tr)} images: {fw:.0f} s wall, "
                 f"{fc:.0f} s CPU, {seg.n_epochs_} epochs")
    per_image("DeepGMMSegmenter (trained)", seg.predict, test)
    return seg, X, Y


def coins_crops(size=64):
    from scipy import ndimage as ndi
    from skimage import data
    from skimage.filters import sobel
    from skimage.segmentation import watershed
    coins = data.coins()
    markers = np.zeros_like(coins)
    markers[coins < 30] = 1
    markers[coins > 150] = 2
    mask = ndi.binary_fill_holes(watershed(sobel(coins), markers) - 1).astype(np.int64)
    img = coins.astype(float) / 255.0
    H, W = img.shape
    crops = [(img[y:y + size, x:x + size], mask[y:y + size, x:x + size], x)
             for y in range(0, H - size + 1, size // 2) for x in range(0, W - size + 1, size // 2)]
    train = [(a, b) for a, b, x in crops if x + size <= W // 2]
    test = [(a, b) for a, b, x in crops if x >= W // 2]
    return train, test


def figure(seg, X, Y, k, seed, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    from gaussmix.image import match_labels
    n = min(4, len(X))
    fig, ax = plt.subplots(4, n, figsize=(2.2 * n, 8.8))
    for j in range(n):
        em = match_labels(em_per_image(X[j], k, seed), Y[j])
        deep = match_labels(seg.predict(X[j]), Y[j])
        shown = np.concatenate([X[j], X[j][..., :1]], -1) if X[j].shape[-1] == 2 else X[j]
        lo, hi = np.percentile(shown, [1, 99])
        panels = [(np.clip((shown - lo) / (hi - lo), 0, 1), "image (ch0, ch1, ch0)"),
                  (Y[j], "truth"), (em, f"EM {dice(em, Y[j]):.2f}"),
                  (deep, f"deep {dice(deep, Y[j]):.2f}")]
        for i, (im, title) in enumerate(panels):
            ax[i, j].imshow(im, cmap=None if im.ndim == 3 else "tab10",
                            vmin=None if im.ndim == 3 else 0, vmax=None if im.ndim == 3 else 9,
                            interpolation="nearest")
            ax[i, j].set_title(title, fontsize=8)
            ax[i, j].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def scaling(sizes=(64, 128, 256)):
    """Time per-image ``segment_deep`` (defaults) on the phantom of ``torch_phantom``."""
    from benchmarks.torch_phantom import phantom as fixed_phantom
    for n in sizes:
        img, truth = fixed_phantom(n, noise=0.3, seed=0)
        (lab, _), w, c = timed(lambda: segment_deep(img, 4, random_state=0))
        print(f"| {n}×{n} | {w:.1f} | {c:.1f} | {dice(lab, truth):.3f} |", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one noise level, fewer images")
    ap.add_argument("--scaling", action="store_true",
                    help="only time per-image segment_deep at 64, 128 and 256 pixels a side")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.scaling:
        print("| image | wall s | CPU s | mean Dice |\n|---|---:|---:|---:|")
        scaling()
        return
    seed, size, k = 0, 64, 4
    noises = [0.45] if args.quick else [0.3, 0.45, 0.6]
    n_train, n_test = (16, 4) if args.quick else (32, 8)
    rows, notes = [], []
    for noise in noises:
        rng = np.random.default_rng(1000 + int(noise * 100))
        train = [phantom(size, noise, rng) for _ in range(n_train)]
        test = [phantom(size, noise, rng) for _ in range(n_test)]
        seg, X, Y = evaluate(f"phantoms σ={noise}", train, test, k,
                             2 if noise == 0.45 else 0, seed, rows, notes)
        if noise == 0.45:
            figure(seg, X, Y, k, seed, RESULTS / "deep_segmentation_dataset.png")
    train, test = coins_crops()
    evaluate("coins 64×64 crops", train, test, 2, 0 if args.quick else 2, seed, rows, notes)

    lines = ["# Deep GMM segmenter trained on a set vs per-image methods", "",
             f"`python -m benchmarks.deep_segmentation_dataset{' --quick' if args.quick else ''}`"
             f" — {platform.machine()}, {os.cpu_count()} cores shared with other jobs, torch "
             f"{torch.__version__} on 1 thread. Phantoms {size}×{size}, 4 classes, 2 channels, "
             f"{n_train} training and {n_test} test images per noise level.", "",
             "| data | method | test images | mean Dice | s / image (wall) | s / image (CPU) |",
             "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {d} | {m} | {n} | {v:.3f} | {w:.3f} | {c:.3f} |" for d, m, n, v, w, c in rows]
    lines += ["", *[f"- {n}" for n in notes], ""]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "deep_segmentation_dataset.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
