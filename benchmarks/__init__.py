"""Benchmarks comparing gaussmix with scikit-learn (run as ``python -m benchmarks.NAME``)."""
