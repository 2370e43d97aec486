"""Command-line conventions: header names travel everywhere, ``-o -`` is standard output,
every command has ``--json``, CSV is read by pandas (same results as the NumPy reader) and
Parquet is accepted."""
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gaussmix
from gaussmix.cli import EXIT_OK, EXIT_USAGE, build_parser, main
from gaussmix.cli import _data

SRC = Path(__file__).resolve().parents[1] / "src"
NAMES = ["height", "weight", "age"]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(text):
    lines = text.strip().splitlines()
    return lines[0].split(","), np.loadtxt(io.StringIO("\n".join(lines[1:])), delimiter=",",
                                           ndmin=2)


@pytest.fixture
def data(make_blobs, rng):
    X, _ = make_blobs(rng, n_per=(40, 35, 45), d=3)
    return X


@pytest.fixture
def csv_file(data, tmp_path):
    path = tmp_path / "data.csv"
    np.savetxt(path, data, delimiter=",", fmt="%.17g", header=",".join(NAMES), comments="")
    return path


@pytest.fixture
def model(csv_file, tmp_path):
    path = tmp_path / "model.gmz"
    assert main(["fit", str(csv_file), "-k", "3", "--seed", "0", "-o", str(path), "-q"]) == 0
    return path


# --------------------------------------------------------------------------- header names
@pytest.mark.parametrize("extra", [[], ["--coreset-size", "60"]])
def test_fit_stores_the_header_names_in_the_model_file(capsys, csv_file, tmp_path, extra):
    code, out, err = run_cli(capsys, "fit", csv_file, "-k", 2, "--seed", 0, "-o",
                             tmp_path / "m.gmz", "--json", *extra)
    assert code == EXIT_OK, err
    assert json.loads(out)["features"] == NAMES
    assert list(gaussmix.load(tmp_path / "m.gmz").feature_names_in_) == NAMES


def test_headerless_data_give_no_names(capsys, data, tmp_path):
    np.save(tmp_path / "d.npy", data)
    assert main(["fit", str(tmp_path / "d.npy"), "-k", "2", "-q", "-o",
                 str(tmp_path / "m.gmz")]) == 0
    assert not hasattr(gaussmix.load(tmp_path / "m.gmz"), "feature_names_in_")
    code, out, _ = run_cli(capsys, "sample", tmp_path / "m.gmz", "-n", 3)
    assert read_csv(out)[0] == ["x0", "x1", "x2"]


def test_info_shows_the_names(capsys, model):
    code, out, _ = run_cli(capsys, "info", model)
    assert code == EXIT_OK and "features: 3 (height, weight, age)" in out
    code, out, _ = run_cli(capsys, "info", model, "--json")
    assert json.loads(out)["features"] == NAMES


def test_sample_header_is_the_names(capsys, model):
    code, out, _ = run_cli(capsys, "sample", model, "-n", 20, "--seed", 3, "--labels")
    header, X = read_csv(out)
    assert code == EXIT_OK and header == NAMES + ["component"] and X.shape == (20, 4)


def test_plot_axes_are_labelled_with_the_names(capsys, model, csv_file, tmp_path, monkeypatch):
    import gaussmix.cli._plot as plot_cmd
    seen = {}
    real = plot_cmd.save_figure

    def capture(fig, path, fmt, **kw):
        seen["labels"] = [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]
        real(fig, path, fmt, **kw)

    monkeypatch.setattr(plot_cmd, "save_figure", capture)
    code, _, err = run_cli(capsys, "plot", model, csv_file, "-o", tmp_path / "f.png",
                           "--kind", "ellipses", "--dims", "0,2")
    assert code == EXIT_OK, err
    assert seen["labels"][0] == ("height", "age")
    assert "warning" not in err


def test_predict_score_anomalies_echo_the_named_columns(capsys, model, csv_file, data):
    gm = gaussmix.load(model)
    code, out, err = run_cli(capsys, "predict", model, csv_file, "--with-data")
    header, table = read_csv(out)
    assert code == EXIT_OK and header == NAMES + ["component"] and err == ""
    np.testing.assert_array_equal(table[:, :3], data)  # echoed exactly (%.17g)
    np.testing.assert_array_equal(table[:, 3], gm.predict(data))

    code, out, _ = run_cli(capsys, "predict", model, csv_file, "--with-data", "--proba")
    header, table = read_csv(out)
    assert header == NAMES + ["p0", "p1", "p2"]
    np.testing.assert_allclose(table[:, 3:], gm.predict_proba(data), atol=1e-9)

    code, out, _ = run_cli(capsys, "score", model, csv_file, "--per-sample", "--with-data")
    header, table = read_csv(out)
    assert header == NAMES + ["log_density"]
    np.testing.assert_array_equal(table[:, :3], data)
    np.testing.assert_allclose(table[:, 3], gm.score_samples(data), rtol=1e-11)

    code, out, _ = run_cli(capsys, "anomalies", csv_file, "--model", model, "--with-data",
                           "--only-outliers", "--contamination", "0.1")
    header, table = read_csv(out)
    assert header == ["row"] + NAMES + ["outlier", "log_density", "decision"]
    rows = table[:, 0].astype(int)
    assert len(rows) == 12  # 10% of 120
    np.testing.assert_array_equal(table[:, 1:4], data[rows])
    np.testing.assert_allclose(table[:, 5], gm.score_samples(data)[rows], rtol=1e-9)


