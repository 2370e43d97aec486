"""The gaussmix command line, end to end in a temporary directory.

Most tests call ``gaussmix.cli.main(argv)`` in-process (fast); a few run ``python -m gaussmix``
in a subprocess to check the real entry point, exit codes and stderr.
"""
import io
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import gaussmix
from gaussmix import GaussianMixture
from gaussmix.cli import COMMANDS, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main
from gaussmix.cli._progress import ProgressLine

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def data(make_blobs, rng):
    X, _ = make_blobs(rng, n_per=(40, 35, 45), d=3)
    return X


@pytest.fixture
def csv_file(data, tmp_path):
    path = tmp_path / "data.csv"
    np.savetxt(path, data, delimiter=",", fmt="%.17g", header="a,b,c", comments="")
    return path


@pytest.fixture
def model(csv_file, tmp_path):
    path = tmp_path / "model.gmz"
    assert main(["fit", str(csv_file), "-k", "3", "--seed", "0", "-o", str(path), "-q"]) == 0
    return path


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(text):
    lines = text.strip().splitlines()
    return lines[0].split(","), np.loadtxt(io.StringIO("\n".join(lines[1:])), delimiter=",",
                                           ndmin=2)


# --------------------------------------------------------------------------- fit
def test_covariance_accepts_mclust_names_and_aliases(capsys, csv_file, data, tmp_path):
    out_model = tmp_path / "vvv.gmz"
    code, out, err = run_cli(capsys, "fit", csv_file, "-k", 3, "--covariance", "VVV", "--seed", 1,
                             "-o", out_model, "-q")
    assert code == EXIT_OK, err
    ref = GaussianMixture(3, covariance_type="full", random_state=1).fit(data)
    np.testing.assert_array_equal(gaussmix.load(out_model).means_, ref.means_)
    code, out, err = run_cli(capsys, "select", csv_file, "-k", "1:2", "--covariance", "all",
                             "--seed", 0)
    assert code == EXIT_OK, err
    for name in gaussmix.covariance.names():
        assert f"| {name} |" in out
    code, out, err = run_cli(capsys, "select", csv_file, "-k", 2, "--covariance", "EEE,VEV")
    assert code == EXIT_OK, err
    assert "| EEE |" in out and "| VEV |" in out
    code, out, err = run_cli(capsys, "select", csv_file, "-k", 2, "--covariance", "XYZ")
    assert code == EXIT_USAGE and "XYZ" in err and "VVV" in err


def test_fit_equals_library_fit(capsys, csv_file, data, tmp_path):
    out_model = tmp_path / "m.gmz"
    code, out, err = run_cli(capsys, "fit", csv_file, "-k", 3, "--covariance", "diag",
                             "--seed", 4, "--max-iter", 50, "--n-init", 2, "-o", out_model)
    assert code == EXIT_OK, err
    assert "fitted 3 diag components to 120 x 3" in out and str(out_model) in out
    gm = gaussmix.load(out_model)
    ref = GaussianMixture(3, covariance_type="diag", random_state=4, max_iter=50,
                          n_init=2).fit(data)
    np.testing.assert_array_equal(gm.means_, ref.means_)
    np.testing.assert_array_equal(gm.covariances_, ref.covariances_)
    assert gm.random_state == 4 and gm.max_iter == 50


def test_fit_json_summary(capsys, csv_file, data, tmp_path):
    code, out, _ = run_cli(capsys, "fit", csv_file, "-k", 2, "--seed", 0, "-o",
                           tmp_path / "m.gmz", "--json")
    assert code == 0
    summary = json.loads(out)
    ref = GaussianMixture(2, random_state=0).fit(data)
    assert summary["n_samples"] == 120 and summary["n_features"] == 3
    assert summary["converged"] is True and summary["n_iter"] == ref.n_iter_
    # the fit's own statistics: the mean log-likelihood of the last E-step, so no second pass;
    # it trails the final model's score by at most the last EM change (< tol when converged)
    assert summary["log_likelihood"] == ref.lower_bound_ == summary["lower_bound"]
    n, p = len(data), ref._n_parameters()
    assert summary["bic"] == pytest.approx(-2 * n * ref.lower_bound_ + p * np.log(n), rel=1e-12)
    assert summary["aic"] == pytest.approx(-2 * n * ref.lower_bound_ + 2 * p, rel=1e-12)
    assert -1e-9 <= ref.score(data) - summary["log_likelihood"] < ref.tol  # EM ascends
    assert abs(summary["bic"] - ref.bic(data)) < 2 * n * ref.tol


