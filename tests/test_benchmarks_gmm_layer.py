"""Smoke test of ``benchmarks/gmm_layer_frames.py`` (its ``--quick`` path) and of its data."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import gmm_layer_frames as bench  # noqa: E402


def test_frames_are_deterministic_and_class_balanced():
    X, y = bench.frames(bench.QUICK, 5, split=3)
    X2, y2 = bench.frames(bench.QUICK, 5, split=3)
    X3, _ = bench.frames(bench.QUICK, 5, split=4)
    assert X.shape == (bench.QUICK.n_classes * 5, 39) and X.dtype == np.float32
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(X, X3)
    np.testing.assert_array_equal(np.bincount(y), np.full(bench.QUICK.n_classes, 5))


def test_frames_classes_are_multimodal():
    # Each class is a mixture of sub-modes: its spread exceeds the within-sub-mode noise, so a
    # 1-component diagonal fit has a lower likelihood than the sub-mode count fitted by EM.
    from gaussmix import GaussianMixture

    setup = bench.Setup(n_classes=2, n_submodes=4, noise=1.0)
    X, y = bench.frames(setup, 400, split=0)
    Xc = X[y == 0].astype(np.float64)
    one = GaussianMixture(1, covariance_type="diag", random_state=0).fit(Xc)
    four = GaussianMixture(4, covariance_type="diag", n_init=3, random_state=0).fit(Xc)
    assert four.bic(Xc) < one.bic(Xc)


def test_quick_run_writes_the_expected_table(tmp_path):
    out = tmp_path / "table.md"
    rows = bench.main(["--quick", "--out", str(out)])
    expected = bench.rows_expected(bench.QUICK)
    assert [r["model"] for r in rows] == expected * len(bench.QUICK.sizes)
    for r in rows:
        assert 0 < r["mean"] <= 1 and 0 < r["val"] <= 1 and r["std"] >= 0
    text = out.read_text()
    assert text.startswith("# The GMM layer") and "Machine:" in text
    body = [ln for ln in text.splitlines() if re.match(r"\| \d+ \|", ln)]
    assert [ln.split(" | ")[1] for ln in body] == expected * len(bench.QUICK.sizes)
    for ln in body:
        acc = float(ln.split(" | ")[4].split(" ± ")[0])
        assert 0 < acc <= 1
