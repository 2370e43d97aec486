"""Every example script runs headless in quick mode and writes its figures."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))
# examples about images belong to the image-segmentation gallery and are tested there too;
# running them here as well is harmless


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", GAUSSMIX_EXAMPLES_QUICK="1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), env_path])
               if (env_path := os.environ.get("PYTHONPATH")) else str(ROOT / "src"))
    proc = subprocess.run([sys.executable, str(script), "--output", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pngs = list(tmp_path.glob("*.png"))
    assert pngs, f"{script.name} wrote no figure"
    assert all(p.stat().st_size > 5000 for p in pngs)


def test_examples_present():
    names = {p.stem for p in EXAMPLES}
    assert {"kmeans_vs_gmm", "soft_assignments", "covariance_types", "density_moons",
            "digits_generation", "customer_segmentation", "anomaly_detection",
            "mixture_regression"} <= names