def test_fit_summary_with_sample_weights(capsys, csv_file, data, tmp_path, rng):
    w = rng.uniform(0.2, 3.0, len(data))
    np.savetxt(tmp_path / "w.csv", w, fmt="%.17g")
    code, out, _ = run_cli(capsys, "fit", csv_file, "-k", 3, "--seed", 0, "--sample-weight",
                           tmp_path / "w.csv", "-o", tmp_path / "m.gmz", "--json")
    assert code == 0
    s = json.loads(out)
    ref = GaussianMixture(3, random_state=0).fit(data, sample_weight=w)
    assert s["log_likelihood"] == pytest.approx(ref.lower_bound_, rel=1e-12)
    assert -1e-9 <= ref.score(data, sample_weight=w) - s["log_likelihood"] < ref.tol
    # BIC's n is the sum of the weights, as in GaussianMixture.bic
    assert abs(s["bic"] - ref.bic(data, sample_weight=w)) < 2 * w.sum() * ref.tol
    assert abs(s["aic"] - ref.aic(data, sample_weight=w)) < 2 * w.sum() * ref.tol


def test_header_is_optional(capsys, data, tmp_path):
    with_header = tmp_path / "h.csv"
    without = tmp_path / "n.csv"
    np.savetxt(with_header, data, delimiter=",", fmt="%.17g", header="x,y,z", comments="")
    np.savetxt(without, data, delimiter=",", fmt="%.17g")
    for src, dst in ((with_header, "h.gmz"), (without, "n.gmz")):
        assert main(["fit", str(src), "-k", "3", "--seed", "1", "-o", str(tmp_path / dst),
                     "-q"]) == 0
    a, b = gaussmix.load(tmp_path / "h.gmz"), gaussmix.load(tmp_path / "n.gmz")
    np.testing.assert_array_equal(a.means_, b.means_)


def test_other_delimiters(capsys, data, tmp_path):
    for delim, name in (("\t", "t.tsv"), (";", "s.csv"), (" ", "w.txt")):
        path = tmp_path / name
        np.savetxt(path, data, delimiter=delim, fmt="%.17g")
        code, out, err = run_cli(capsys, "fit", path, "-k", 3, "--seed", 0,
                                 "-o", tmp_path / "m.gmz", "--json")
        assert code == 0, err
        assert json.loads(out)["n_features"] == 3


def test_fit_npy_float32_and_sample_weights(capsys, data, tmp_path, rng):
    X32 = data.astype(np.float32)
    np.save(tmp_path / "d.npy", X32)
    w = rng.integers(1, 4, size=len(data)).astype(float)
    np.savetxt(tmp_path / "w.csv", w, fmt="%.17g")
    code, out, err = run_cli(capsys, "fit", tmp_path / "d.npy", "-k", 3, "--seed", 0,
                             "--sample-weight", tmp_path / "w.csv", "-o", tmp_path / "m.gmz",
                             "--json")
    assert code == 0, err
    assert json.loads(out)["dtype"] == "float32"
    ref = GaussianMixture(3, random_state=0).fit(X32, sample_weight=w)
    np.testing.assert_array_equal(gaussmix.load(tmp_path / "m.gmz").means_, ref.means_)
    # --dtype float64 overrides the file's dtype
    code, out, _ = run_cli(capsys, "fit", tmp_path / "d.npy", "-k", 3, "--dtype", "float64",
                           "-o", tmp_path / "m.gmz", "--json")
    assert json.loads(out)["dtype"] == "float64"


def test_progress_line_is_drawn_for_long_fits(capsys, csv_file, tmp_path, monkeypatch):
    """A fit longer than the delay draws progress on stderr (the delay is set to zero here)."""
    import gaussmix.cli._fit as fit_cmd

    class Immediate(ProgressLine):
        def __init__(self, max_iter, n_init, delay=1.0):
            super().__init__(max_iter, n_init, delay=0.0 if delay == 1.0 else delay,
                             interval=0.0)

    monkeypatch.setattr(fit_cmd, "ProgressLine", Immediate)
    code, out, err = run_cli(capsys, "fit", csv_file, "-k", 3, "--seed", 0, "--n-init", 2,
                             "-o", tmp_path / "m.gmz")
    assert code == 0
    lines = [ln for ln in err.splitlines() if ln.startswith("fit [")]
    assert lines and "init 2/2" in lines[-1] and "lower bound" in lines[-1]
    assert "fit [" not in out
    # --quiet: nothing at all
    code, out, err = run_cli(capsys, "fit", csv_file, "-k", 3, "-q", "-o", tmp_path / "m.gmz")
    assert code == 0 and out == "" and err == ""


