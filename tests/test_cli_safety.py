"""The command line never loses data.

* An output that is one of the command's inputs (same path, a relative spelling, a symbolic or
  hard link) or another output of the same command is refused with exit code 2 before any
  work, and every input keeps its bytes.
* Every write is atomic: a write that fails midway leaves the previous file as it was and no
  temporary file behind.
* Options are checked before the work (``segment -k 300 --labels l.png`` fails at once).
"""
import hashlib
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gaussmix
from gaussmix.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main

SRC = Path(__file__).resolve().parents[1] / "src"


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(directory: Path) -> dict:
    """Every file under ``directory`` (links not followed) with the digest of its bytes."""
    out = {}
    for p in sorted(directory.rglob("*")):
        if p.is_symlink():
            out[str(p)] = "link -> " + os.readlink(p)
        elif p.is_file():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def files(make_blobs, rng, tmp_path):
    """A CSV, a float32 .npy, weights, a fitted model and a small RGB image in ``tmp_path``."""
    from PIL import Image
    X, _ = make_blobs(rng, n_per=(40, 35, 45), d=2)
    paths = {"csv": tmp_path / "d.csv", "npy": tmp_path / "d.npy", "w": tmp_path / "w.csv",
             "model": tmp_path / "m.gmz", "png": tmp_path / "photo.png",
             "jpg": tmp_path / "photo.jpg", "img_npy": tmp_path / "img.npy"}
    np.savetxt(paths["csv"], X, delimiter=",", fmt="%.17g", header="a,b", comments="")
    np.save(paths["npy"], X.astype(np.float32))
    np.savetxt(paths["w"], rng.uniform(0.5, 2, len(X)), fmt="%.17g")
    gaussmix.GaussianMixture(3, random_state=0).fit(X).save(paths["model"])
    img = np.zeros((16, 20, 3), np.uint8)
    img[:, 10:] = (200, 40, 40)
    img[8:, :] += 30
    Image.fromarray(img).save(paths["png"])
    Image.fromarray(img).save(paths["jpg"])
    np.save(paths["img_npy"], img)
    return {k: str(v) for k, v in paths.items()}


