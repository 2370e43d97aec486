"""Progress messages go to the user's logging configuration or to stderr, never both."""
import io
import logging
import subprocess
import sys
import textwrap

import pytest
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture
from gaussmix._log import say, would_log


@pytest.fixture
def gm_logger():
    """The ``gaussmix`` logger, restored after the test (level, handlers, propagation)."""
    log = logging.getLogger("gaussmix")
    saved = (log.level, list(log.handlers), log.propagate)
    yield log
    log.setLevel(saved[0])
    log.handlers[:] = saved[1]
    log.propagate = saved[2]


@pytest.fixture
def root_info_stream():
    """A ``basicConfig(level=INFO)``-like root handler writing to a buffer, removed afterwards."""
    root = logging.getLogger()
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(message)s"))
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield buf
    root.removeHandler(handler)
    root.setLevel(saved)


def _fit(X, verbose):
    # tol=0 runs every iteration, so the messages are known in advance
    with pytest.warns(ConvergenceWarning):
        return GaussianMixture(3, n_init=2, max_iter=25, tol=0, verbose=verbose,
                           verbose_interval=10, random_state=0).fit(X)


def _expected_lines():
    """The messages of :func:`_fit` with verbose=1: per initialisation and every 10 iterations."""
    lines = []
    for init in range(2):
        lines += [f"Initialization {init}", "  Iteration 10", "  Iteration 20",
                  "Initialization did not converge."]
    return lines


def test_verbose_without_logging_writes_stderr_once(blobs, gm_logger, capsys, caplog):
    gm_logger.setLevel(logging.WARNING)  # the default: INFO is not enabled anywhere
    _fit(blobs[0], verbose=1)
    out, err = capsys.readouterr()
    assert err.splitlines() == _expected_lines()
    assert out == ""
    assert [r for r in caplog.records if r.name.startswith("gaussmix")] == []


def test_verbose_with_caplog_logs_only(blobs, gm_logger, capsys, caplog):
    caplog.set_level(logging.INFO, logger="gaussmix")
    _fit(blobs[0], verbose=1)
    _, err = capsys.readouterr()
    assert err == ""
    assert [r.getMessage() for r in caplog.records if r.name == "gaussmix"] == _expected_lines()


def test_verbose_with_root_info_handler_logs_only(blobs, gm_logger, root_info_stream, capsys):
    _fit(blobs[0], verbose=1)
    _, err = capsys.readouterr()
    assert err == ""
    assert root_info_stream.getvalue().splitlines() == _expected_lines()


def test_not_verbose_and_no_logging_is_silent(blobs, gm_logger, capsys):
    gm_logger.setLevel(logging.WARNING)
    _fit(blobs[0], verbose=0)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_handler_that_drops_info_falls_back_to_stderr(gm_logger, capsys):
    # INFO is enabled on the logger, but the only handler keeps WARNING and above: logging
    # would drop the message, so it is printed (once) instead of being lost
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setLevel(logging.WARNING)
    gm_logger.handlers[:] = [handler]
    gm_logger.propagate = False
    gm_logger.setLevel(logging.INFO)
    assert not would_log(gm_logger)
    say("hello", verbose=1)
    assert capsys.readouterr().err == "hello\n"
    assert buf.getvalue() == ""
    say("quiet", verbose=0)
    assert capsys.readouterr().err == ""


def test_would_log_follows_propagation_to_an_ancestor(gm_logger):
    child = logging.getLogger("gaussmix.torch")
    gm_logger.handlers[:] = [logging.NullHandler()]
    gm_logger.propagate = False
    gm_logger.setLevel(logging.INFO)
    assert would_log(child)            # the handler sits on the parent
    assert not would_log(child, logging.DEBUG)  # DEBUG is not enabled
    gm_logger.handlers[:] = []
    assert not would_log(child)        # no handler on the way up (propagation stops here)


def test_torch_progress_once(gm_logger, capsys, caplog):
    pytest.importorskip("torch")
    from gaussmix.torch._training import Progress

    gm_logger.setLevel(logging.WARNING)
    p = Progress("demo", verbose=1, interval=1)
    p(1, 0.5)
    p.done(1, "converged")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("[demo] epoch 1 loss=0.5")
    assert lines[1] == "[demo] stopped after 1 epochs: converged"

    caplog.set_level(logging.INFO, logger="gaussmix")
    p(2, 0.25)
    p.done(2, "converged")
    assert capsys.readouterr().err == ""
    msgs = [r.getMessage() for r in caplog.records if r.name == "gaussmix.torch"]
    assert len(msgs) == 2 and msgs[0].startswith("[demo] epoch 2 loss=0.25")


_SCRIPT = textwrap.dedent("""
    import logging, sys, warnings
    import numpy as np
    warnings.simplefilter("ignore")
    if sys.argv[1] == "basicConfig":
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    from gaussmix import GaussianMixture
    X = np.random.default_rng(0).normal(size=(200, 2))
    GaussianMixture(2, max_iter=20, tol=0, verbose=1, verbose_interval=10,
                    random_state=0).fit(X)
""")


@pytest.mark.parametrize("config", ["basicConfig", "none"])
def test_fresh_interpreter_prints_each_line_once(config):
    # the report of the issue, exactly: basicConfig(level=INFO) + verbose=1 printed every line
    # twice on stderr (once through logging, once directly)
    res = subprocess.run([sys.executable, "-c", _SCRIPT, config], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines() == ["Initialization 0", "  Iteration 10", "  Iteration 20",
                                       "Initialization did not converge."]