def test_progress_line_counts_iterations_and_restarts():
    stream = io.StringIO()
    bar = ProgressLine(max_iter=10, n_init=2, stream=stream, delay=0.0, interval=0.0)
    for it in (1, 2, 3, 1, 2):
        bar(it, -1.5)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 5
    assert lines[2].startswith("fit [###-----------------] init 1/2 iteration 3/10")
    assert lines[-1].startswith("fit [############--------] init 2/2 iteration 2/10")
    silent = io.StringIO()
    bar = ProgressLine(max_iter=10, n_init=1, stream=silent, delay=60.0)
    bar(1, -1.0)
    bar.close()
    assert silent.getvalue() == ""


# --------------------------------------------------------------------------- predict / score
def test_predict_labels_and_probabilities(capsys, model, csv_file, data, tmp_path):
    gm = gaussmix.load(model)
    code, out, _ = run_cli(capsys, "predict", model, csv_file)
    assert code == 0
    header, labels = read_csv(out)
    assert header == ["component"]
    np.testing.assert_array_equal(labels[:, 0], gm.predict(data))

    code, out, _ = run_cli(capsys, "predict", model, csv_file, "--proba")
    header, proba = read_csv(out)
    assert header == ["p0", "p1", "p2"]
    np.testing.assert_allclose(proba, gm.predict_proba(data), atol=1e-9)

    assert main(["predict", str(model), str(csv_file), "-o", str(tmp_path / "l.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), gm.predict(data))
    assert main(["predict", str(model), str(csv_file), "--no-header",
                 "-o", str(tmp_path / "l.csv")]) == 0
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "l.csv"), gm.predict(data))


def test_score_summary_json_and_per_sample(capsys, model, csv_file, data):
    gm = gaussmix.load(model)
    code, out, _ = run_cli(capsys, "score", model, csv_file, "--json")
    assert code == 0
    s = json.loads(out)
    assert s["log_likelihood"] == pytest.approx(gm.score(data), rel=1e-12)
    assert s["bic"] == pytest.approx(gm.bic(data), rel=1e-12)
    assert s["aic"] == pytest.approx(gm.aic(data), rel=1e-12)
    assert s["n_samples"] == 120
    code, out, _ = run_cli(capsys, "score", model, csv_file)
    assert f"mean log-likelihood: {gm.score(data):.10g}" in out and "BIC:" in out
    code, out, _ = run_cli(capsys, "score", model, csv_file, "--per-sample")
    header, ll = read_csv(out)
    assert header == ["log_density"]
    np.testing.assert_allclose(ll[:, 0], gm.score_samples(data), rtol=1e-11)


# --------------------------------------------------------------------------- sample / info
def test_sample(capsys, model):
    code, out, _ = run_cli(capsys, "sample", model, "-n", 50, "--seed", 1)
    assert code == 0
    header, X = read_csv(out)
    assert header == ["a", "b", "c"] and X.shape == (50, 3)  # the fitted CSV's header
    _, again = read_csv(run_cli(capsys, "sample", model, "-n", 50, "--seed", 1)[1])
    np.testing.assert_array_equal(X, again)
    gm = gaussmix.load(model).set_params(random_state=1)
    np.testing.assert_allclose(X, gm.sample(50)[0], rtol=1e-9)
    code, out, _ = run_cli(capsys, "sample", model, "-n", 7, "--labels")
    header, X = read_csv(out)
    assert header[-1] == "component" and X.shape == (7, 4)
    assert set(X[:, 3]) <= {0.0, 1.0, 2.0}


def test_info(capsys, model):
    gm = gaussmix.load(model)
    code, out, _ = run_cli(capsys, "info", model)
    assert code == 0
    assert "components: 3 (full covariance)" in out and "features: 3" in out
    assert f"{gm.weights_[0]:.4f}" in out
    code, out, _ = run_cli(capsys, "info", model, "--json")
    info = json.loads(out)
    assert info["n_components"] == 3 and info["covariance_type"] == "full"
    np.testing.assert_array_equal(info["weights"], gm.weights_)
    np.testing.assert_array_equal(info["means"], gm.means_)
    np.testing.assert_array_equal(info["covariances"], gm.covariances_)
    assert info["n_parameters"] == gm._n_parameters()


def test_demo_json(capsys):
    from sklearn.datasets import load_iris
    code, out, _ = run_cli(capsys, "demo", "--json", "--repeat", 1)
    assert code == 0
    s = json.loads(out)
    X = load_iris().data
    ref = GaussianMixture(3, random_state=0).fit(X)
    assert s["dataset"] == "iris" and s["n_samples"] == 150
    assert s["log_likelihood"] == pytest.approx(ref.score(X), rel=1e-12)
    assert s["bic"] == pytest.approx(ref.bic(X), rel=1e-12)
    assert s["adjusted_rand_index"] > 0.8
    assert s["log_likelihood"] == pytest.approx(s["sklearn"]["log_likelihood"], rel=1e-6)
    assert len(s["components"]) == 3
    assert sorted(c["majority_species"] for c in s["components"]) == [
        "setosa", "versicolor", "virginica"]
    assert s["seconds"]["gaussmix"] > 0 and s["seconds"]["sklearn"] > 0


def test_demo_text(capsys):
    code, out, _ = run_cli(capsys, "demo", "--repeat", 1)
    assert code == 0
    for text in ("mean log-likelihood", "BIC", "adjusted Rand index", "setosa", "scikit-learn",
                 "fit time"):
        assert text in out


# --------------------------------------------------------------------------- errors
def write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("content,match", [
    ("a,species,b\n1,setosa,2\n3,virginica,4\n", "column 'species' is not numeric"),
    ("1,2\n3,x\n", "column 2 is not numeric \\(value 'x' at line 2\\)"),
    ("a,b\n1,\n", "column 'b' has an empty value at line 2"),
    ("a,b\n1,2\n3,4,5\n", "line 3 has 3 fields, expected 2"),
    ("", "no data"),
    ("a,b\n", "no data rows after the header"),
    ("a,b\n1,2\nnan,4\n3,5\n", "1 NaN or inf value \\(first at row 1, column 0: nan\\)"),
])
def test_bad_csv_is_one_line_error(capsys, tmp_path, content, match):
    import re
    path = write(tmp_path / "bad.csv", content)
    code, out, err = run_cli(capsys, "fit", path, "-k", 1, "-o", tmp_path / "m.gmz")
    assert code == EXIT_USAGE
    assert err.count("\n") == 1 and err.startswith("gaussmix fit: error: ")
    assert re.search(match, err), err
    assert not (tmp_path / "m.gmz").exists()


def test_bad_npy_files(capsys, tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2)))
    np.save(tmp_path / "str.npy", np.array([["a", "b"]]))
    (tmp_path / "junk.npy").write_bytes(b"not an array")
    for name, match in (("obj.npy", "Python objects"), ("cube.npy", "expected a 2-D array"),
                        ("str.npy", "numeric array is required"), ("junk.npy", "not a valid .npy")):
        code, _, err = run_cli(capsys, "fit", tmp_path / name, "-o", tmp_path / "m.gmz")
        assert code == EXIT_USAGE and match in err and err.count("\n") == 1, err


