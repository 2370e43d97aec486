"""Image segmentation: accuracy against ground truth, and speed on a 12-megapixel photo.

Run from the repository root::

    PYTHONPATH=src python -m benchmarks.segmentation [--quick]

Part 1 compares :func:`gaussmix.image.segment` (a full-covariance Gaussian mixture over pixel
features) with scikit-learn's ``KMeans`` on *the same features* (built by the same code), on
images whose true segmentation is known: synthetic phantoms with planted shapes and Gaussian
noise at several levels (equal round noise in every class, where k-means' assumptions hold,
and class-specific correlated noise, where they do not), the Shepp-Logan phantom of
scikit-image with noise, and scikit-image's horse silhouette filled with two real textures
(grass inside, gravel outside). Labels are matched to the truth by the Hungarian algorithm;
the table reports mean Dice and IoU over the true classes and pixel accuracy, averaged over
seeds.

Part 2 times the segmentation of scikit-learn's ``china.jpg`` resized to 4000 x 3000
(12 megapixels), against the scikit-learn pipeline a user would write (fit
``sklearn.mixture.GaussianMixture`` on the same number of random pixels, then
``predict_proba`` every pixel), in the same process.

Writes benchmarks/results/segmentation.md and benchmarks/results/segmentation.png.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
COLOURS = np.array([[0.15, 0.2, 0.7], [0.85, 0.3, 0.2], [0.3, 0.8, 0.35], [0.9, 0.9, 0.6]])


# ---------------------------------------------------------------------------------------------
# test images with ground truth


def phantom_truth(shape=(240, 320)):
    h, w = shape
    r, c = np.mgrid[:h, :w]
    t = np.zeros(shape, dtype=int)
    t[(r - 0.35 * h) ** 2 + (c - 0.3 * w) ** 2 < (0.22 * h) ** 2] = 1
    t[int(0.55 * h):int(0.9 * h), int(0.5 * w):int(0.9 * w)] = 2
    t[(r > 0.1 * h) & (r < 0.45 * h) & (c - 0.6 * w > 0) & (c - 0.6 * w < (r - 0.1 * h))] = 3
    return t


def phantom_equal(sigma, seed):
    """Four flat colours plus round Gaussian noise of the same sigma everywhere (uint8)."""
    rng = np.random.default_rng(seed)
    t = phantom_truth()
    img = COLOURS[t] + sigma * rng.normal(size=t.shape + (3,))
    return np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8), t, 4


def phantom_correlated(sigma, seed):
    """Class-specific noise: each class has its own correlated colour covariance (uint8)."""
    rng = np.random.default_rng(seed)
    t = phantom_truth()
    # per-class noise shapes: a long streak along a colour direction, a round one, a thin one
    shapes = [np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 0.15]]) * 1.6,
              np.eye(3) * 0.25,
              np.array([[0.2, 0.0, 0.0], [0.0, 1.2, -1.0], [0.0, -1.0, 1.2]]),
              np.eye(3) * 0.08]
    img = COLOURS[t].copy()
    for k, S in enumerate(shapes):
        m = t == k
        img[m] += sigma * rng.multivariate_normal(np.zeros(3), S, int(m.sum()))
    return np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8), t, 4


def shepp_logan(sigma, seed):
    from skimage.data import shepp_logan_phantom
    rng = np.random.default_rng(seed)
    p = shepp_logan_phantom()
    levels = np.unique(np.round(p, 3))
    truth = np.searchsorted(levels, np.round(p, 3))
    img = p + sigma * rng.normal(size=p.shape)
    return img, truth, len(levels)


def textured_horse(seed):
    """The horse silhouette filled with the grass texture on a gravel background (uint8)."""
    from skimage import data
    rng = np.random.default_rng(seed)
    mask = data.horse() == 0  # the horse is drawn in black
    h, w = mask.shape
    grass, gravel = data.grass(), data.gravel()
    r0, c0 = rng.integers(0, grass.shape[0] - h), rng.integers(0, grass.shape[1] - w)
    img = np.where(mask, grass[r0:r0 + h, c0:c0 + w], gravel[r0:r0 + h, c0:c0 + w])
    return img.astype(np.uint8), mask.astype(int), 2


# ---------------------------------------------------------------------------------------------
# the two methods on the same features


def run_gmm(img, k, features, seed):
    from gaussmix.image import segment
    return segment(img, k, features=features, n_init=3, random_state=seed).labels


def run_kmeans(img, k, features, seed):
    from sklearn.cluster import KMeans

    from gaussmix.image import pixel_features
    X = pixel_features(img, features=features)
    return KMeans(k, n_init=3, random_state=seed).fit_predict(X).reshape(np.shape(img)[:2])


def accuracy_table(quick):
    from gaussmix.image import segmentation_scores
    seeds = [0] if quick else [0, 1, 2]
    cases = []
    for s in ((0.1, 0.3) if quick else (0.05, 0.1, 0.2, 0.3)):
        cases.append((f"phantom, equal round noise, sigma={s}", lambda sd, s=s: phantom_equal(s, sd)))
    for s in ((0.1, 0.2) if quick else (0.05, 0.1, 0.15, 0.2)):
        cases.append((f"phantom, class-specific correlated noise, sigma={s}",
                      lambda sd, s=s: phantom_correlated(s, sd)))
    for s in ((0.02,) if quick else (0.01, 0.02, 0.04)):
        cases.append((f"Shepp-Logan (skimage), 6 levels, noise sigma={s}",
                      lambda sd, s=s: shepp_logan(s, sd)))
    cases.append(("horse mask (skimage), grass vs gravel texture", textured_horse))
    rows = []
    for name, make in cases:
        for features in (("color",), ("color", "position")):
            res = {}
            for method, fn in (("k-means", run_kmeans), ("GMM", run_gmm)):
                dice, iou, acc, secs = [], [], [], []
                for sd in seeds:
                    img, truth, k = make(sd)
                    t0 = time.perf_counter()
                    labels = fn(img, k, features, sd)
                    secs.append(time.perf_counter() - t0)
                    sc = segmentation_scores(labels, truth)
                    dice.append(sc["mean_dice"])
                    iou.append(sc["mean_iou"])
                    acc.append(sc["accuracy"])
                res[method] = (np.mean(dice), np.mean(iou), np.mean(acc), np.median(secs))
            rows.append((name, "+".join(features), res))
            print(f"{name:58s} {'+'.join(features):15s} "
                  + "  ".join(f"{m}: Dice {v[0]:.3f} IoU {v[1]:.3f}" for m, v in res.items()),
                  flush=True)
    return rows, len(seeds)


# ---------------------------------------------------------------------------------------------
# speed on 12 megapixels


def big_photo():
    from PIL import Image
    from sklearn.datasets import load_sample_image
    return np.asarray(Image.fromarray(load_sample_image("china.jpg")).resize((4000, 3000),
                                                                             Image.BICUBIC))


def best_of(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def sklearn_pipeline(img, k, fit_size, seed, features=("color",)):
    """What one writes with scikit-learn: fit on random pixels, predict_proba on all pixels."""
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    from gaussmix.image import pixel_features
    X = pixel_features(img, features=features).astype(np.float64)
    n = len(X)
    idx = np.random.default_rng(seed).choice(n, fit_size, replace=False)
    gm = SkGaussianMixture(k, random_state=seed).fit(X[idx])
    proba = gm.predict_proba(X)
    return proba.argmax(axis=1).reshape(np.shape(img)[:2]), proba


def speed_table(quick):
    from gaussmix.image import segment
    img = big_photo()
    if quick:
        img = img[::4, ::4]
    h, w = img.shape[:2]
    repeat = 1 if quick else 2
    rows = []
    cases = [("colour (RGB), K=4", dict(n_components=4), ("color",)),
             ("colour (CIELAB), K=4", dict(n_components=4, colorspace="lab"), None),
             ("colour + position, K=4", dict(n_components=4, features=("color", "position")),
              ("color", "position")),
             ("colour (RGB), K by BIC in 2..8", dict(n_components="bic"), None)]
    for name, kw, peer_features in cases:
        t_ours, seg = best_of(lambda: segment(img, random_state=0, **kw), repeat)
        t_peer = None
        if peer_features is not None:
            t_peer, _ = best_of(lambda: sklearn_pipeline(img, kw["n_components"], 50_000, 0,
                                                         peer_features), repeat)
        rows.append((name, t_ours, t_peer, seg.n_fit, seg.n_components))
        print(f"{name:35s} gaussmix {t_ours:6.2f}s"
              + (f"  scikit-learn {t_peer:6.2f}s  ratio {t_peer / t_ours:.1f}x" if t_peer else "")
              + f"  (fit on {seg.n_fit} points, K={seg.n_components})", flush=True)
    return rows, (h, w)


# ---------------------------------------------------------------------------------------------
# figure


def figure(path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.datasets import load_sample_image

    from gaussmix.image import match_labels, segment, segmentation_scores
    from gaussmix.plotting import plot_segmentation, plot_uncertainty

    img, truth, k = phantom_correlated(0.15, 0)
    km = match_labels(run_kmeans(img, k, ("color",), 0), truth)
    gm = match_labels(run_gmm(img, k, ("color",), 0), truth)
    photo = load_sample_image("china.jpg")
    seg = segment(photo, 4, colorspace="lab", random_state=0)
    fig, axes = plt.subplots(2, 4, figsize=(16, 6.6))
    axes[0, 0].imshow(img)
    axes[0, 0].set_title("phantom, class-specific noise")
    plot_segmentation(img, truth, ax=axes[0, 1], alpha=0.6, legend=False)
    axes[0, 1].set_title("ground truth")
    for ax, lab, name in ((axes[0, 2], km, "k-means"), (axes[0, 3], gm, "Gaussian mixture")):
        plot_segmentation(img, lab, ax=ax, alpha=0.6, legend=False)
        ax.set_title(f"{name}: mean Dice {segmentation_scores(lab, truth)['mean_dice']:.3f}")
    axes[1, 0].imshow(photo)
    axes[1, 0].set_title("china.jpg")
    axes[1, 1].imshow(seg.recolored)
    axes[1, 1].set_title("K=4 (CIELAB), each segment in its mean colour")
    plot_segmentation(photo, seg, ax=axes[1, 2])
    axes[1, 2].set_title("segments over the photo")
    plot_uncertainty(seg, ax=axes[1, 3])
    axes[1, 3].set_title("assignment uncertainty")
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------


def machine():
    import numpy
    import sklearn
    try:
        from threadpoolctl import threadpool_info
        blas = ", ".join(sorted({f"{i.get('internal_api')} {i.get('version')} "
                                 f"({i.get('num_threads')} threads)" for i in threadpool_info()
                                 if i.get("user_api") == "blas"}))
    except Exception:  # noqa: BLE001 - informational only
        blas = "unknown"
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores, {mem:.0f} GiB, no GPU, {platform.machine()}, "
            f"Python {platform.python_version()}, NumPy {numpy.__version__}, scikit-learn "
            f"{sklearn.__version__}, BLAS: {blas}; load average at start "
            f"{os.getloadavg()[0]:.1f} (the machine is shared)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer cases, smaller photo")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--figure-only", action="store_true", help="only redraw the figure")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads for both libraries (default 1: on a shared 2-core "
                         "machine more threads mostly add contention)")
    args = ap.parse_args()
    # load every library with its own BLAS first, so the limit reaches all of them
    import scipy.linalg  # noqa: F401
    import skimage.color  # noqa: F401
    import sklearn.cluster  # noqa: F401
    import sklearn.mixture  # noqa: F401
    from threadpoolctl import threadpool_limits
    threadpool_limits(args.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.figure_only:
        figure(RESULTS / "segmentation.png")
        return
    desc = machine()
    print(desc)
    acc_rows, n_seeds = accuracy_table(args.quick)
    speed_rows, (h, w) = ([], (0, 0)) if args.skip_speed else speed_table(args.quick)
    figure(RESULTS / "segmentation.png")
    load_end = os.getloadavg()[0]

    lines = ["# Image segmentation", "",
             f"Machine: {desc}; {load_end:.1f} at the end. BLAS limited to {args.threads} "
             "thread(s) for both libraries.", "",
             "Command: `PYTHONPATH=src python -m benchmarks.segmentation`"
             + (" --quick" if args.quick else ""), "",
             "## Accuracy against ground truth", "",
             "Gaussian mixture (`gaussmix.image.segment`, full covariances, `n_init=3`) versus "
             "scikit-learn `KMeans` (`n_init=3`) on the same pixel features (colour scaled to "
             "[0, 1]; `+position` adds the pixel's row and column in units of the longer side). "
             "Labels are matched to the truth with the Hungarian algorithm; Dice and IoU are "
             f"averaged over the true classes, then over {n_seeds} seed(s) (noise draw and "
             "initialisation).", "",
             "| image | features | k-means Dice | GMM Dice | k-means IoU | GMM IoU | "
             "k-means accuracy | GMM accuracy |",
             "|---|---|---|---|---|---|---|---|"]
    for name, feats, res in acc_rows:
        km, gm = res["k-means"], res["GMM"]
        def b(x, y):
            return (f"**{x:.3f}**" if x > y + 0.005 else f"{x:.3f}")
        lines.append(f"| {name} | {feats} | {b(km[0], gm[0])} | {b(gm[0], km[0])} | "
                     f"{b(km[1], gm[1])} | {b(gm[1], km[1])} | {km[2]:.3f} | {gm[2]:.3f} |")
    lines += ["", "Bold: better by more than 0.005.", ""]
    if speed_rows:
        lines += ["## Speed on a 12-megapixel photo", "",
                  f"`china.jpg` resized to {w} x {h} ({w * h / 1e6:.1f} megapixels, 8-bit RGB). "
                  "gaussmix: `segment(img, K, ...)` end to end (fit, label map, (H, W, K) "
                  "probabilities, recoloured image). scikit-learn: `GaussianMixture(K).fit` on "
                  "50 000 random pixels, then `predict_proba` on every pixel. Best of "
                  f"{1 if args.quick else 2} runs, seconds.", "",
                  "| case | gaussmix (s) | scikit-learn (s) | speed-up | fitted on | K |",
                  "|---|---|---|---|---|---|"]
        for name, t_ours, t_peer, n_fit, k in speed_rows:
            peer = f"{t_peer:.2f}" if t_peer else "-"
            ratio = f"{t_peer / t_ours:.1f}x" if t_peer else "-"
            lines.append(f"| {name} | {t_ours:.2f} | {peer} | {ratio} | {n_fit} points | {k} |")
        lines += ["",
                  "Colour-only 8-bit images are fitted on their distinct colours weighted by "
                  "pixel count when there are few enough (here there are more, so on 50 000 "
                  "random pixels) and classified once per distinct colour; with position "
                  "features every pixel is classified in chunks of 262 144.", ""]
    lines += ["![segmentation](segmentation.png)", "",
              "Top: a phantom with class-specific correlated colour noise, its ground truth, "
              "k-means and the Gaussian mixture on the same colour features. Bottom: china.jpg "
              "in 4 segments (CIELAB colour), the recoloured image, the overlay and the "
              "assignment uncertainty (1 - max posterior).", ""]
    out = RESULTS / ("segmentation_quick.md" if args.quick else "segmentation.md")
    out.write_text("\n".join(lines))
    print(f"wrote {out} and {RESULTS / 'segmentation.png'}")


if __name__ == "__main__":
    main()
