"""Anomaly detection with a Gaussian mixture density, next to IsolationForest and EllipticEnvelope.

Three inlier clusters plus uniformly scattered anomalies. The mixture's number of components is
chosen by BIC and the threshold is the 95th percentile of training densities
(``contamination=0.05``). Saves anomaly_detection.png with each method's decision boundary and
ROC AUC.
"""
import numpy as np
from _helpers import parse_args, plt, save
from sklearn.covariance import EllipticEnvelope
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from gaussmix.anomaly import GaussianMixtureOutlierDetector

args = parse_args(__doc__.splitlines()[0])
rng = np.random.RandomState(0)
n = 150 if args.quick else 400
inliers = np.vstack([rng.multivariate_normal([0, 0], [[1.0, 0.8], [0.8, 1.0]], n),
                     rng.multivariate_normal([5, 1], [[0.3, 0.0], [0.0, 1.5]], n),
                     rng.multivariate_normal([2, 5], [[1.0, -0.5], [-0.5, 0.6]], n)])
anomalies = rng.uniform([-4, -4], [9, 9], (int(0.05 * 3 * n), 2))
X = np.vstack([inliers, anomalies])
y = np.r_[np.zeros(len(inliers)), np.ones(len(anomalies))]

detectors = {
    "gaussmix (K by BIC)": GaussianMixtureOutlierDetector(
        range(1, 7), contamination=0.05, random_state=0),
    "IsolationForest": IsolationForest(contamination=0.05, random_state=0),
    "EllipticEnvelope": EllipticEnvelope(contamination=0.05, random_state=0),
}
xx, yy = np.meshgrid(np.linspace(-5, 10, 250), np.linspace(-5, 10, 250))
grid = np.column_stack([xx.ravel(), yy.ravel()])
fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), sharex=True, sharey=True)
for ax, (name, det) in zip(axes, detectors.items()):
    det.fit(X)
    auc = roc_auc_score(y, -det.score_samples(X))
    print(f"{name:22s} ROC AUC {auc:.3f}")
    dec = det.decision_function(grid).reshape(xx.shape)
    ax.contourf(xx, yy, dec, levels=20, cmap="Blues_r", alpha=0.6)
    ax.contour(xx, yy, dec, levels=[0], colors="r", linewidths=2)
    pred = det.predict(X)
    ax.scatter(*X[y == 0].T, s=5, c="k", label="inlier")
    ax.scatter(*X[y == 1].T, s=25, marker="x", c="orange", label="planted anomaly")
    ax.scatter(*X[pred == -1].T, s=60, facecolors="none", edgecolors="r", label="flagged")
    ax.set_title(f"{name}: ROC AUC {auc:.3f}")
axes[0].legend(loc="lower right", fontsize="small")
save(fig, args, "anomaly_detection.png")