def test_headerless_data_echo_the_models_names(capsys, model, data, tmp_path):
    np.save(tmp_path / "d.npy", data)
    code, out, err = run_cli(capsys, "predict", model, tmp_path / "d.npy", "--with-data")
    assert code == EXIT_OK and read_csv(out)[0] == NAMES + ["component"]
    assert err == ""  # data taken by position, without scikit-learn's feature-name warning


def test_a_header_naming_other_features_is_refused(capsys, model, data, tmp_path):
    other = tmp_path / "other.csv"
    np.savetxt(other, data, delimiter=",", header="age,weight,height", comments="")
    for argv in (["predict", model, other], ["score", model, other],
                 ["anomalies", other, "--model", model], ["plot", model, other, "-o",
                                                          tmp_path / "f.png"]):
        code, out, err = run_cli(capsys, *argv)
        assert code == EXIT_USAGE and "are not the model's features" in err, (argv, err)
        assert err.count("\n") == 1 and out == ""


# --------------------------------------------------------------------------- -o -
def _file_and_stdout(capsys, tmp_path, argv, out_name):
    """Run ``argv`` with ``-o FILE`` and with ``-o -``: (file text, stdout, stderr)."""
    path = tmp_path / out_name
    code, out, err = run_cli(capsys, *argv, "-o", path)
    assert code == EXIT_OK and err == "", err
    assert out == "" or "--json" in argv
    code, out, err = run_cli(capsys, *argv, "-o", "-")
    assert code == EXIT_OK, err
    return path.read_text(), out, err


@pytest.mark.parametrize("argv", [
    ["predict", "{model}", "{csv}"],
    ["predict", "{model}", "{csv}", "--proba", "--with-data"],
    ["sample", "{model}", "-n", "30", "--seed", "1", "--labels"],
    ["score", "{model}", "{csv}", "--per-sample"],
    ["anomalies", "{csv}", "--model", "{model}", "--seed", "0"],
])
def test_dash_o_writes_the_table_to_stdout(capsys, tmp_path, model, csv_file, argv):
    argv = [a.format(model=model, csv=csv_file) for a in argv]
    text, out, err = _file_and_stdout(capsys, tmp_path, argv, "t.csv")
    assert out == text and err == ""
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("argv,key", [
    (["predict", "{model}", "{csv}"], "counts"),
    (["sample", "{model}", "-n", "30", "--seed", "1"], "counts"),
    (["score", "{model}", "{csv}", "--per-sample"], "log_likelihood"),
    (["anomalies", "{csv}", "--model", "{model}", "--seed", "0"], "n_outliers"),
])
def test_json_goes_to_stderr_when_the_table_takes_stdout(capsys, tmp_path, model, csv_file,
                                                         argv, key):
    argv = [a.format(model=model, csv=csv_file) for a in argv]
    text, out, err = _file_and_stdout(capsys, tmp_path, argv + ["--json"], "t.csv")
    assert out == text  # stdout holds the table only
    summary = json.loads(err)
    assert summary["output"] == "-" and key in summary
    code, out, err = run_cli(capsys, *argv, "--json", "-o", tmp_path / "t2.csv")
    assert json.loads(out)["output"] == str(tmp_path / "t2.csv") and err == ""
    assert (tmp_path / "t2.csv").read_text() == text
    code, out, err = run_cli(capsys, *argv, "--json")  # no -o: the summary alone
    assert key in json.loads(out) and err == ""


def test_select_table_to_stdout_and_summary_to_stderr(capsys, csv_file, tmp_path):
    argv = ["select", csv_file, "-k", "1:3", "--covariance", "full,diag", "--seed", "0",
            "--validation-fraction", "0"]
    code, out, err = run_cli(capsys, *argv, "--table", "-", "--json")
    assert code == EXIT_OK, err
    import csv
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 6 and list(rows[0])[:3] == ["rank", "n_components", "covariance_type"]
    summary = json.loads(err)  # the summary on stderr, the table alone on stdout
    assert int(rows[0]["n_components"]) == summary["best"]["n_components"]
    assert rows[0]["covariance_type"] == summary["best"]["covariance_type"]
    assert [int(r["rank"]) for r in rows] == [r["rank"] for r in summary["table"]]
    code, out2, err = run_cli(capsys, *argv, "--table", tmp_path / "r.csv", "-q")
    again = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    for r in rows + again:
        r.pop("fit_time")
    assert again == rows and out2 == ""


