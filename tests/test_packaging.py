"""Packaging: one version, the licence, the typing marker, the extras, and what a wheel ships."""
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest

import gaussmix

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "gaussmix"
tomllib = pytest.importorskip("tomllib")  # stdlib from Python 3.11


@pytest.fixture(scope="module")
def project():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def test_version_has_one_source(project):
    assert gaussmix.__version__ == metadata.version("gaussmix") == project["version"]
    assert "version" not in project.get("dynamic", [])


def test_version_falls_back_outside_an_installation():
    code = ("import importlib.metadata as m\n"
            "def missing(name):\n"
            "    raise m.PackageNotFoundError(name)\n"
            "m.version = missing\n"
            "import gaussmix\n"
            "print(gaussmix.__version__)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "0+unknown"


def test_licence(project):
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")
    assert "gaussmix developers" in text
    assert "Neither the name of the copyright holder" in text  # the third clause
    assert project["license"] == "BSD-3-Clause"  # an SPDX expression, not a table
    assert project["license-files"] == ["LICENSE"]
    # an SPDX expression replaces licence classifiers; setuptools refuses both
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]
    assert metadata.metadata("gaussmix")["License-Expression"] == "BSD-3-Clause"


def test_typed_package(project):
    assert (PACKAGE / "py.typed").is_file()
    assert "Typing :: Typed" in project["classifiers"]


def test_metadata_describes_the_project(project):
    assert project["keywords"] and project["classifiers"]
    lo = re.match(r">=3\.(\d+)", project["requires-python"]).group(1)
    versions = [c.rsplit(" ", 1)[1] for c in project["classifiers"]
                if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert versions and all(int(v.split(".")[1]) >= int(lo) for v in versions)


def _extra_names(reqs):
    """Extras named by ``gaussmix[a,b]`` requirements."""
    out = set()
    for r in reqs:
        m = re.fullmatch(r"gaussmix\[([a-z0-9_,\s-]+)\]", r)
        if m:
            out |= {e.strip() for e in m.group(1).split(",")}
    return out


def test_test_extra_installs_every_optional_backend(project):
    extras = project["optional-dependencies"]
    assert {"onnx", "dask", "torch", "plot", "image"} <= set(extras)
    reached, todo = set(), {"test"}
    while todo:
        name = todo.pop()
        reached.add(name)
        todo |= _extra_names(extras[name]) - reached
    assert reached == set(extras)
    assert any(r.startswith("skl2onnx") for r in extras["onnx"])
    assert any(r.startswith("onnxruntime") for r in extras["onnx"])


@pytest.mark.slow
def test_wheel_ships_licence_and_typing_marker(tmp_path):
    pytest.importorskip("setuptools")
    # build from a copy: an in-tree build would write build/ and egg-info into the checkout
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(PACKAGE, tmp_path / "src" / "gaussmix", ignore=shutil.ignore_patterns("__pycache__"))
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                          "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"),
                          str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    (wheel,) = (tmp_path / "dist").glob("gaussmix-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = Parser().parsestr(z.read(next(n for n in names
                                              if n.endswith(".dist-info/METADATA"))).decode())
    assert "gaussmix/py.typed" in names
    assert any(re.fullmatch(r"gaussmix-[^/]+\.dist-info/licenses/LICENSE", n) for n in names)
    assert {"gaussmix/_onnx.py", "gaussmix/_log.py", "gaussmix/cli/__init__.py"} <= set(names)
    assert meta["Version"] == gaussmix.__version__
    assert meta["License-Expression"] == "BSD-3-Clause"
    assert "onnx" in meta.get_all("Provides-Extra")