def test_usage_and_input_errors_exit_2(capsys, model, csv_file, tmp_path):
    cases = [
        (["fit", tmp_path / "missing.csv", "-o", tmp_path / "m.gmz"], "no such file"),
        (["fit", csv_file, "-k", 500, "-o", tmp_path / "m.gmz"], "n_samples >= n_components"),
        (["fit", csv_file, "-k", 0, "-o", tmp_path / "m.gmz"], "'n_components'"),
        (["predict", csv_file, csv_file], "not a gaussmix model archive"),
        (["predict", tmp_path / "nomodel.gmz", csv_file], "no such model file"),
        (["predict", model, write(tmp_path / "two.csv", "1,2\n3,4\n")],
         "X has 2 features, but GaussianMixture is expecting 3"),
        (["score", model, csv_file, "-o", tmp_path / "s.csv"], "needs --per-sample"),
        (["fit", csv_file, "--sample-weight", write(tmp_path / "w.csv", "1\n2\n"),
          "-o", tmp_path / "m.gmz"], "has 2 weights but the data has 120 rows"),
    ]
    for argv, match in cases:
        code, out, err = run_cli(capsys, *argv)
        assert code == EXIT_USAGE, (argv, err)
        assert match in err and err.count("\n") == 1 and "Traceback" not in err, (argv, err)