@pytest.mark.parametrize("argv", [
    ["fit", "{csv}", "-k", "2", "-o", "-"],
    ["select", "{csv}", "-k", "1:2", "-o", "-"],
    ["select", "{csv}", "-k", "1:2", "--plot", "-"],
    ["select", "{csv}", "-k", "1:2", "--table", "-", "--plot", "-"],
    ["plot", "{model}", "-o", "-"],
    ["segment", "{png}", "-k", "2", "-o", "-"],
])
def test_dash_o_for_a_binary_output_is_a_usage_error(capsys, tmp_path, model, csv_file,
                                                     argv, monkeypatch):
    from PIL import Image
    monkeypatch.chdir(tmp_path)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "p.png")
    argv = [a.format(model=model, csv=csv_file, png=tmp_path / "p.png") for a in argv]
    before = sorted(os.listdir(tmp_path))
    code, out, err = run_cli(capsys, *argv)
    assert code == EXIT_USAGE and out == "" and err.count("\n") == 1, err
    assert "-" in err and sorted(os.listdir(tmp_path)) == before


# --------------------------------------------------------------------------- --json everywhere
def test_every_command_has_json():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert any("--json" in a.option_strings for a in p._actions), name


@pytest.mark.parametrize("argv", [
    ["fit", "{csv}", "-k", "2", "-o", "{tmp}/m.gmz"],
    ["predict", "{model}", "{csv}"],
    ["score", "{model}", "{csv}"],
    ["sample", "{model}", "-n", "5"],
    ["info", "{model}"],
    ["select", "{csv}", "-k", "1:2", "--covariance", "diag"],
    ["anomalies", "{csv}", "-k", "2"],
    ["plot", "{model}", "-o", "{tmp}/f.png", "--kind", "lower-bounds"],
    ["demo", "--repeat", "1"],
])
def test_json_output_parses(capsys, tmp_path, model, csv_file, argv):
    argv = [a.format(model=model, csv=csv_file, tmp=tmp_path) for a in argv]
    code, out, err = run_cli(capsys, *argv, "--json")
    assert code == EXIT_OK, err
    assert isinstance(json.loads(out), dict) and out.count("\n") == 1


# --------------------------------------------------------------------------- readers
CSV_CASES = {
    "header": "a,b\n1,2\n3,4.5\n",
    "no header": "1,2\n3,4\n",
    "tabs": "a\tb\n1\t2\n3\t4\n",
    "whitespace": "1 2\n 3   4\n",
    "semicolons": "x;y\n1;2\n3;4\n",
    "comments and blanks": "# made by hand\n\na,b\n1,2\n# note\n\n3,4\n",
    "BOM and CRLF": "\ufeffa,b\r\n1,2\r\n3,4\r\n",
    "spaces": "a, b\n 1, 2\n3 ,4\n",
    "nan and inf": "a,b\n1,inf\nnan,-inf\n",
    "quoted": 'a,b\n"1","2"\n',
    "one column": "w\n1\n2\n",
    "precision": "0.1,0.30000000000000004\n1e-300,1.7976931348623157e308\n5e-324,-0.0\n",
    "empty field": "a,b\n1,\n3,4\n",
    "text column": "a,species,b\n1,setosa,2\n",
    "booleans": "a,b\n1,true\n2,false\n",
    "ragged": "a,b\n1,2\n3,4,5\n",
    "short row": "a,b\n1,2\n3\n",
    "empty": "",
    "header only": "a,b\n",
    "duplicate names": "a,a\n1,2\n",
}


def _read(path, engine, monkeypatch):
    monkeypatch.setattr(_data, "csv_engine", lambda: engine)
    try:
        t = _data.load_data(str(path))
    except _data.CLIError as exc:
        return "error", str(exc)
    return t.columns, t.X.dtype, t.X.tobytes(), t.X.shape


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_pandas_reader_equals_the_numpy_reader(case, tmp_path, monkeypatch):
    """The pandas reader and the NumPy fallback give bit-identical arrays, the same names and
    the same error messages."""
    assert _data.csv_engine() == "c"
    path = tmp_path / "d.csv"
    path.write_bytes(CSV_CASES[case].encode("utf-8"))
    assert _read(path, "c", monkeypatch) == _read(path, None, monkeypatch)


