"""Deep Gaussian mixture models in PyTorch (optional extra ``gaussmix[torch]``).

- :class:`GaussianMixture`: a differentiable mixture (``nn.Module``) with every registered
  covariance model that provides a torch evaluation (the four built-in ones do), convertible
  to and from the NumPy estimator.
- :func:`fit_gradient`: maximum likelihood by mini-batch gradient descent instead of EM.
- :class:`GMMClassifierHead`, :class:`DeepGMMClassifier`: a GMM layer trained jointly with a
  feature network (Variani, McDermott and Heigold, ICASSP 2015).
- :func:`segment_deep`: unsupervised image segmentation with a U-Net trained on the
  likelihood of a Gaussian mixture (Schwab, Mayr and Haltmeier, 2024).
- :class:`DeepGMMSegmenter`: the same network trained once on a set of unlabelled images,
  segmenting new images by forward passes.

Only this subpackage imports torch; the rest of gaussmix works without it.
"""
try:
    import torch as _torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "gaussmix.torch needs PyTorch; install it with `pip install gaussmix[torch]`."
    ) from exc

from ._classifier import DeepGMMClassifier, GMMClassifierHead
from ._gradient import fit_gradient
from ._kernels import component_log_prob, mixture_log_prob, weighted_mstep
from ._mixture import GaussianMixture
from ._segmentation import UNet, segment_deep
from ._segmenter import DeepGMMSegmenter

__all__ = [
    "GaussianMixture",
    "fit_gradient",
    "GMMClassifierHead",
    "DeepGMMClassifier",
    "segment_deep",
    "DeepGMMSegmenter",
    "UNet",
    "weighted_mstep",
    "mixture_log_prob",
    "component_log_prob",
]
