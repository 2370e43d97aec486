"""gaussmix: Gaussian mixture models."""
__version__ = "0.1.0"