def test_pandas_reader_is_exact_on_random_doubles(rng, tmp_path, monkeypatch):
    X = rng.normal(size=(2000, 4)) * 10.0 ** rng.integers(-30, 30, size=(2000, 4))
    path = tmp_path / "d.csv"
    np.savetxt(path, X, delimiter=",", fmt="%.17g", header="a,b,c,d", comments="")
    monkeypatch.setattr(_data, "csv_engine", lambda: "c")
    np.testing.assert_array_equal(_data.load_data(str(path)).X, X)
    np.testing.assert_array_equal(_data.load_data(str(path), np.float32).X,
                                  np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32))


def test_stdin_is_read_by_pandas(capsys, csv_file, data, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(csv_file.read_bytes())))
    t = _data.load_data("-")
    assert t.columns == NAMES and t.source == "<stdin>"
    np.testing.assert_array_equal(t.X, data)


def test_parquet_input(capsys, data, csv_file, tmp_path, model):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    df = pd.DataFrame(data, columns=NAMES)
    df["age"] = (df["age"] * 1000).round().astype("int64")  # integer columns are numeric too
    df.to_parquet(tmp_path / "d.parquet")
    t = _data.load_data(str(tmp_path / "d.parquet"))
    assert t.columns == NAMES and t.X.dtype == np.float64
    np.testing.assert_array_equal(t.X, df.to_numpy(dtype=np.float64))
    code, out, err = run_cli(capsys, "fit", tmp_path / "d.parquet", "-k", 2, "--seed", 0,
                             "-o", tmp_path / "p.gmz", "--json")
    assert code == EXIT_OK, err
    Xp = np.ascontiguousarray(df.to_numpy(dtype=np.float64))
    ref = gaussmix.GaussianMixture(2, random_state=0).fit(Xp)
    gm = gaussmix.load(tmp_path / "p.gmz")
    np.testing.assert_array_equal(gm.means_, ref.means_)
    assert list(gm.feature_names_in_) == NAMES
    df.to_parquet(tmp_path / "d.pq")
    code, out, _ = run_cli(capsys, "predict", tmp_path / "p.gmz", tmp_path / "d.pq")
    np.testing.assert_array_equal(read_csv(out)[1][:, 0], ref.predict(Xp))


@pytest.mark.parametrize("make,match", [
    (lambda pd: pd.DataFrame({"a": [1.0, 2.0], "s": ["x", "y"]}),
     "column 's' is not numeric"),
    (lambda pd: pd.DataFrame({"a": [1.0, None, 3.0], "b": [1.0, 2.0, 3.0]}),
     "column 'a' has 1 missing values \\(first at row 1\\)"),
    (lambda pd: pd.DataFrame({"a": pd.array([1, None], dtype="Int64")}),
     "column 'a' has 1 missing values"),
    (lambda pd: pd.DataFrame({"a": []}, dtype=float), "no data"),
])
def test_bad_parquet_is_a_one_line_error(capsys, tmp_path, make, match):
    import re
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    make(pd).to_parquet(tmp_path / "bad.parquet")
    code, _, err = run_cli(capsys, "fit", tmp_path / "bad.parquet", "-k", 1, "-o",
                           tmp_path / "m.gmz")
    assert code == EXIT_USAGE and re.search(match, err) and err.count("\n") == 1, err
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    code, _, err = run_cli(capsys, "fit", tmp_path / "junk.parquet", "-o", tmp_path / "m.gmz")
    assert code == EXIT_USAGE and "not a readable Parquet file" in err


def _without(tmp_path, modules, *argv):
    """Run the CLI in a fresh interpreter in which ``modules`` cannot be imported."""
    code = (f"import sys\nfor m in {modules!r}: sys.modules[m] = None\n"
            "from gaussmix.cli import main\nsys.exit(main(sys.argv[1:]))")
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", code, *map(str, argv)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_fit_works_without_pandas(tmp_path, data, csv_file):
    """``pip install gaussmix && gaussmix fit data.csv``: pandas is an extra, not required."""
    r = _without(tmp_path, ["pandas", "pyarrow"], "fit", csv_file, "-k", 3, "--seed", 0,
                 "-o", "m.gmz", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["features"] == NAMES
    ref = gaussmix.GaussianMixture(3, random_state=0).fit(data)
    np.testing.assert_array_equal(gaussmix.load(tmp_path / "m.gmz").means_, ref.means_)
    r = _without(tmp_path, ["pandas", "pyarrow"], "select", csv_file, "-k", "1:2",
                 "--covariance", "diag", "--table", "t.csv", "-q")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "t.csv").read_text().startswith("rank,n_components,covariance_type")


def test_parquet_without_pyarrow_says_what_to_install(tmp_path):
    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    r = _without(tmp_path, ["pyarrow", "pyarrow.parquet"], "fit", "d.parquet", "-o", "m.gmz")
    assert r.returncode == EXIT_USAGE
    assert "reading Parquet needs pyarrow" in r.stderr and "gaussmix[io]" in r.stderr