# Each case: argv template ({name} = a path from ``files``), the output and the input it names.
REFUSED = {
    "fit csv -o csv": (["fit", "{csv}", "-k", "2", "-o", "{csv}"], "{csv}", "{csv}"),
    "fit -o weights": (["fit", "{csv}", "-k", "2", "--sample-weight", "{w}", "-o", "{w}"],
                       "{w}", "{w}"),
    "predict -o data": (["predict", "{model}", "{csv}", "-o", "{csv}"], "{csv}", "{csv}"),
    "predict -o model": (["predict", "{model}", "{csv}", "-o", "{model}"], "{model}",
                         "{model}"),
    "predict --proba -o npy": (["predict", "{model}", "{npy}", "--proba", "-o", "{npy}"],
                               "{npy}", "{npy}"),
    "score --per-sample -o data": (["score", "{model}", "{csv}", "--per-sample", "-o", "{csv}"],
                                   "{csv}", "{csv}"),
    "score -o weights": (["score", "{model}", "{csv}", "--sample-weight", "{w}",
                          "--per-sample", "-o", "{w}"], "{w}", "{w}"),
    "anomalies -o data": (["anomalies", "{csv}", "-k", "2", "-o", "{csv}"], "{csv}", "{csv}"),
    "anomalies -o model": (["anomalies", "{csv}", "--model", "{model}", "-o", "{model}"],
                           "{model}", "{model}"),
    "sample -o model": (["sample", "{model}", "-n", "5", "-o", "{model}"], "{model}",
                        "{model}"),
    "select -o data": (["select", "{csv}", "-k", "1:2", "-o", "{csv}"], "{csv}", "{csv}"),
    "select --table data": (["select", "{csv}", "-k", "1:2", "--table", "{csv}"], "{csv}",
                            "{csv}"),
    "segment -o input": (["segment", "{jpg}", "-k", "2", "-o", "{jpg}"], "{jpg}", "{jpg}"),
    "segment --labels input": (["segment", "{png}", "-k", "2", "-o", "{jpg}.out.png",
                                "--labels", "{png}"], "{png}", "{png}"),
    "segment --proba input": (["segment", "{img_npy}", "-k", "2", "-o", "{png}.out.png",
                               "--proba", "{img_npy}"], "{img_npy}", "{img_npy}"),
    "plot -o model via link": (["plot", "{model}", "-o", "{link_png}"], "{link_png}",
                               "{model}"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_output_that_is_an_input_is_refused(case, files, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.symlink(files["model"], tmp_path / "fig.png")  # a figure name that is the model file
    names = dict(files, link_png=str(tmp_path / "fig.png"))
    argv, out, inp = (a if isinstance(a, str) else [s.format(**names) for s in a]
                      for a in REFUSED[case])
    out, inp = out.format(**names), inp.format(**names)
    before = snapshot(tmp_path)
    code, stdout, err = run_cli(capsys, *argv)
    assert code == EXIT_USAGE, (case, err)
    assert "refusing to overwrite an input" in err and err.count("\n") == 1, err
    assert repr(out) in err and repr(inp) in err, err
    assert snapshot(tmp_path) == before and stdout == ""


@pytest.mark.parametrize("spelling", ["relative", "dotted", "symlink", "hardlink"])
def test_every_spelling_of_the_input_is_recognised(spelling, files, tmp_path, capsys,
                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    out = {"relative": "d.csv", "dotted": "./sub/../d.csv", "symlink": "sub/link.csv",
           "hardlink": "sub/hard.csv"}[spelling]
    if spelling == "symlink":
        os.symlink("../d.csv", out)
    elif spelling == "hardlink":
        os.link("d.csv", out)
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "predict", files["model"], files["csv"], "-o", out)
    assert code == EXIT_USAGE and "refusing to overwrite an input" in err, err
    assert repr(out) in err and repr(files["csv"]) in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("argv", [
    ["segment", "{png}", "-k", "2", "-o", "{dir}/a.png", "--labels", "{dir}/a.png"],
    ["segment", "{png}", "-k", "2", "-o", "{dir}/a.png", "--labels", "{dir}/sub/../a.png"],
    ["select", "{csv}", "-k", "1", "-o", "{dir}/best.gmz", "--table", "{dir}/best.gmz"],
])
def test_two_outputs_naming_one_file_are_refused(argv, files, tmp_path, capsys, monkeypatch):
    (tmp_path / "sub").mkdir()
    import gaussmix.image
    import gaussmix.selection
    for mod, name in ((gaussmix.image, "segment"), (gaussmix.selection, "select")):
        monkeypatch.setattr(mod, name, lambda *a, **k: pytest.fail("the work was started"))
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, *[a.format(dir=tmp_path, **files) for a in argv])
    assert code == EXIT_USAGE and "are the same file" in err, err
    assert snapshot(tmp_path) == before


def test_fit_npy_onto_itself_is_refused_not_a_crash(files, tmp_path):
    """Before: exit 135 (SIGBUS) after truncating the memory-mapped input it was reading."""
    npy = files["npy"]
    before = snapshot(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(SRC))
    r = subprocess.run([sys.executable, "-m", "gaussmix", "fit", npy, "-k", "2", "-o", npy],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == EXIT_USAGE, (r.returncode, r.stderr)
    assert "refusing to overwrite an input" in r.stderr and repr(npy) in r.stderr
    assert "Traceback" not in r.stderr
    assert snapshot(tmp_path) == before


def test_missing_output_directory_fails_before_the_fit(files, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(gaussmix.GaussianMixture, "fit",
                        lambda *a, **k: pytest.fail("fitted before checking the output"))
    code, _, err = run_cli(capsys, "fit", files["csv"], "-k", "2", "-o",
                           tmp_path / "no" / "m.gmz")
    assert code == EXIT_FAILURE and "cannot write" in err and "no such directory" in err
    code, _, err = run_cli(capsys, "fit", files["csv"], "-k", "2", "-o", tmp_path)
    assert code == EXIT_USAGE and "is a directory" in err


# ------------------------------------------------------------------ options checked up front
@pytest.mark.parametrize("k", ["300", "200:300"])
def test_segment_k_too_large_for_a_label_image_fails_fast(k, files, tmp_path, capsys,
                                                           monkeypatch):
    import gaussmix.image
    monkeypatch.setattr(gaussmix.image, "segment",
                        lambda *a, **kw: pytest.fail("segmented before checking --labels"))
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "segment", files["png"], "-k", k, "-o", tmp_path / "o.png",
                           "--labels", tmp_path / "l.png")
    assert code == EXIT_USAGE and "at most 256 segments" in err and ".npy" in err, err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("extra, match", [
    (["-o", "{dir}/o.unknownext"], "no image format Pillow can write"),
    (["-o", "{dir}/o.png", "--labels", "{dir}/l.jpg"], "JPEG is not allowed here"),
    (["-o", "{dir}/o.png", "--labels", "{dir}/l"], "no image format Pillow can write"),
    (["-o", "{dir}/o.png", "--proba", "{dir}/p.csv"], "--proba must name a .npy file"),
    (["-o", "{dir}/o.png", "--features", "color,texture"], "--features must be"),
    (["-o", "{dir}/o.png", "--n-init", "0"], "--n-init must be a positive integer"),
])
def test_segment_options_are_checked_before_the_work(extra, match, files, tmp_path, capsys,
                                                      monkeypatch):
    import gaussmix.image
    monkeypatch.setattr(gaussmix.image, "segment",
                        lambda *a, **kw: pytest.fail("segmented before checking the options"))
    before = snapshot(tmp_path)
    code, _, err = run_cli(capsys, "segment", files["png"], "-k", "2",
                           *[e.format(dir=tmp_path) for e in extra])
    assert code == EXIT_USAGE and match in err, err
    assert snapshot(tmp_path) == before


def test_figure_format_is_checked_before_the_work(files, tmp_path, capsys, monkeypatch):
    import gaussmix.selection
    monkeypatch.setattr(gaussmix.selection, "select",
                        lambda *a, **k: pytest.fail("fitted before checking --plot"))
    code, _, err = run_cli(capsys, "select", files["csv"], "-k", "1:2", "--plot",
                           tmp_path / "fig.xyz")
    assert code == EXIT_USAGE and "cannot write .xyz figures" in err, err
    code, _, err = run_cli(capsys, "plot", files["model"], "-o", tmp_path / "fig.xyz")
    assert code == EXIT_USAGE and "cannot write .xyz figures" in err, err
    assert not list(tmp_path.glob("fig*"))


def test_anomalies_and_score_options_are_checked_before_reading(tmp_path, capsys):
    missing = tmp_path / "missing.csv"  # never read: the options fail first
    code, _, err = run_cli(capsys, "anomalies", missing, "-k", "0:x")
    assert code == EXIT_USAGE and "-k must be" in err
    code, _, err = run_cli(capsys, "score", tmp_path / "m.gmz", missing, "-o", tmp_path / "x")
    assert code == EXIT_USAGE and "needs --per-sample" in err


# ------------------------------------------------------------------ atomic writes
def test_normal_outputs_replace_old_files(files, tmp_path, capsys):
    """Atomic replacement still replaces: the new content, readable, no temporary left."""
    from PIL import Image
    out_csv, out_npy, out_png, labels = (tmp_path / n for n in ("p.csv", "p.npy", "s.png",
                                                                "l.png"))
    for p in (out_csv, out_npy, out_png, labels):
        p.write_bytes(b"old")
    gm = gaussmix.load(files["model"])
    X = np.loadtxt(files["csv"], delimiter=",", skiprows=1)
    assert run_cli(capsys, "predict", files["model"], files["csv"], "-o", out_csv)[0] == 0
    np.testing.assert_array_equal(np.loadtxt(out_csv, skiprows=1), gm.predict(X))
    assert run_cli(capsys, "predict", files["model"], files["csv"], "--proba",
                   "-o", out_npy)[0] == 0
    np.testing.assert_allclose(np.load(out_npy), gm.predict_proba(X), rtol=1e-12)
    code, _, err = run_cli(capsys, "segment", files["png"], "-k", "2", "--seed", "0", "-o",
                           out_png, "--labels", labels, "-q")
    assert code == 0, err
    lab = np.asarray(Image.open(labels))
    assert lab.shape == (16, 20) and set(np.unique(lab)) == {0, 1}
    assert np.asarray(Image.open(out_png)).shape == (16, 20, 3)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    mode = out_csv.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def _fail_midway(real):
    """Wrap a writer so that it writes part of its output, then fails as a full disk would."""
    def writer(*args, **kwargs):
        fh = next((a for a in list(args) + list(kwargs.values()) if hasattr(a, "write")), None)
        assert fh is not None, "the writer was not given a file handle"
        fh.write(b"\x00partial")
        raise OSError(28, "No space left on device")
    return writer


@pytest.mark.parametrize("target", ["npy", "image", "figure"])
def test_write_failing_midway_keeps_the_old_file(target, files, tmp_path, capsys, monkeypatch):
    import matplotlib.figure
    from PIL import Image
    old = b"the previous, valid file"
    if target == "npy":
        dest = tmp_path / "proba.npy"
        monkeypatch.setattr(np, "save", _fail_midway(np.save))
        argv = ["predict", files["model"], files["csv"], "--proba", "-o", dest]
    elif target == "image":
        dest = tmp_path / "seg.png"
        monkeypatch.setattr(Image.Image, "save",
                            lambda self, fp, *a, **k: _fail_midway(None)(fp))
        argv = ["segment", files["png"], "-k", "2", "-o", dest, "-q"]
    else:
        dest = tmp_path / "fig.png"
        monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                            lambda self, fp, *a, **k: _fail_midway(None)(fp))
        argv = ["plot", files["model"], files["csv"], "-o", dest]
    dest.write_bytes(old)
    code, _, err = run_cli(capsys, *argv)
    assert code == EXIT_FAILURE and "No space left on device" in err, err
    assert dest.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        {Path(v).name for v in files.values()} | {dest.name})


def _limit_file_size(limit):
    def preexec():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


def test_file_size_limit_midway_keeps_the_old_table(files, tmp_path):
    """A real short write: the kernel refuses bytes past RLIMIT_FSIZE (EFBIG)."""
    dest = tmp_path / "proba.csv"
    old = b"p0,p1,p2\n1,0,0\n"
    dest.write_bytes(old)
    env = dict(os.environ, PYTHONPATH=str(SRC), PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "gaussmix", "predict", files["model"], files["csv"],
           "--proba", "-o", str(dest)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120,
                       preexec_fn=_limit_file_size(2048))
    assert r.returncode == EXIT_FAILURE, (r.returncode, r.stderr)
    assert "cannot write" in r.stderr and "Traceback" not in r.stderr
    assert dest.read_bytes() == old
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # without the limit the same command succeeds and writes more than the limit allowed
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == EXIT_OK and dest.stat().st_size > 2048


# ------------------------------------------------------------------ fit summary without re-reading
def test_fit_summary_does_not_read_the_data_again(files, tmp_path, capsys, monkeypatch):
    """The summary comes from the fit's statistics: no score/bic/aic pass over DATA."""
    for name in ("score", "score_samples", "bic", "aic"):
        monkeypatch.setattr(gaussmix.GaussianMixture, name,
                            lambda *a, **k: pytest.fail("the summary re-read the data"))
    code, out, err = run_cli(capsys, "fit", files["npy"], "-k", "3", "--seed", "0",
                             "--json", "-o", tmp_path / "m2.gmz")
    assert code == EXIT_OK, err


def test_file_size_limit_midway_keeps_the_old_model(files, tmp_path):
    """``fit -o`` onto an existing model: a save cut short by EFBIG leaves the old model."""
    dest = tmp_path / "old.gmz"
    Path(files["model"]).replace(dest)
    old = dest.read_bytes()
    limit = len(old) // 2  # the new model is about the same size: the write cannot finish
    env = dict(os.environ, PYTHONPATH=str(SRC), PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run([sys.executable, "-m", "gaussmix", "fit", files["csv"], "-k", "3", "-q",
                        "--seed", "1", "-o", str(dest)], capture_output=True, text=True,
                       env=env, timeout=120, preexec_fn=_limit_file_size(limit))
    assert r.returncode == EXIT_FAILURE, (r.returncode, r.stderr)
    assert "cannot write" in r.stderr and "Traceback" not in r.stderr
    assert dest.read_bytes() == old
    gaussmix.load(dest)  # still a valid model
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