def test_argparse_errors_exit_2(capsys, model):
    for argv in (["fit"], ["fit", "x.csv", "--covariance", "ful", "-o", "m"],
                 ["sample", str(model), "-n", "0"], ["frobnicate"], []):
        code, _, err = run_cli(capsys, *argv)
        assert code == EXIT_USAGE and "usage:" in err
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "Exit codes" in out


def test_write_failure_exits_1(capsys, csv_file, model, tmp_path):
    code, _, err = run_cli(capsys, "fit", csv_file, "-o", tmp_path / "no" / "such" / "m.gmz")
    assert code == EXIT_FAILURE and "cannot write" in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, "predict", model, csv_file, "-o", tmp_path / "no" / "x.csv")
    assert code == EXIT_FAILURE and "cannot write" in err


def test_warnings_are_one_line(capsys, csv_file, tmp_path):
    code, _, err = run_cli(capsys, "fit", csv_file, "-k", 3, "--max-iter", 1, "--tol", 0,
                           "-q", "-o", tmp_path / "m.gmz")
    assert code == 0
    assert err.startswith("gaussmix: warning: Best performing initialization did not converge")
    assert err.rstrip().endswith("(ConvergenceWarning)") and err.count("\n") == 1


# --------------------------------------------------------------------------- registry
def test_commands_registry():
    names = [m.NAME for m in COMMANDS]
    assert {"fit", "predict", "score", "sample", "info", "demo"} <= set(names)
    assert len(set(names)) == len(names)
    for m in COMMANDS:
        assert callable(m.add_parser) and callable(m.run) and m.HELP


def test_a_new_command_is_one_registry_entry(capsys, monkeypatch):
    hello = types.ModuleType("gaussmix.cli._hello")
    hello.NAME, hello.HELP = "hello", "say hello"

    def add_parser(sub):
        p = sub.add_parser("hello", help=hello.HELP)
        p.add_argument("--who", default="world")
        return p

    hello.add_parser = add_parser
    hello.run = lambda args: print(f"hello {args.who}") or 0
    monkeypatch.setattr("gaussmix.cli.COMMANDS", COMMANDS + [hello])
    code, out, _ = run_cli(capsys, "hello", "--who", "gmm")
    assert code == 0 and out == "hello gmm\n"


# --------------------------------------------------------------------------- subprocess
def gaussmix_cmd(*argv, cwd, stdin=None):
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "gaussmix", *map(str, argv)], cwd=cwd, env=env,
                          input=stdin, capture_output=True, text=True, timeout=120)


def test_python_m_gaussmix_end_to_end(tmp_path, data):
    np.savetxt(tmp_path / "data.csv", data, delimiter=",", fmt="%.17g", header="a,b,c",
               comments="")
    r = gaussmix_cmd("fit", "data.csv", "-k", 3, "--seed", 0, "-o", "model.gmz", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = gaussmix_cmd("predict", "model.gmz", "-", "-o", "labels.csv", cwd=tmp_path,
                     stdin=(tmp_path / "data.csv").read_text())
    assert r.returncode == 0, r.stderr
    gm = GaussianMixture(3, random_state=0).fit(data)
    labels = np.loadtxt(tmp_path / "labels.csv", skiprows=1)
    np.testing.assert_array_equal(labels, gm.predict(data))
    r = gaussmix_cmd("info", "model.gmz", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(json.loads(r.stdout)["means"], gm.means_)


def test_python_m_gaussmix_errors_have_no_traceback(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b\n1,x\n")
    r = gaussmix_cmd("fit", "bad.csv", "-o", "m.gmz", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr == "gaussmix fit: error: bad.csv: column 'b' is not numeric (value 'x' at " \
                       "line 2); remove or encode non-numeric columns.\n"


def test_every_command_help_has_examples_that_parse():
    """Each subcommand's --help shows examples, and every example is a valid command line."""
    import shlex

    from gaussmix.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        epilog = p.epilog or ""
        assert "examples:" in epilog, f"'gaussmix {name} --help' has no examples"
        lines = [ln.strip() for ln in epilog.split("examples:", 1)[1].splitlines()]
        examples = [ln for ln in lines if ln.startswith("gaussmix ") or "| gaussmix " in ln]
        assert examples, name
        for ex in examples:
            ex = ex.split("|")[-1].split("#")[0].split(" > ")[0].strip()  # no shell syntax
            args = parser.parse_args(shlex.split(ex)[1:])
            assert args._name == name, ex
